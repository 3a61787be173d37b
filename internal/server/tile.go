package server

// The tile handler: GET /tiles/{layer}/{z}/{x}/{y}.mvt, its query, its
// caching headers and its answers (204, 304, gzip or plain).

import (
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/tiles"
)

// ContentTypeMVT is the media type of vector tiles.
const ContentTypeMVT = "application/vnd.mapbox-vector-tile"

// Cache-Control of tiles and documents. A tile URL that names the
// current data version (v=N, as TileJSON templates and the pages write
// them) never changes: it is immutable. Any other tile URL revalidates
// (its ETag carries the data version, so a late batch about a closed
// window is seen at once).
const (
	cacheVersioned  = "public, max-age=31536000, immutable"
	cacheRevalidate = "public, no-cache"
	cacheMetadata   = "public, max-age=60"
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
	st := s.site(c)
	f, err := tiles.ParseFilter(q, st.Loc, st.Resolver)
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
	return s.serveTile(c, c.Param("layer"), c.Param("z"), c.Param("x"), ys)
}

// serveTile answers a tile request (XYZ here, OGC API – Tiles in
// ogc_tile.go): the cached or rendered tile of the request's filter.
func (s *Server) serveTile(c echo.Context, layer, zs, xs, ys string) error {
	if _, ok := tiles.Layer(layer); !ok {
		return &tiles.LayerError{Name: layer}
	}
	c.Set(keyLayer, layer)
	tid, err := tiles.ParseTile(zs, xs, ys)
	if err != nil {
		return err
	}
	c.Set(keyZoom, strconv.Itoa(int(tid.Z)))
	tq, err := s.parseQuery(c, layer)
	if err != nil {
		return err
	}
	version := s.cfg.Version()
	// a tile of the global grid, for the town's records
	st := s.site(c)
	key := st.Town.Code + ":" + layer + "/" + tid.String() + "?" + tq.canon + "#" + strconv.FormatUint(version, 10)
	t, hit := s.cache.get(key)
	if hit {
		c.Set(keyCache, "hit")
	} else {
		c.Set(keyCache, "miss")
		if t, err = s.renderShared(c.Request().Context(), st, c.RealIP(), key, tiles.Request{Layer: layer, Tile: tid, Filter: tq.filter, Shape: tq.shape}, version); err != nil {
			return err
		}
	}
	return writeCached(c, t, tileCacheControl(c, version), ContentTypeMVT)
}

// tileCacheControl is the Cache-Control of a tile URL: immutable when its
// v= names the data version the tile was rendered at.
func tileCacheControl(c echo.Context, version uint64) string {
	if v := c.QueryParam("v"); v != "" && v == strconv.FormatUint(version, 10) {
		return cacheVersioned
	}
	return cacheRevalidate
}

// writeCached answers with a cached body of type contentType: 204 when
// empty, 304 when the client's ETag matches, else the bytes in the coding
// the client prefers (brotli, gzip or none), with their Content-Length. A
// body whose size is not known (0) is decompressed whole for clients
// without gzip.
func writeCached(c echo.Context, t *cachedTile, cacheControl, contentType string) error {
	req := c.Request()
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheControl)
	if t.etag != "" {
		h.Set(headerETag, `"`+t.etag+`"`)
	}
	if t.gz == nil {
		if etagMatch(req.Header.Get(headerIfNoneMatch), t.etag) && t.etag != "" {
			return c.NoContent(http.StatusNotModified)
		}
		return c.NoContent(http.StatusNoContent)
	}
	addVary(h, echo.HeaderAcceptEncoding)
	enc := pickEncoding(req.Header.Get(echo.HeaderAcceptEncoding))
	h.Set(headerETag, `"`+t.etag+etagSuffix(enc)+`"`)
	if etagMatch(req.Header.Get(headerIfNoneMatch), t.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	var (
		b   []byte
		err error
	)
	switch enc {
	case encGzip:
		b = t.gz
	case encBrotli:
		b, err = t.brotli()
	default:
		b, err = t.plain()
	}
	if err != nil {
		return err
	}
	if enc != encIdentity {
		h.Set(echo.HeaderContentEncoding, enc)
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.Blob(http.StatusOK, contentType, b)
}

// splitExt splits "12.mvt" into "12" and ".mvt".
func splitExt(file string) (string, string) {
	ext := path.Ext(file)
	return strings.TrimSuffix(file, ext), ext
}
