package server

// The tile handler: GET /tiles/{layer}/{z}/{x}/{y}.mvt, its query, its
// caching headers and its answers (204, 304, gzip or plain).

import (
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/tiles"
)

// ContentTypeMVT is the media type of vector tiles.
const ContentTypeMVT = "application/vnd.mapbox-vector-tile"

// Cache-Control of tiles: a window that ended in the past no longer
// changes (new data for it is rare, and the data version in the ETag tells
// revalidating clients); an open or current window changes with live data.
const (
	cacheClosedWindow = "public, max-age=86400"
	cacheOpenWindow   = "public, max-age=30"
	cacheMetadata     = "public, max-age=60"
)

// tileQuery is a parsed tile request filter with its canonical form.
type tileQuery struct {
	filter tiles.Filter
	shape  tiles.Shape
	canon  string // canonical query string ("" without filters)
}

// parseQuery reads the filter parameters and bins= (density bin shape).
// Unknown parameters are ignored, so clients may add cache busters.
func (s *Server) parseQuery(c echo.Context, layer string) (tileQuery, error) {
	q := c.QueryParams()
	f, err := tiles.ParseFilter(q, s.cfg.Loc, s.cfg.Resolver)
	if err != nil {
		return tileQuery{}, err
	}
	bins := q.Get("bins")
	shape, err := tiles.ParseShape(bins)
	if err != nil {
		return tileQuery{}, &tiles.FilterError{Param: "bins", Value: bins, Reason: "unknown bin shape (want hex or square)"}
	}
	v := f.Values()
	if shape == tiles.Square && (layer == "" || layer == tiles.LayerDensity) {
		v.Set("bins", shape.String())
	}
	return tileQuery{filter: f, shape: shape, canon: v.Encode()}, nil
}

func withQuery(u, q string) string {
	if q == "" {
		return u
	}
	return u + "?" + q
}

// tile serves GET /tiles/{layer}/{z}/{x}/{y}.mvt (or .pbf).
func (s *Server) tile(c echo.Context) error {
	ys, ext := splitExt(c.Param("file"))
	if ext != ".mvt" && ext != ".pbf" {
		return echo.ErrNotFound
	}
	layer := c.Param("layer")
	if _, ok := tiles.Layer(layer); !ok {
		return &tiles.LayerError{Name: layer}
	}
	c.Set(keyLayer, layer)
	tid, err := tiles.ParseTile(c.Param("z"), c.Param("x"), ys)
	if err != nil {
		return err
	}
	c.Set(keyZoom, strconv.Itoa(int(tid.Z)))
	tq, err := s.parseQuery(c, layer)
	if err != nil {
		return err
	}
	version := s.cfg.Version()
	key := layer + "/" + tid.String() + "?" + tq.canon + "#" + strconv.FormatUint(version, 10)
	t, hit := s.cache.get(key)
	if hit {
		c.Set(keyCache, "hit")
	} else {
		c.Set(keyCache, "miss")
		if t, err = s.renderShared(c.Request().Context(), key, tiles.Request{Layer: layer, Tile: tid, Filter: tq.filter, Shape: tq.shape}, version); err != nil {
			return err
		}
	}
	return s.writeTile(c, t, tq.filter)
}

// writeTile answers with a cached tile: 204 when empty, 304 when the
// client's ETag matches, else the gzipped or plain bytes as the client
// accepts.
func (s *Server) writeTile(c echo.Context, t *cachedTile, f tiles.Filter) error {
	cc := cacheOpenWindow
	if !f.To.IsZero() && !f.To.After(time.Now()) {
		cc = cacheClosedWindow
	}
	return s.writeTileWith(c, t, cc)
}

// writeTileWith is writeTile with the given Cache-Control. A tile whose
// size is not known (0) is decompressed whole for clients without gzip.
func (s *Server) writeTileWith(c echo.Context, t *cachedTile, cacheControl string) error {
	req := c.Request()
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	h.Set(echo.HeaderCacheControl, cacheControl)
	if t.gz == nil {
		return c.NoContent(http.StatusNoContent)
	}
	gz := acceptsGzip(req.Header.Get(echo.HeaderAcceptEncoding))
	etag := `"` + t.etag + `"`
	if gz {
		etag = `"` + t.etag + `-gz"`
	}
	h.Set("ETag", etag)
	if etagMatch(req.Header.Get("If-None-Match"), t.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	if gz {
		h.Set(echo.HeaderContentEncoding, "gzip")
		return c.Blob(http.StatusOK, ContentTypeMVT, t.gz)
	}
	var b []byte
	var err error
	if t.size > 0 {
		b, err = gunzipBytes(t.gz, t.size)
	} else {
		b, err = gunzipAll(t.gz)
	}
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, ContentTypeMVT, b)
}

// splitExt splits "12.mvt" into "12" and ".mvt".
func splitExt(file string) (string, string) {
	ext := path.Ext(file)
	return strings.TrimSuffix(file, ext), ext
}
