package server

// OGC API – Tiles: the vector tilesets of a layer
// (/ogc/collections/{layer}/tiles), the one for WebMercatorQuad with its
// limits and layers (/ogc/collections/{layer}/tiles/WebMercatorQuad).

import (
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/tiles"
)

const (
	tmsWebMercatorQuad    = "WebMercatorQuad"
	tmsWebMercatorQuadURI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
	crs3857               = "http://www.opengis.net/def/crs/EPSG/0/3857"
)

// layerQuery is the filter query q ("" or "?…") for a layer: bins only on
// density.
func layerQuery(q, layer string) string {
	if layer == tiles.LayerDensity || !strings.Contains(q, "bins=") {
		return q
	}
	v, _ := url.ParseQuery(strings.TrimPrefix(q, "?"))
	v.Del("bins")
	return withQuery("", v.Encode())
}

// ogcLayerSpec reads the {layer} of a path.
func (s *Server) ogcLayerSpec(c echo.Context) (tiles.LayerSpec, error) {
	spec, ok := tiles.Layer(c.Param("layer"))
	if !ok {
		return spec, &tiles.LayerError{Name: c.Param("layer")}
	}
	c.Set(keyLayer, spec.Name)
	return spec, nil
}

// ogcTilesetLinks are the links of the WebMercatorQuad tileset of a layer.
func (s *Server) ogcTilesetLinks(c echo.Context, layer, base, q string) ([]ogcLink, error) {
	tq, err := s.parseQuery(c, layer)
	if err != nil {
		return nil, err
	}
	ts := base + "/collections/" + layer + "/tiles/" + tmsWebMercatorQuad
	return []ogcLink{
		{Href: ts + q, Rel: "self", Type: mediaJSON, Title: "tileset " + tmsWebMercatorQuad},
		{Href: ts + q, Rel: relTileset, Type: mediaJSON, Title: "tileset " + tmsWebMercatorQuad},
		{Href: base + "/tileMatrixSets/" + tmsWebMercatorQuad, Rel: relTilingScheme, Type: mediaJSON, Title: "the tile matrix set"},
		{Href: ts + "/{tileMatrix}/{tileRow}/{tileCol}?" + versioned(tq.canon, s.cfg.Version()), Rel: "item", Type: ContentTypeMVT, Templated: true, Title: "tiles (Mapbox Vector Tiles)"},
	}, nil
}

// ogcTilesets serves GET /ogc/collections/{layer}/tiles.
func (s *Server) ogcTilesets(c echo.Context) error {
	spec, err := s.ogcLayerSpec(c)
	if err != nil {
		return err
	}
	base, q, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	q = layerQuery(q, spec.Name)
	links, err := s.ogcTilesetLinks(c, spec.Name, base, q)
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{
		"tilesets": []map[string]any{{
			"title": spec.Title, "dataType": "vector", "crs": crs3857,
			"tileMatrixSetURI":        tmsWebMercatorQuadURI,
			"tileMatrixSetDefinition": base + "/tileMatrixSets/" + tmsWebMercatorQuad,
			"links":                   links,
		}},
		"links": []ogcLink{{Href: base + "/collections/" + spec.Name + "/tiles" + q, Rel: "self", Type: mediaJSON}},
	}, cacheMetadata)
}

// ogcTileset serves GET /ogc/collections/{layer}/tiles/WebMercatorQuad:
// the tileset's limits per zoom (the tiles over the layer's bounds), its
// vector layers and the tile template.
func (s *Server) ogcTileset(c echo.Context) error {
	spec, err := s.ogcLayerSpec(c)
	if err != nil {
		return err
	}
	if c.Param("tms") != tmsWebMercatorQuad {
		return echo.NewHTTPError(404, "unknown tile matrix set (want "+tmsWebMercatorQuad+")")
	}
	base, q, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	q = layerQuery(q, spec.Name)
	tq, err := s.parseQuery(c, spec.Name)
	if err != nil {
		return err
	}
	b, ok, err := s.layerBounds(c.Request().Context(), s.site(c), spec.Name, tq.filter)
	if err != nil {
		return err
	}
	if !ok {
		b = orb.Bound{Min: orb.Point{worldBounds[0], worldBounds[1]}, Max: orb.Point{worldBounds[2], worldBounds[3]}}
	}
	var limits []map[string]any
	for z := spec.MinZoom; z <= spec.MaxZoom; z++ {
		a, d := tiles.TileAt(uint8(z), tiles.Project(b.Min[0], b.Max[1])), tiles.TileAt(uint8(z), tiles.Project(b.Max[0], b.Min[1]))
		limits = append(limits, map[string]any{"tileMatrix": itoa(z), "minTileRow": a.Y, "maxTileRow": d.Y, "minTileCol": a.X, "maxTileCol": d.X})
	}
	var layers []map[string]any
	for _, vl := range spec.Vector {
		props := map[string]any{}
		for f, typ := range vl.Fields {
			props[f] = map[string]any{"type": map[string]string{tiles.TypeNumber: "number", tiles.TypeString: "string", tiles.TypeBoolean: "boolean"}[typ], "description": vl.FieldDescriptions[f]}
		}
		layers = append(layers, map[string]any{
			"id": vl.ID, "description": vl.Description, "dataType": "vector",
			"geometryDimension": geometryDimension(vl.ID),
			"minTileMatrix":     itoa(max(vl.MinZoom, spec.MinZoom)), "maxTileMatrix": itoa(vl.MaxZoom),
			"propertiesSchema": map[string]any{"type": "object", "properties": props},
		})
	}
	links, err := s.ogcTilesetLinks(c, spec.Name, base, q)
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{
		"title": spec.Title, "description": spec.Description, "dataType": "vector", "crs": crs3857,
		"tileMatrixSetURI":        tmsWebMercatorQuadURI,
		"tileMatrixSetDefinition": base + "/tileMatrixSets/" + tmsWebMercatorQuad,
		"tileMatrixSetLimits":     limits,
		"boundingBox":             map[string]any{"lowerLeft": [2]float64{b.Min[0], b.Min[1]}, "upperRight": [2]float64{b.Max[0], b.Max[1]}, "crs": crs84},
		"layers":                  layers,
		"links":                   links,
	}, cacheMetadata)
}

// geometryDimension of an MVT layer: 0 points, 1 lines, 2 polygons.
func geometryDimension(id string) int {
	switch id {
	case tiles.LayerDensityPoints:
		return 0
	case tiles.LayerFlows:
		return 1
	}
	return 2
}
