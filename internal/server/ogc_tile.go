package server

// OGC API – Tiles: GET /ogc/collections/{layer}/tiles/WebMercatorQuad/
// {tileMatrix}/{tileRow}/{tileCol}: the tile of /tiles/{layer}/{z}/{x}/{y}
// (row is y, column x), with the filters as query parameters.

import (
	"github.com/labstack/echo/v4"
)

func (s *Server) ogcTile(c echo.Context) error {
	if c.Param("tms") != tmsWebMercatorQuad {
		return echo.NewHTTPError(404, "unknown tile matrix set (want "+tmsWebMercatorQuad+")")
	}
	return s.serveTile(c, c.Param("layer"), c.Param("z"), c.Param("x"), c.Param("y"))
}
