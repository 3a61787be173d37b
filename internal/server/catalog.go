package server

// The tile catalog: GET /tiles.

import (
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/tiles"
)

// catalogLayer is one layer of the /tiles catalog.
type catalogLayer struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	MinZoom     int    `json:"minzoom"`
	MaxZoom     int    `json:"maxzoom"`
	TileJSON    string `json:"tilejson"`
	Tiles       string `json:"tiles"`
}

type catalogStyle struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

type catalogDoc struct {
	Layers      []catalogLayer `json:"layers"`
	Styles      []catalogStyle `json:"styles"`
	Filters     []string       `json:"filters"`
	Basemap     string         `json:"basemap,omitempty"`
	DataVersion uint64         `json:"data_version"`
}

// catalog serves GET /tiles: the layers with their TileJSON and tile URLs
// (carrying the request's filter, if any) and the styles.
func (s *Server) catalog(c echo.Context) error {
	tq, err := s.parseQuery(c, "")
	if err != nil {
		return err
	}
	base := s.baseURL(c)
	doc := catalogDoc{Filters: append(append([]string{}, tiles.FilterParams...), "bins"), Basemap: s.cfg.BasemapURL, DataVersion: s.cfg.Version()}
	for _, l := range tiles.Layers {
		q := tq.canon
		if l.Name != tiles.LayerDensity {
			v, _ := url.ParseQuery(q)
			v.Del("bins")
			q = v.Encode()
		}
		doc.Layers = append(doc.Layers, catalogLayer{
			Name: l.Name, Title: l.Title, Description: l.Description, MinZoom: l.MinZoom, MaxZoom: l.MaxZoom,
			TileJSON: withQuery(base+"/tiles/"+l.Name+".json", q),
			Tiles:    base + "/tiles/" + l.Name + "/{z}/{x}/{y}.mvt?" + versioned(q, doc.DataVersion),
		})
	}
	bm := catalogLayer{Name: layerBasemap, Title: tiles.ContextSpec.Title, Description: tiles.ContextSpec.Description,
		MinZoom: tiles.ContextSpec.MinZoom, MaxZoom: tiles.ContextSpec.MaxZoom,
		TileJSON: base + "/tiles/basemap.json", Tiles: base + "/tiles/basemap/{z}/{x}/{y}.mvt"}
	if a := s.cfg.Basemap; a != nil {
		m := a.Metadata()
		bm.Title, bm.Description, bm.MinZoom, bm.MaxZoom = firstNonEmpty(m.Name, "Basemap"), m.Description, m.MinZoom, m.MaxZoom
	}
	doc.Layers = append(doc.Layers, bm)
	for _, n := range allStyleNames() {
		doc.Styles = append(doc.Styles, catalogStyle{Name: n, URL: withQuery(base+"/styles/"+n+".json", tq.canon)})
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, doc, cacheMetadata)
}
