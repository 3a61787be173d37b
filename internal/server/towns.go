package server

// Pages and documents per town: /t/{town}/ is the planner of a town,
// /t/{town}/kiosk its kiosk, and every other path under the prefix is the
// server's own path for that town (/t/deruta/tiles/density.json,
// /t/deruta/api/stats?...), so that a reverse proxy can route a town's
// requests by the prefix alone. /api/towns lists the towns of the fleet
// (those served here and those other server groups serve, Config.Fleet);
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

// siteKey holds, in a request's context, the site it is about (siteRef).
type siteKey struct{}

// siteRef is the request's site and whether the request named its town
// (a /t/{town} prefix or a town= parameter) rather than getting the
// server's first.
type siteRef struct {
	site     *Site
	named    bool
	prefixed bool // by a /t/{town} prefix
}

// townPrefix picks every request's site: /t/{town}/PATH is routed as PATH
// for the town (a Pre middleware, so that routing sees the path without
// the prefix); elsewhere a town= parameter names the town, and without
// one the request is about the first town served. /t/{town} redirects to
// /t/{town}/; a town that is not served is a 404 under /t/ and a 400 as a
// parameter, which say so when another server group of the fleet serves
// it (the reverse proxy sent the request to the wrong group, or a client
// came to this group directly).
func (s *Server) townPrefix(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		rest, prefixed := strings.CutPrefix(r.URL.Path, "/t/")
		town := r.URL.Query()["town"]
		ref := siteRef{site: s.sites[0]}
		switch {
		case prefixed:
			code, sub, slash := strings.Cut(rest, "/")
			st, served := s.siteByCode(code)
			if !served {
				if s.inFleet(code) {
					return failWith(http.StatusNotFound, "", "town "+strconv.Quote(code)+" is served by another server group")
				}
				return echo.NewHTTPError(http.StatusNotFound, "unknown town "+strconv.Quote(code)+" (the towns are "+strings.Join(s.townCodes(), ", ")+")")
			}
			if !slash {
				u := "/t/" + code + "/"
				if r.URL.RawQuery != "" {
					u += "?" + r.URL.RawQuery
				}
				return c.Redirect(http.StatusMovedPermanently, u)
			}
			if len(town) > 0 && (len(town) > 1 || town[0] != code) {
				return failWith(http.StatusBadRequest, "town", "town="+strings.Join(town, ",")+" under /t/"+code+"/: name one town, the prefix's")
			}
			// Echo routes the request it was given, whose URL this
			// changes in place (as its rewrite middleware does).
			r.URL.Path, r.URL.RawPath = "/"+sub, ""
			ref = siteRef{site: st, named: true, prefixed: true}
		case len(town) > 0:
			st, served := s.siteByCode(town[0])
			if len(town) == 1 && !served && s.inFleet(town[0]) {
				return failWith(http.StatusBadRequest, "town", "town "+strconv.Quote(town[0])+" is served by another server group")
			}
			if len(town) > 1 || !served {
				return failWith(http.StatusBadRequest, "town", "unknown town "+strconv.Quote(strings.Join(town, ","))+" (name one of "+strings.Join(s.townCodes(), ", ")+")")
			}
			ref = siteRef{site: st, named: true}
		}
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), siteKey{}, ref)))
		return next(c)
	}
}

// siteByCode returns the site of the served town with code.
func (s *Server) siteByCode(code string) (*Site, bool) {
	for _, st := range s.sites {
		if st.Town.Code == code {
			return st, true
		}
	}
	return nil, false
}

// fleetTown is a town of the fleet, with its site when this server
// serves it.
type fleetTown struct {
	town tiles.Town
	site *Site // nil: another server group serves the town
}

// fleetOf lists the towns of the fleet: fleet's, in its order, then the
// towns served that it does not name (all of them without fleet). A town
// served is described by its site.
func fleetOf(fleet []tiles.Town, sites []*Site) []fleetTown {
	out := make([]fleetTown, 0, len(fleet)+len(sites))
	listed := make(map[string]bool, len(fleet)+len(sites))
	for _, t := range fleet {
		if listed[t.Code] {
			continue
		}
		listed[t.Code] = true
		ft := fleetTown{town: t}
		for _, st := range sites {
			if st.Town.Code == t.Code {
				ft = fleetTown{town: st.Town, site: st}
			}
		}
		out = append(out, ft)
	}
	for _, st := range sites {
		if !listed[st.Town.Code] {
			listed[st.Town.Code] = true
			out = append(out, fleetTown{town: st.Town, site: st})
		}
	}
	return out
}

// inFleet reports whether code is a town of the fleet (served here or by
// another server group).
func (s *Server) inFleet(code string) bool {
	for _, ft := range s.fleet {
		if ft.town.Code == code {
			return true
		}
	}
	return false
}

// townCodes are the codes of the towns of the fleet.
func (s *Server) townCodes() []string {
	out := make([]string, len(s.fleet))
	for i, ft := range s.fleet {
		out[i] = ft.town.Code
	}
	return out
}

// site returns the site a request is about (townPrefix picked it): its
// prefix's or town= parameter's, else the first town served.
func (s *Server) site(c echo.Context) *Site {
	if ref, ok := c.Request().Context().Value(siteKey{}).(siteRef); ok {
		return ref.site
	}
	return s.sites[0]
}

// SiteOf returns the site of a request to a Server (nil when the request
// did not come through one): the APIs registered by Config.Routes answer
// for its town.
func SiteOf(c echo.Context) *Site {
	ref, _ := c.Request().Context().Value(siteKey{}).(siteRef)
	return ref.site
}

// namedTown is the code of the town a request named (its /t/{town}/
// prefix or town= parameter), if it named one.
func namedTown(c echo.Context) (string, bool) {
	ref, ok := c.Request().Context().Value(siteKey{}).(siteRef)
	if !ok || !ref.named {
		return "", false
	}
	return ref.site.Town.Code, true
}

// townPath is the /t/{town} prefix of a request that named its town ("" for
// the first town's unprefixed paths), for the URLs the server writes into
// documents (TileJSON, styles), so that a town's documents lead to its own
// prefix.
func townPath(c echo.Context) string {
	if ref, ok := c.Request().Context().Value(siteKey{}).(siteRef); ok && ref.named {
		return "/t/" + url.PathEscape(ref.site.Town.Code)
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
	// Served tells whether this server serves the town: false for a town
	// of the fleet that another server group serves, whose URLs lead to it
	// through the reverse proxy only (always true in /api/town).
	Served bool `json:"served"`
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

// townsDoc serves /api/towns, for the town picker: every town of the
// fleet, each telling whether this server serves it.
func (s *Server) townsDoc(c echo.Context) error {
	out := make([]TownDoc, len(s.fleet))
	for i, ft := range s.fleet {
		out[i] = s.townDoc(c, ft.town)
		out[i].Served = ft.site != nil
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, map[string]any{"towns": out}, cacheMetadata)
}

// townInfo serves /api/town (and /t/{town}/api/town): one town.
func (s *Server) townInfo(c echo.Context) error {
	t := s.site(c).Town
	if t.Code == "" {
		return echo.NewHTTPError(http.StatusNotFound, "no towns are served")
	}
	d := s.townDoc(c, t)
	d.Served = true
	s.varyForwarded(c)
	return writeJSONDoc(c, d, cacheMetadata)
}
