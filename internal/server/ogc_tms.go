package server

// OGC API – Tiles: the tile matrix set flowtiles' tiles use,
// WebMercatorQuad (OGC 17-083r4, TileMatrixSet 2.0 JSON), at
// /ogc/tileMatrixSets and /ogc/tileMatrixSets/WebMercatorQuad.

import (
	"math"
	"strconv"

	"github.com/labstack/echo/v4"
)

func itoa(i int) string { return strconv.Itoa(i) }

// webMercatorQuad is the definition of WebMercatorQuad, zooms 0 to 24,
// in the JSON of TileMatrixSet 2.0 and, beside it, of 1.0 (the members
// "identifier", "supportedCRS", "tileMatrix"), which GDAL 3.6 reads.
func webMercatorQuad() map[string]any {
	const origin = 20037508.3427892
	var matrices, matrices1 []map[string]any
	for z := 0; z <= 24; z++ {
		cell := 2 * origin / 256 / math.Exp2(float64(z))
		n := 1 << z
		matrices = append(matrices, map[string]any{
			"id": itoa(z), "scaleDenominator": cell / 0.00028, "cellSize": cell,
			"cornerOfOrigin": "topLeft", "pointOfOrigin": [2]float64{-origin, origin},
			"tileWidth": 256, "tileHeight": 256, "matrixWidth": n, "matrixHeight": n,
		})
		matrices1 = append(matrices1, map[string]any{
			"type": "TileMatrixType", "identifier": itoa(z), "scaleDenominator": cell / 0.00028,
			"topLeftCorner": [2]float64{-origin, origin},
			"tileWidth":     256, "tileHeight": 256, "matrixWidth": n, "matrixHeight": n,
		})
	}
	return map[string]any{
		"id": tmsWebMercatorQuad, "title": "Google Maps Compatible for the World",
		"uri": tmsWebMercatorQuadURI, "crs": crs3857, "orderedAxes": []string{"X", "Y"},
		"wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
		"tileMatrices":      matrices,
		// TileMatrixSet 1.0
		"type": "TileMatrixSetType", "identifier": tmsWebMercatorQuad, "supportedCRS": crs3857,
		"boundingBox": map[string]any{"type": "BoundingBoxType", "crs": crs3857,
			"lowerCorner": [2]float64{-origin, -origin}, "upperCorner": [2]float64{origin, origin}},
		"tileMatrix": matrices1,
	}
}

// ogcTileMatrixSets serves GET /ogc/tileMatrixSets.
func (s *Server) ogcTileMatrixSets(c echo.Context) error {
	base, _, err := s.ogcBase(c)
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{"tileMatrixSets": []map[string]any{{
		"id": tmsWebMercatorQuad, "title": "Google Maps Compatible for the World", "uri": tmsWebMercatorQuadURI, "crs": crs3857,
		"links": []ogcLink{{Href: base + "/tileMatrixSets/" + tmsWebMercatorQuad, Rel: relTilingScheme, Type: mediaJSON}},
	}}}, cacheMetadata)
}

// ogcTileMatrixSet serves GET /ogc/tileMatrixSets/WebMercatorQuad.
func (s *Server) ogcTileMatrixSet(c echo.Context) error {
	if c.Param("tms") != tmsWebMercatorQuad {
		return echo.NewHTTPError(404, "unknown tile matrix set (want "+tmsWebMercatorQuad+")")
	}
	return writeJSONDoc(c, webMercatorQuad(), cacheMetadata)
}
