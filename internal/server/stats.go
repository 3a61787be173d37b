package server

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

// StatsAPI serves GET /api/stats (docs/API.md). Bad parameters come back
// as *tiles.FilterError, which the central error handler turns into a 400
// naming the parameter.
type StatsAPI struct {
	Stats    *stats.Service
	Loc      *time.Location
	Resolver tiles.Resolver
}

// Register adds the route.
func (a *StatsAPI) Register(e *echo.Echo) {
	e.GET("/api/stats", a.handle)
}

func (a *StatsAPI) handle(c echo.Context) error {
	q := c.QueryParams()
	csv, err := wantsCSV(q.Get("format"), c.Request().Header.Get(echo.HeaderAccept))
	if err != nil {
		return err
	}
	req, err := stats.ParseRequest(q, a.Loc, a.Resolver)
	if err != nil {
		return err
	}
	rep, err := a.Stats.Report(c.Request().Context(), req)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-cache") // figures change with the data: revalidate
	if !csv {
		return c.JSON(http.StatusOK, rep)
	}
	name := "flowtiles-stats-" + string(rep.Area.Kind)
	if rep.Area.Code != "" {
		name += "-" + rep.Area.Code
	}
	if rep.By != "" {
		name += "-by-" + rep.By
	}
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": name + ".csv"}))
	c.Response().WriteHeader(http.StatusOK)
	return rep.WriteCSV(c.Response())
}

// wantsCSV reads format= (json or csv) and, without it, the Accept header:
// CSV when text/csv is acceptable and JSON is not preferred over it.
func wantsCSV(format, accept string) (bool, error) {
	switch strings.ToLower(format) {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, &tiles.FilterError{Param: "format", Value: format, Reason: "unknown format (want json or csv)"}
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return false, nil // listed first: preferred
		case "text/csv":
			return true, nil
		}
	}
	return false, nil
}
