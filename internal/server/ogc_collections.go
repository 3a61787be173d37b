package server

// OGC API – Tiles: /ogc/collections and /ogc/collections/{layer}, one
// collection per tile layer, with the extent of its data (the layer's
// TileJSON bounds) and a link to its vector tilesets.

import (
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/tiles"
)

const crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

// ogcCollectionDoc describes one layer.
func (s *Server) ogcCollectionDoc(c echo.Context, spec tiles.LayerSpec, base, q string) (map[string]any, error) {
	tq, err := s.parseQuery(c, spec.Name)
	if err != nil {
		return nil, err
	}
	b, ok, err := s.layerBounds(c.Request().Context(), s.site(c), spec.Name, tq.filter)
	if err != nil {
		return nil, err
	}
	if !ok {
		b = orb.Bound{Min: orb.Point{worldBounds[0], worldBounds[1]}, Max: orb.Point{worldBounds[2], worldBounds[3]}}
	}
	self := base + "/collections/" + spec.Name
	return map[string]any{
		"id":          spec.Name,
		"title":       spec.Title,
		"description": spec.Description,
		"dataType":    "vector",
		// layerDataType and vectorType: the names of the drafts GDAL 3.6 reads
		"layerDataType": "Vector",
		"extent": map[string]any{
			"spatial": map[string]any{"bbox": [][4]float64{{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}}, "crs": crs84},
		},
		"crs": []string{crs84, "http://www.opengis.net/def/crs/EPSG/0/3857"},
		"links": []ogcLink{
			{Href: self + q, Rel: "self", Type: mediaJSON, Title: spec.Title},
			{Href: self + "/tiles" + q, Rel: relTilesets, Type: mediaJSON, Title: "vector tilesets"},
			{Href: self + "/tiles" + q, Rel: "http://www.opengis.net/def/rel/ogc/1.0/tilesets", Type: mediaJSON, Title: "vector tilesets"},
			{Href: s.baseURL(c) + "/tiles/" + spec.Name + ".json" + q, Rel: "alternate", Type: mediaJSON, Title: "TileJSON"},
		},
	}, nil
}

// ogcCollections serves GET /ogc/collections.
func (s *Server) ogcCollections(c echo.Context) error {
	base, q, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	var cols []map[string]any
	for _, spec := range tiles.Layers {
		d, err := s.ogcCollectionDoc(c, spec, base, layerQuery(q, spec.Name))
		if err != nil {
			return err
		}
		cols = append(cols, d)
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{
		"collections": cols,
		"links":       []ogcLink{{Href: base + "/collections" + q, Rel: "self", Type: mediaJSON}},
	}, cacheMetadata)
}

// ogcCollection serves GET /ogc/collections/{layer}.
func (s *Server) ogcCollection(c echo.Context) error {
	spec, ok := tiles.Layer(c.Param("layer"))
	if !ok {
		return &tiles.LayerError{Name: c.Param("layer")}
	}
	c.Set(keyLayer, spec.Name)
	base, q, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	d, err := s.ogcCollectionDoc(c, spec, base, layerQuery(q, spec.Name))
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, d, cacheMetadata)
}
