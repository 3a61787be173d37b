package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

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

// flight is one rendering that concurrent requests for the same tile wait
// for: when a new data version lands, every kiosk and browser asks for the
// same tiles at once, and the source should see each query once.
type flight struct {
	done chan struct{}
	tile *cachedTile
	err  error
}

// renderShared renders the tile of key once for all concurrent requests and
// caches it. A waiter whose leader's client went away renders by itself.
func (s *Server) renderShared(ctx context.Context, key string, r tiles.Request, version uint64) (*cachedTile, error) {
	s.flightMu.Lock()
	if f, ok := s.flights[key]; ok {
		s.flightMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if errors.Is(f.err, context.Canceled) && ctx.Err() == nil {
			return s.render(ctx, r, version)
		}
		return f.tile, f.err
	}
	f := &flight{done: make(chan struct{})}
	s.flights[key] = f
	s.flightMu.Unlock()
	defer func() {
		s.flightMu.Lock()
		delete(s.flights, key)
		s.flightMu.Unlock()
		close(f.done)
	}()
	f.tile, f.err = s.render(ctx, r, version)
	if f.err == nil {
		s.cache.put(key, f.tile)
	}
	return f.tile, f.err
}

// render asks the engine for a tile within TileTimeout and prepares it for
// the cache: gzipped, with its ETag.
func (s *Server) render(ctx context.Context, r tiles.Request, version uint64) (*cachedTile, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TileTimeout)
	defer cancel()
	b, err := s.cfg.Engine.Tile(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return &cachedTile{}, nil
	}
	sum := sha256.Sum256(b)
	return &cachedTile{
		gz:   gzipBytes(b),
		etag: hex.EncodeToString(sum[:12]) + "-v" + strconv.FormatUint(version, 10),
		size: len(b),
	}, nil
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	return w
}}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b) // writes to a bytes.Buffer do not fail
	zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

var gzipReaders sync.Pool // *gzip.Reader

// gunzipBytes decompresses a cached tile for a client without gzip.
func gunzipBytes(gz []byte, size int) ([]byte, error) {
	var (
		zr  *gzip.Reader
		err error
	)
	if r, ok := gzipReaders.Get().(*gzip.Reader); ok {
		zr, err = r, r.Reset(bytes.NewReader(gz))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(gz))
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	out := make([]byte, size)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, err
	}
	return out, nil
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

// acceptsGzip reads Accept-Encoding: gzip (or *) with a non-zero quality.
func acceptsGzip(header string) bool {
	star, gz := false, -1
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			if q > 0 {
				gz = 1
			} else {
				gz = 0
			}
		case "*":
			star = q > 0
		}
	}
	return gz == 1 || gz == -1 && star
}

// etagMatch reports whether If-None-Match names the tile, in either of its
// representations (the bytes are the same once decoded).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, part := range strings.Split(header, ",") {
		p := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if p == "*" {
			return true
		}
		p = strings.Trim(p, `"`)
		if p == etag || p == etag+"-gz" {
			return true
		}
	}
	return false
}

// splitExt splits "12.mvt" into "12" and ".mvt".
func splitExt(file string) (string, string) {
	ext := path.Ext(file)
	return strings.TrimSuffix(file, ext), ext
}

// baseURL is the absolute URL of the server as the client reached it,
// honouring X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix from
// a reverse proxy. Malformed forwarded values are ignored.
func baseURL(c echo.Context) string {
	req := c.Request()
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(req.Header.Get(echo.HeaderXForwardedProto)); p == "http" || p == "https" {
		scheme = p
	}
	host := req.Host
	if h := firstValue(req.Header.Get("X-Forwarded-Host")); h != "" && validHost(h) {
		host = h
	}
	if !validHost(host) {
		host = "localhost"
	}
	prefix := strings.TrimRight(firstValue(req.Header.Get("X-Forwarded-Prefix")), "/")
	if !validPrefix(prefix) {
		prefix = ""
	}
	return scheme + "://" + host + prefix
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]_", r)) {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' || len(p) > 200 || strings.Contains(p, "//") || strings.Contains(p, "..") {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)) {
			return false
		}
	}
	return true
}

// Attribution of every tile layer (TileJSON): the reference areas' sources.
const Attribution = `<a href="https://www.istat.it/">ISTAT</a> boundaries (CC BY 4.0); ` +
	`<a href="https://www.naturalearthdata.com/">Natural Earth</a> countries; presence aggregated by flowtiles`

// AttributionIT is Attribution in Italian, for the pages in Italian.
const AttributionIT = `Confini <a href="https://www.istat.it/">ISTAT</a> (CC BY 4.0); ` +
	`paesi <a href="https://www.naturalearthdata.com/">Natural Earth</a>; presenze aggregate da flowtiles`

// TileJSON is a TileJSON 3.0.0 document.
type TileJSON struct {
	TileJSON     string              `json:"tilejson"`
	Name         string              `json:"name"`
	Description  string              `json:"description"`
	Version      string              `json:"version"`
	Attribution  string              `json:"attribution"`
	Scheme       string              `json:"scheme"`
	Tiles        []string            `json:"tiles"`
	MinZoom      int                 `json:"minzoom"`
	MaxZoom      int                 `json:"maxzoom"`
	Bounds       [4]float64          `json:"bounds"`
	Center       [3]float64          `json:"center"`
	VectorLayers []tiles.VectorLayer `json:"vector_layers"`
	// DataVersion is flowtiles' data version when the document was made.
	DataVersion uint64 `json:"data_version"`
	// Filter is the canonical filter the tile URLs carry.
	Filter map[string]string `json:"filter"`
	// JSON repeats vector_layers as the MBTiles metadata "json" string,
	// which GDAL's MVT driver (and so QGIS's OGR path) reads.
	JSON string `json:"json"`
}

var worldBounds = [4]float64{-180, -85.051129, 180, 85.051129}

// tileJSON serves GET /tiles/{layer}.json.
func (s *Server) tileJSON(c echo.Context) error {
	name, ext := splitExt(c.Param("file"))
	if ext != ".json" {
		return echo.ErrNotFound
	}
	return s.writeTileJSON(c, name)
}

// tilesetMetadata serves GET /tiles/{layer}/metadata.json: the TileJSON
// where a tileset directory keeps its metadata, so that GDAL opens
// MVT:/vsicurl/http://HOST/tiles/{layer}/{z} as one zoom level of a tileset.
func (s *Server) tilesetMetadata(c echo.Context) error {
	if c.Param("file") != "metadata.json" {
		return echo.ErrNotFound
	}
	return s.writeTileJSON(c, c.Param("layer"))
}

func (s *Server) writeTileJSON(c echo.Context, name string) error {
	spec, ok := tiles.Layer(name)
	if !ok {
		return &tiles.LayerError{Name: name}
	}
	c.Set(keyLayer, name)
	tq, err := s.parseQuery(c, name)
	if err != nil {
		return err
	}
	base := baseURL(c)
	doc := TileJSON{
		TileJSON: "3.0.0", Name: "flowtiles " + spec.Title, Description: spec.Description,
		Version: "1.0.0", Attribution: Attribution, Scheme: "xyz",
		Tiles:        []string{withQuery(base+"/tiles/"+name+"/{z}/{x}/{y}.mvt", tq.canon)},
		MinZoom:      spec.MinZoom,
		MaxZoom:      spec.MaxZoom,
		Bounds:       worldBounds,
		VectorLayers: spec.Vector,
		DataVersion:  s.cfg.Version(),
		Filter:       map[string]string{},
	}
	if v, err := url.ParseQuery(tq.canon); err == nil {
		for k := range v {
			doc.Filter[k] = v.Get(k)
		}
	}
	if vl, err := json.Marshal(map[string]any{"vector_layers": spec.Vector}); err == nil {
		doc.JSON = string(vl)
	}
	zoom := map[string]float64{tiles.LayerDensity: 14, tiles.LayerZones: 14, tiles.LayerOrigins: 6, tiles.LayerFlows: 8}[name]
	if b, ok := s.bounds(); ok {
		if name == tiles.LayerDensity || name == tiles.LayerZones {
			doc.Bounds = [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
		}
		ctr := b.Center()
		doc.Center = [3]float64{ctr[0], ctr[1], zoom}
	} else {
		doc.Center = [3]float64{0, 0, float64(spec.MinZoom)}
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheMetadata)
	h.Add(echo.HeaderVary, "X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix")
	return c.JSON(http.StatusOK, doc)
}

// bounds is the data extent, padded a little so edge bins show whole.
func (s *Server) bounds() (orb.Bound, bool) {
	if s.cfg.Bounds == nil {
		return orb.Bound{}, false
	}
	ob, ok := s.cfg.Bounds()
	if !ok || ob.Min[0] > ob.Max[0] || ob.Min[1] > ob.Max[1] {
		return orb.Bound{}, false
	}
	const pad = 0.005
	ob.Min[0], ob.Min[1] = max(ob.Min[0]-pad, -180), max(ob.Min[1]-pad, -85.051129)
	ob.Max[0], ob.Max[1] = min(ob.Max[0]+pad, 180), min(ob.Max[1]+pad, 85.051129)
	return ob, true
}

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
	base := baseURL(c)
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
			Tiles:    withQuery(base+"/tiles/"+l.Name+"/{z}/{x}/{y}.mvt", q),
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
	for _, n := range styleNames() {
		doc.Styles = append(doc.Styles, catalogStyle{Name: n, URL: withQuery(base+"/styles/"+n+".json", tq.canon)})
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, cacheMetadata)
	h.Add(echo.HeaderVary, "X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix")
	return c.JSON(http.StatusOK, doc)
}
