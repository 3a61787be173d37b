package server

// Pages and documents per town: /t/{town}/ is the planner of a town,
// /t/{town}/kiosk its kiosk, and every other path under the prefix is the
// server's own path for that town (/t/deruta/tiles/density.json,
// /t/deruta/api/stats?...), so that a reverse proxy can route a town's
// requests by the prefix alone. /api/towns lists the towns served;
// /api/town describes one (names, default view, kiosk settings).

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/tiles"
)

// townKey marks, in a request's context, the town of its /t/{town} prefix.
type townKey struct{}

// townPrefix routes /t/{town}/PATH as PATH for the town: a Pre middleware,
// so that routing sees the path without the prefix. /t/{town} redirects to
// /t/{town}/; a town that is not served is a 404.
func (s *Server) townPrefix(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		rest, ok := strings.CutPrefix(r.URL.Path, "/t/")
		if !ok {
			return next(c)
		}
		code, sub, slash := strings.Cut(rest, "/")
		t, served := s.townByCode(code)
		if !served {
			return echo.NewHTTPError(http.StatusNotFound, "unknown town "+strconv.Quote(code)+" (the towns are "+strings.Join(s.townCodes(), ", ")+")")
		}
		if !slash {
			u := "/t/" + code + "/"
			if r.URL.RawQuery != "" {
				u += "?" + r.URL.RawQuery
			}
			return c.Redirect(http.StatusMovedPermanently, u)
		}
		if v := r.URL.Query()["town"]; len(v) > 0 && (len(v) > 1 || v[0] != code) {
			return failWith(http.StatusBadRequest, "town", "town="+strings.Join(v, ",")+" under /t/"+code+"/: name one town, the prefix's")
		}
		// Echo routes the request it was given, whose URL this changes
		// in place (as its rewrite middleware does); the town goes into
		// the context of the request the handlers see.
		r.URL.Path, r.URL.RawPath = "/"+sub, ""
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), townKey{}, t.Code)))
		return next(c)
	}
}

// townByCode returns the served town with code.
func (s *Server) townByCode(code string) (tiles.Town, bool) {
	for _, t := range s.cfg.Towns {
		if t.Code == code {
			return t, true
		}
	}
	return tiles.Town{}, false
}

func (s *Server) townCodes() []string {
	out := make([]string, len(s.cfg.Towns))
	for i, t := range s.cfg.Towns {
		out[i] = t.Code
	}
	return out
}

// requestTown returns the town a request is about: its prefix's, else the
// one of its town= parameter, else the first town served. ok is false
// when no town is served, or town= names none of them.
func (s *Server) requestTown(c echo.Context) (tiles.Town, error) {
	if code, ok := c.Request().Context().Value(townKey{}).(string); ok {
		t, _ := s.townByCode(code)
		return t, nil
	}
	if v := c.QueryParam("town"); v != "" {
		t, ok := s.townByCode(v)
		if !ok {
			return t, failWith(http.StatusBadRequest, "town", "unknown town "+strconv.Quote(v)+" (the towns are "+strings.Join(s.townCodes(), ", ")+")")
		}
		return t, nil
	}
	if len(s.cfg.Towns) == 0 {
		return tiles.Town{}, echo.NewHTTPError(http.StatusNotFound, "no towns are served")
	}
	return s.cfg.Towns[0], nil
}

// townPath is the request's /t/{town} prefix ("" without one), for the
// URLs the server writes into documents (TileJSON, styles), so that a
// town's documents lead to its own prefix.
func townPath(c echo.Context) string {
	if code, ok := c.Request().Context().Value(townKey{}).(string); ok {
		return "/t/" + code
	}
	return ""
}

// TownDoc is a town as /api/towns and /api/town describe it.
type TownDoc struct {
	Code       string            `json:"code"`
	Name       string            `json:"name"`
	Names      map[string]string `json:"names,omitempty"`
	ISTAT      string            `json:"istat,omitempty"`
	Population int64             `json:"population,omitempty"`
	TimeZone   string            `json:"time_zone,omitempty"`
	// Center is [lon, lat] where the maps open; absent: the data's middle.
	Center []float64   `json:"center,omitempty"`
	Zoom   float64     `json:"zoom,omitempty"`
	Kiosk  tiles.Kiosk `json:"kiosk"`
	// URL is the town's planner, KioskURL its kiosk (absolute paths).
	URL      string `json:"url"`
	KioskURL string `json:"kiosk_url"`
}

func (s *Server) townDoc(c echo.Context, t tiles.Town) TownDoc {
	d := TownDoc{
		Code: t.Code, Name: t.Name, Names: t.Names, ISTAT: t.ISTAT, Population: t.Population,
		TimeZone: t.TimeZone, Zoom: t.Zoom, Kiosk: t.Kiosk,
	}
	if t.Center != ([2]float64{}) {
		d.Center = []float64{t.Center[0], t.Center[1]}
	}
	base := s.rootPath(c) + "/t/" + url.PathEscape(t.Code) + "/"
	d.URL, d.KioskURL = base, base+"kiosk"
	return d
}

// rootPath is the path of rootURL: a trusted proxy's X-Forwarded-Prefix.
func (s *Server) rootPath(c echo.Context) string {
	u, err := url.Parse(s.rootURL(c))
	if err != nil {
		return ""
	}
	return u.Path
}

// townsDoc serves /api/towns: the towns served, for the town picker.
func (s *Server) townsDoc(c echo.Context) error {
	out := make([]TownDoc, len(s.cfg.Towns))
	for i, t := range s.cfg.Towns {
		out[i] = s.townDoc(c, t)
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{"towns": out}, cacheMetadata)
}

// townInfo serves /api/town (and /t/{town}/api/town): one town.
func (s *Server) townInfo(c echo.Context) error {
	t, err := s.requestTown(c)
	if err != nil {
		return err
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, s.townDoc(c, t), cacheMetadata)
}
