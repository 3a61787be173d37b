package server

// TileJSON 3.0.0 documents: /tiles/{layer}.json and
// /tiles/{layer}/metadata.json.

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/tiles"
)

// Attribution of every tile layer (TileJSON): the reference areas' sources.
const Attribution = `<a href="https://www.istat.it/">ISTAT</a> boundaries (CC BY 4.0); ` +
	`<a href="https://www.naturalearthdata.com/">Natural Earth</a> countries; presence aggregated by flowtiles`

// AttributionIT is Attribution in Italian, for the pages in Italian.
const AttributionIT = `Confini <a href="https://www.istat.it/">ISTAT</a> (CC BY 4.0); ` +
	`paesi <a href="https://www.naturalearthdata.com/">Natural Earth</a>; presenze aggregate da flowtiles`

// TileJSON is a TileJSON 3.0.0 document.
type TileJSON struct {
	TileJSON     string              `json:"tilejson"`
	Name         string              `json:"name"`
	Description  string              `json:"description"`
	Version      string              `json:"version"`
	Attribution  string              `json:"attribution"`
	Scheme       string              `json:"scheme"`
	Tiles        []string            `json:"tiles"`
	MinZoom      int                 `json:"minzoom"`
	MaxZoom      int                 `json:"maxzoom"`
	Bounds       [4]float64          `json:"bounds"`
	Center       [3]float64          `json:"center"`
	VectorLayers []tiles.VectorLayer `json:"vector_layers"`
	// DataVersion is flowtiles' data version when the document was made.
	DataVersion uint64 `json:"data_version"`
	// Filter is the canonical filter the tile URLs carry.
	Filter map[string]string `json:"filter"`
	// JSON repeats vector_layers as the MBTiles metadata "json" string,
	// which GDAL's MVT driver (and so QGIS's OGR path) reads.
	JSON string `json:"json"`
}

var worldBounds = [4]float64{-180, -85.051129, 180, 85.051129}

// tileJSON serves GET /tiles/{layer}.json.
func (s *Server) tileJSON(c echo.Context) error {
	name, ext := splitExt(c.Param("file"))
	if ext != ".json" {
		return echo.ErrNotFound
	}
	return s.writeTileJSON(c, name)
}

// tilesetMetadata serves GET /tiles/{layer}/metadata.json: the TileJSON
// where a tileset directory keeps its metadata, so that GDAL opens
// MVT:/vsicurl/http://HOST/tiles/{layer}/{z} as one zoom level of a tileset.
func (s *Server) tilesetMetadata(c echo.Context) error {
	if c.Param("file") != "metadata.json" {
		return echo.ErrNotFound
	}
	return s.writeTileJSON(c, c.Param("layer"))
}

func (s *Server) writeTileJSON(c echo.Context, name string) error {
	doc, err := s.tileJSONDoc(c, name)
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, doc, cacheMetadata)
}

// tileJSONDoc is the TileJSON of a layer for a request (its base URL and
// filter). Its tile template names the data version (v=N): those URLs are
// immutable, so a shared cache never serves a tile of older data under it.
func (s *Server) tileJSONDoc(c echo.Context, name string) (*TileJSON, error) {
	spec, ok := tiles.Layer(name)
	if !ok {
		return nil, &tiles.LayerError{Name: name}
	}
	c.Set(keyLayer, name)
	tq, err := s.parseQuery(c, name)
	if err != nil {
		return nil, err
	}
	version := s.cfg.Version()
	base := s.baseURL(c)
	doc := &TileJSON{
		TileJSON: "3.0.0", Name: "flowtiles " + spec.Title, Description: spec.Description,
		Version: "1.0.0", Attribution: Attribution, Scheme: "xyz",
		Tiles:        []string{base + "/tiles/" + name + "/{z}/{x}/{y}.mvt?" + versioned(tq.canon, version)},
		MinZoom:      spec.MinZoom,
		MaxZoom:      spec.MaxZoom,
		Bounds:       worldBounds,
		VectorLayers: spec.Vector,
		DataVersion:  version,
		Filter:       map[string]string{},
	}
	if v, err := url.ParseQuery(tq.canon); err == nil {
		for k := range v {
			doc.Filter[k] = v.Get(k)
		}
	}
	if vl, err := json.Marshal(map[string]any{"vector_layers": spec.Vector}); err == nil {
		doc.JSON = string(vl)
	}
	zoom := map[string]float64{tiles.LayerDensity: 14, tiles.LayerZones: 14, tiles.LayerOrigins: 6, tiles.LayerFlows: 8}[name]
	st := s.site(c)
	lb, ok, err := s.layerBounds(c.Request().Context(), st, name, tq.filter)
	if err != nil {
		return nil, err
	}
	if ok {
		doc.Bounds = [4]float64{lb.Min[0], lb.Min[1], lb.Max[0], lb.Max[1]}
	}
	if b, ok := st.bounds(); ok {
		// within the layer's bounds, as TileJSON wants: the town's centre
		// (configured, or the middle of the data) can lie outside its
		// zones or its published origins
		ctr := st.center(b)
		doc.Center = [3]float64{min(max(ctr[0], doc.Bounds[0]), doc.Bounds[2]), min(max(ctr[1], doc.Bounds[1]), doc.Bounds[3]), zoom}
	} else {
		doc.Center = [3]float64{0, 0, float64(spec.MinZoom)}
	}
	return doc, nil
}

// versioned adds v=N, the data version, to a canonical query.
func versioned(canon string, version uint64) string {
	v := "v=" + strconv.FormatUint(version, 10)
	if canon == "" {
		return v
	}
	return canon + "&" + v
}

// layerBounds is where a layer's tiles hold features for a filter:
// density, the data extent (tiles.Engine.Extent: zoom-12 tiles of at least
// k people); zones, the zones; origins, the published origin areas; flows,
// the ends of the published flows. ok is false when the layer shows
// nothing that could bound it: then the data extent stands in, as it does
// for origins and flows when every slot of the heavy pool is taken.
func (s *Server) layerBounds(ctx context.Context, st *Site, layer string, f tiles.Filter) (orb.Bound, bool, error) {
	var (
		r   tiles.Rect
		ok  bool
		err error
	)
	if e := st.Engine; e != nil {
		switch layer {
		case tiles.LayerZones:
			r, ok = e.Places().LevelBounds(tiles.LevelZone)
		case tiles.LayerOrigins, tiles.LayerFlows:
			// An aggregate of the filter: heavy work. Documents never wait
			// for the heavy pool: without a free slot the data extent, a
			// looser bound, stands in.
			release, free := s.cfg.Heavy.TryAcquire()
			if !free {
				break
			}
			defer release()
			bctx, cancel := context.WithTimeout(ctx, s.cfg.TileTimeout)
			defer cancel()
			if layer == tiles.LayerOrigins {
				r, ok, err = e.OriginBounds(bctx, f)
			} else {
				r, ok, err = e.FlowBounds(bctx, f)
			}
		}
	}
	if err != nil {
		return orb.Bound{}, false, err
	}
	if ok {
		w, so, ea, n := r.LonLatBounds()
		return orb.Bound{Min: orb.Point{w, so}, Max: orb.Point{ea, n}}, true, nil
	}
	b, ok := st.bounds()
	return b, ok, nil
}

// writeJSONDoc answers with a JSON document (writeDoc: ETag, 304,
// encoding, Content-Length).
func writeJSONDoc(c echo.Context, doc any, cacheControl string) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return writeDoc(c, echo.MIMEApplicationJSON, b, cacheControl)
}

// center is where maps open: the configured point, else the middle of b.
func (st *Site) center(b orb.Bound) orb.Point {
	if st.Center != (orb.Point{}) {
		return st.Center
	}
	return b.Center()
}

// bounds is the data extent (tiles.Engine.Extent through Config.Bounds:
// zoom-12 tiles holding at least k people), padded a little.
func (st *Site) bounds() (orb.Bound, bool) {
	if st.Bounds == nil {
		return orb.Bound{}, false
	}
	ob, ok := st.Bounds()
	if !ok || ob.Min[0] > ob.Max[0] || ob.Min[1] > ob.Max[1] {
		return orb.Bound{}, false
	}
	const pad = 0.005
	ob.Min[0], ob.Min[1] = max(ob.Min[0]-pad, -180), max(ob.Min[1]-pad, -85.051129)
	ob.Max[0], ob.Max[1] = min(ob.Max[0]+pad, 180), min(ob.Max[1]+pad, 85.051129)
	return ob, true
}
