package server

// OGC API – Tiles under /ogc: the landing page and the conformance
// classes. Every document is JSON; links are absolute, built from the
// request's base URL (trusted forwarded headers included) and carry the
// request's filter, so that a GIS client opening
// /ogc/collections/density?gender=f reads filtered tiles throughout.

import (
	"github.com/labstack/echo/v4"
)

// ogcLink is a link of an OGC API document.
type ogcLink struct {
	Href      string `json:"href"`
	Rel       string `json:"rel"`
	Type      string `json:"type,omitempty"`
	Title     string `json:"title,omitempty"`
	Templated bool   `json:"templated,omitempty"`
}

// Link relations of OGC API – Tiles.
const (
	relConformance   = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
	relData          = "http://www.opengis.net/def/rel/ogc/1.0/data"
	relTilingSchemes = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
	relTilingScheme  = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
	relTilesets      = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
	relTileset       = "http://www.opengis.net/def/rel/ogc/1.0/tileset"
	mediaJSON        = "application/json"
)

// ogcConformance lists the conformance classes flowtiles implements.
var ogcConformance = []string{
	"http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
	"http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
	"http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
	"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
	"http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
	"http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
}

func (s *Server) ogcRoutes(e *echo.Echo) {
	e.GET("/ogc", s.ogcLanding)
	e.GET("/ogc/", s.ogcLanding)
	e.GET("/ogc/conformance", s.ogcConformance)
	e.GET("/ogc/collections", s.ogcCollections)
	e.GET("/ogc/collections/:layer", s.ogcCollection)
	e.GET("/ogc/collections/:layer/tiles", s.ogcTilesets)
	e.GET("/ogc/collections/:layer/tiles/:tms", s.ogcTileset)
	e.GET("/ogc/collections/:layer/tiles/:tms/:z/:y/:x", s.ogcTile)
	e.GET("/ogc/tileMatrixSets", s.ogcTileMatrixSets)
	e.GET("/ogc/tileMatrixSets/:tms", s.ogcTileMatrixSet)
}

// ogcBase is the base URL of the OGC API and the filter query of the
// request ("" or "?…"), which every link carries.
func (s *Server) ogcBase(c echo.Context) (base, query string, err error) {
	tq, err := s.parseQuery(c, "")
	if err != nil {
		return "", "", err
	}
	return s.baseURL(c) + "/ogc", withQuery("", tq.canon), nil
}

// ogcLanding serves GET /ogc: what the API offers.
func (s *Server) ogcLanding(c echo.Context) error {
	base, q, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	doc := map[string]any{
		"title":       "flowtiles",
		"description": "People-flow tiles of a town centre (OGC API – Tiles): density bins, origins, flows and zones, every figure about at least k people. Filters (from, to, hours, days, age, gender, nationality, origin, spend, zone) go as query parameters.",
		"links": []ogcLink{
			{Href: base + q, Rel: "self", Type: mediaJSON, Title: "this document"},
			{Href: base + "/conformance" + q, Rel: relConformance, Type: mediaJSON, Title: "conformance classes"},
			{Href: base + "/conformance" + q, Rel: "conformance", Type: mediaJSON, Title: "conformance classes"},
			{Href: base + "/collections" + q, Rel: relData, Type: mediaJSON, Title: "the layers"},
			{Href: base + "/collections" + q, Rel: "data", Type: mediaJSON, Title: "the layers"},
			{Href: base + "/tileMatrixSets" + q, Rel: relTilingSchemes, Type: mediaJSON, Title: "tile matrix sets"},
		},
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, doc, cacheMetadata)
}

// ogcConformance serves GET /ogc/conformance.
func (s *Server) ogcConformance(c echo.Context) error {
	return writeJSONDoc(c, map[string]any{"conformsTo": ogcConformance}, cacheMetadata)
}
