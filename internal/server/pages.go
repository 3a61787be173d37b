package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/styles"
	"github.com/flowtiles/flowtiles/tiles"
)

// pages registers the front end: / and /kiosk, and /static/* from Static.
func (s *Server) pages(e *echo.Echo) {
	page := func(name string) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.cfg.Static == nil {
				return echo.ErrNotFound
			}
			if _, err := fs.Stat(s.cfg.Static, name); err != nil {
				return echo.ErrNotFound
			}
			c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
			http.ServeFileFS(c.Response(), c.Request(), s.cfg.Static, name)
			return nil
		}
	}
	planner, picker := page("index.html"), page("towns.html")
	e.GET("/", func(c echo.Context) error {
		ref, _ := c.Request().Context().Value(siteKey{}).(siteRef)
		switch {
		case ref.prefixed || len(s.fleet) == 1 && !ref.named:
			// a server of the only town of its fleet
			return planner(c)
		case ref.named:
			// /?town=x is the town's planner, at its own prefix
			q := c.QueryParams()
			q.Del("town")
			return c.Redirect(http.StatusFound, withQuery(s.rootPath(c)+"/t/"+url.PathEscape(ref.site.Town.Code)+"/", q.Encode()))
		}
		return picker(c) // a fleet of several towns, whichever this server serves
	})
	e.GET("/kiosk", page("kiosk.html"))
	e.GET("/static/*", func(c echo.Context) error {
		if s.cfg.Static == nil {
			return echo.ErrNotFound
		}
		name := c.Param("*")
		if name == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) {
			return echo.ErrNotFound
		}
		if st, err := fs.Stat(s.cfg.Static, name); err != nil || st.IsDir() {
			return echo.ErrNotFound
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
		http.ServeFileFS(c.Response(), c.Request(), s.cfg.Static, name)
		return nil
	})
}

// healthz: the process is up.
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyError is why the server is not ready: Reason is the short reason
// /readyz gives anybody ("database unreachable"); Err holds the details
// (hosts, users, driver messages), which go to the log only.
type ReadyError struct {
	Reason string
	Err    error
}

func (e *ReadyError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *ReadyError) Unwrap() error { return e.Err }

// readyz: the server can answer (Config.Ready within ReadyTimeout). The
// body names a short reason; the details are logged.
func (s *Server) readyz(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			reason := "not ready"
			var re *ReadyError
			switch {
			case errors.As(err, &re):
				reason = re.Reason
			case ctx.Err() != nil:
				reason = "readiness check timed out"
			}
			s.log.Warn("not ready", "reason", reason, "err", err)
			return failWith(http.StatusServiceUnavailable, "", reason)
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// styleNames lists the embedded styles.
func styleNames() []string {
	files, _ := fs.Glob(styles.FS, "*.json")
	out := make([]string, 0, len(files))
	for _, f := range files {
		if f == "basemap.json" || f == "classes.json" {
			continue // served by basemapStyle: it depends on the basemap configured
		}
		out = append(out, strings.TrimSuffix(f, ".json"))
	}
	sort.Strings(out)
	return out
}

// allStyleNames lists every style served at /styles/{name}.json but the
// basemap's: the embedded ones and one per tile layer.
func allStyleNames() []string {
	return append(styleNames(), tiles.LayerNames()...)
}

// style serves GET /styles/{name}.json: the embedded MapLibre style with
// its sources pointing at this server's TileJSON (carrying the request's
// filter), centred on the data, and naming the configured basemap.
func (s *Server) style(c echo.Context) error {
	name, ext := splitExt(c.Param("file"))
	if ext != ".json" || !fs.ValidPath(name+ext) {
		return echo.ErrNotFound
	}
	raw, err := fs.ReadFile(styles.FS, name+ext)
	if err != nil {
		var ok bool
		if raw, ok = layerStyle(name); !ok {
			return echo.NewHTTPError(http.StatusNotFound, "unknown style "+strconv.Quote(name)+" (want one of "+strings.Join(allStyleNames(), ", ")+")")
		}
	}
	tq, err := s.parseQuery(c, "")
	if err != nil {
		return err
	}
	st := s.site(c)
	base, _ := json.Marshal(s.baseURL(c))
	raw = []byte(strings.ReplaceAll(string(raw), styles.Placeholder, strings.Trim(string(base), `"`)))
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err // a broken embedded style: logged, 500
	}
	if srcs, ok := doc["sources"].(map[string]any); ok {
		for id, v := range srcs {
			src, ok := v.(map[string]any)
			u, isStr := src["url"].(string)
			if !ok || !isStr {
				continue
			}
			q := tq.canon
			if id != tiles.LayerDensity && strings.Contains(q, "bins=") {
				// only the density layer has bins
				vs, _ := url.ParseQuery(q)
				vs.Del("bins")
				q = vs.Encode()
			}
			src["url"] = withQuery(u, q)
			if spec, ok := tiles.Layer(id); ok && spec.PromoteID != "" {
				// hover and selection (feature state) by a stable id
				src["promoteId"] = spec.PromoteID
			}
		}
	}
	if err := applyClasses(doc); err != nil {
		return err
	}
	if b, ok := st.bounds(); ok {
		ctr := st.center(b)
		doc["center"] = []float64{ctr[0], ctr[1]}
	}
	if s.cfg.BasemapURL != "" {
		md, _ := doc["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
		}
		md["flowtiles:basemap"] = s.cfg.BasemapURL
		doc["metadata"] = md
	}
	s.varyForwarded(c)
	return writeJSONDoc(c, doc, cacheMetadata)
}

// applyClasses colours the layers whose metadata names a colour class
// ("flowtiles:classes") from styles/classes.json, the definition the pages
// draw with: a style and a page never disagree on what a colour means.
func applyClasses(doc map[string]any) error {
	layers, _ := doc["layers"].([]any)
	var classes styles.Classes
	for _, l := range layers {
		layer, _ := l.(map[string]any)
		md, _ := layer["metadata"].(map[string]any)
		name, _ := md["flowtiles:classes"].(string)
		if name == "" {
			continue
		}
		if classes.Classes == nil {
			var err error
			if classes, err = styles.LoadClasses(); err != nil {
				return err
			}
		}
		cl, ok := classes.Classes[name]
		if !ok {
			return fmt.Errorf("style layer %v: unknown colour class %q", layer["id"], name)
		}
		paint, _ := layer["paint"].(map[string]any)
		if paint == nil {
			paint = map[string]any{}
			layer["paint"] = paint
		}
		prop := map[string]string{"fill": "fill-color", "line": "line-color", "circle": "circle-color"}[fmt.Sprint(layer["type"])]
		if prop == "" {
			return fmt.Errorf("style layer %v: a colour class on a %v layer", layer["id"], layer["type"])
		}
		paint[prop] = cl.Step()
	}
	return nil
}

// classesDoc serves /styles/classes.json: the colour classes of the maps.
func (s *Server) classesDoc(c echo.Context) error {
	return writeDoc(c, echo.MIMEApplicationJSON, styles.ClassesJSON(), cacheMetadata)
}
