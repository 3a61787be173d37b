package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// switchSource is a memory store whose failures and delays a test controls.
type switchSource struct {
	*memstore.Store
	fail  atomic.Pointer[error]
	delay atomic.Int64 // nanoseconds, honouring ctx
	calls atomic.Int64
}

func (s *switchSource) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	s.calls.Add(1)
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return fmt.Errorf("waiting: %w", ctx.Err())
		}
	}
	if p := s.fail.Load(); p != nil {
		return *p
	}
	return s.Store.Aggregate(ctx, q, fn)
}

func (s *switchSource) failWith(err error) {
	if err == nil {
		s.fail.Store(nil)
		return
	}
	s.fail.Store(&err)
}

// tileEnv is a server over the memory store, on a real HTTP listener.
type tileEnv struct {
	srv   *Server
	ts    *httptest.Server
	src   *switchSource
	reg   *prometheus.Registry
	ready atomic.Pointer[error]
	logs  *bytes.Buffer
}

// centreTile is a zoom-14 tile over the test town.
var centreTile = tiles.TileAt(14, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))

func tileURL(layer string, t tiles.TileID, query string) string {
	return withQuery(fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", layer, t.Z, t.X, t.Y), query)
}

func newTileEnv(t testing.TB, mod func(*Config)) *tileEnv {
	t.Helper()
	zones := sourcetest.Zones()
	store := memstore.New(refdata.Italy())
	if err := store.Add(sourcetest.Records(sourcetest.Seed(t), 3000), tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	env := &tileEnv{src: &switchSource{Store: store}, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	places := tiles.NewGazetteer(zones)
	engine := tiles.NewEngine(env.src, places, tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre})
	cfg := Config{
		Engine:   engine,
		Version:  store.Version,
		Resolver: statsResolver{places},
		Loc:      sourcetest.Rome,
		Ready: func(ctx context.Context) error {
			if p := env.ready.Load(); p != nil {
				return *p
			}
			return nil
		},
		Bounds: func() (orb.Bound, bool) {
			r := store.Bounds()
			if r.Empty() {
				return orb.Bound{}, false
			}
			w, s, e, n := r.LonLatBounds()
			return orb.Bound{Min: orb.Point{w, s}, Max: orb.Point{e, n}}, true
		},
		Log:     slog.New(slog.NewTextHandler(&lockedWriter{w: env.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: env.reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	env.srv = New(cfg)
	env.ts = httptest.NewServer(env.srv.Handler())
	t.Cleanup(env.ts.Close)
	return env
}

type lockedWriter struct {
	mu atomic.Int32
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	for !l.mu.CompareAndSwap(0, 1) {
	}
	defer l.mu.Store(0)
	return l.w.Write(p)
}

var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}

// get fetches path with header pairs, without transparent decompression.
func (env *tileEnv) get(t testing.TB, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return fetch(t, env.ts.URL+path, header...)
}

func fetch(t testing.TB, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, u, header...)
}

func do(t testing.TB, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeTile(t testing.TB, b []byte) map[string]*mvt.Layer {
	t.Helper()
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("decoding tile: %v", err)
	}
	out := map[string]*mvt.Layer{}
	for _, l := range ls {
		out[l.Name] = l
	}
	return out
}

// jsonError checks an error response: the status, a JSON body with an
// error message and, when param is not empty, the parameter named.
func jsonError(t testing.TB, res *http.Response, body []byte, status int, param string) map[string]string {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", res.Request.URL, res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error Content-Type %q: %s", res.Request.URL, ct, body)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || m["error"] == "" {
		t.Fatalf("%s: error body %s (%v)", res.Request.URL, body, err)
	}
	if m["param"] != param {
		t.Fatalf("%s: param %q, want %q: %s", res.Request.URL, m["param"], param, body)
	}
	return m
}

func TestTileGzipAndPlain(t *testing.T) {
	env := newTileEnv(t, nil)
	u := tileURL("density", centreTile, "")
	gzRes, gzBody := env.get(t, u, "Accept-Encoding", "gzip, deflate")
	if gzRes.StatusCode != 200 || gzRes.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip request: %d, Content-Encoding %q", gzRes.StatusCode, gzRes.Header.Get("Content-Encoding"))
	}
	plainRes, plainBody := env.get(t, u) // GDAL asks without gzip
	if plainRes.StatusCode != 200 || plainRes.Header.Get("Content-Encoding") != "" {
		t.Fatalf("plain request: %d, Content-Encoding %q", plainRes.StatusCode, plainRes.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(gunzip(t, gzBody), plainBody) {
		t.Fatal("gzipped and plain tiles differ")
	}
	_, refused := env.get(t, u, "Accept-Encoding", "gzip;q=0, identity")
	if !bytes.Equal(refused, plainBody) {
		t.Fatal("gzip;q=0 still got gzip")
	}
	for _, res := range []*http.Response{gzRes, plainRes} {
		if ct := res.Header.Get("Content-Type"); ct != ContentTypeMVT {
			t.Errorf("Content-Type %q", ct)
		}
		if v := strings.Join(res.Header.Values("Vary"), ", "); !strings.Contains(v, "Accept-Encoding") {
			t.Errorf("Vary %q", v)
		}
	}
	want, err := env.srv.cfg.Engine.Tile(context.Background(), tiles.Request{Layer: "density", Tile: centreTile, Filter: tiles.Filter{}})
	if err != nil || !bytes.Equal(want, plainBody) {
		t.Fatalf("served tile is not the engine's (%v)", err)
	}
	ls := decodeTile(t, plainBody)
	if ls["density"] == nil || len(ls["density"].Features) == 0 || ls["density_points"] == nil {
		t.Fatalf("density tile without bins: %v", ls)
	}
	// .pbf is the same tile.
	_, pbf := env.get(t, strings.TrimSuffix(u, ".mvt")+".pbf")
	if !bytes.Equal(pbf, plainBody) {
		t.Fatal(".pbf differs from .mvt")
	}
	// Every layer answers, square bins too.
	for _, l := range tiles.LayerNames() {
		res, _ := env.get(t, tileURL(l, centreTile, "bins=square"), "Accept-Encoding", "gzip")
		if res.StatusCode != 200 && res.StatusCode != 204 {
			t.Errorf("%s: %d", l, res.StatusCode)
		}
	}
}

func TestTileETag(t *testing.T) {
	env := newTileEnv(t, nil)
	u := tileURL("density", centreTile, "from=2025-03-01&to=2025-03-31")
	res, body := env.get(t, u, "Accept-Encoding", "gzip")
	etag := res.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `-gz"`) {
		t.Fatalf("gzip ETag %q", etag)
	}
	plain, _ := env.get(t, u)
	petag := plain.Header.Get("ETag")
	if petag == etag || strings.TrimSuffix(etag, `-gz"`)+`"` != petag {
		t.Fatalf("ETags gzip %s plain %s", etag, petag)
	}
	if !strings.Contains(etag, fmt.Sprintf("-v%d", env.src.Version())) {
		t.Errorf("ETag %s does not carry the data version %d", etag, env.src.Version())
	}
	for _, inm := range []string{etag, petag, `"nope", ` + etag, "W/" + etag, "*"} {
		r, b := env.get(t, u, "Accept-Encoding", "gzip", "If-None-Match", inm)
		if r.StatusCode != http.StatusNotModified || len(b) != 0 || r.Header.Get("ETag") == "" {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, r.StatusCode, len(b))
		}
	}
	r, b := env.get(t, u, "Accept-Encoding", "gzip", "If-None-Match", `"other"`)
	if r.StatusCode != 200 || !bytes.Equal(b, body) {
		t.Errorf("stale ETag: %d", r.StatusCode)
	}
	// The same tile from another server over the same data: same ETag.
	env2 := newTileEnvSeeded(t, env)
	r2, _ := env2.get(t, u, "Accept-Encoding", "gzip")
	if r2.Header.Get("ETag") != etag {
		t.Errorf("ETag not stable across instances: %s vs %s", r2.Header.Get("ETag"), etag)
	}
}

// newTileEnvSeeded is a second server over the same store as env.
func newTileEnvSeeded(t testing.TB, env *tileEnv) *tileEnv {
	return newTileEnv(t, func(c *Config) {
		c.Engine = env.srv.cfg.Engine
		c.Version = env.src.Version
		c.Metrics = nil
	})
}

// A closed window can still change (a late batch): unversioned tile URLs
// revalidate, whatever their window; a URL naming the current data version
// (v=N, as TileJSON writes it) is immutable; one naming another version
// revalidates.
func TestTileCacheControl(t *testing.T) {
	env := newTileEnv(t, nil)
	v := fmt.Sprint(env.src.Version())
	cases := []struct{ query, want string }{
		{"from=2025-03-01&to=2025-03-31", cacheRevalidate},
		{"", cacheRevalidate},
		{"from=2025-03-01", cacheRevalidate},
		{"to=" + time.Now().AddDate(0, 0, 2).Format("2006-01-02"), cacheRevalidate},
		{"from=2025-03-01&to=2025-03-31&v=" + v, cacheVersioned},
		{"v=" + v, cacheVersioned},
		{"from=2025-03-01&to=2025-03-31&v=" + v + "0", cacheRevalidate},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			res, _ := env.get(t, tileURL("density", centreTile, c.query), "Accept-Encoding", "gzip")
			if got := res.Header.Get("Cache-Control"); got != c.want {
				t.Errorf("%q: Cache-Control %q, want %q", c.query, got, c.want)
			}
		})
	}
}

func TestEmptyTileIs204(t *testing.T) {
	env := newTileEnv(t, nil)
	far := tiles.TileAt(14, tiles.Project(-70, -30))
	for i := 0; i < 2; i++ { // rendered, then cached: the same answer
		res, body := env.get(t, tileURL("density", far, ""), "Accept-Encoding", "gzip")
		if res.StatusCode != http.StatusNoContent || len(body) != 0 || res.Header.Get("Cache-Control") == "" {
			t.Fatalf("empty tile (try %d): %d, %d bytes, Cache-Control %q", i, res.StatusCode, len(body), res.Header.Get("Cache-Control"))
		}
	}
	// A filter that matches nobody gives empty tiles too.
	res, _ := env.get(t, tileURL("density", centreTile, "from=2020-01-01&to=2020-01-02"))
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("tile of an empty window: %d", res.StatusCode)
	}
}

func TestTileErrors(t *testing.T) {
	env := newTileEnv(t, nil)
	c := centreTile
	cases := []struct {
		path   string
		status int
		param  string
	}{
		{"/tiles/density/23/0/0.mvt", 400, "z"},
		{"/tiles/density/a/0/0.mvt", 400, "z"},
		{"/tiles/density/-1/0/0.mvt", 400, "z"},
		{"/tiles/density/99999999999999999999/0/0.mvt", 400, "z"},
		{"/tiles/density/2/4/0.mvt", 400, "x"},
		{"/tiles/density/2/x/0.mvt", 400, "x"},
		{"/tiles/density/2/0/4.mvt", 400, "y"},
		{"/tiles/density/2/0/1.5.mvt", 400, "y"},
		{"/tiles/density/2/0/.mvt", 400, "y"},
		{"/tiles/nope/2/0/0.mvt", 404, ""},
		{"/tiles/nope.json", 404, ""},
		{"/tiles/density/2/0/0.png", 404, ""},
		{"/tiles/density/2/0/0", 404, ""},
		{"/tiles/density.xml", 404, ""},
		{"/tiles/density/nope.json", 404, ""},
		{"/tiles/nope/metadata.json", 404, ""},
		{"/tiles/density/2/0", 404, ""},
		{"/nowhere", 404, ""},
		{"/styles/nope.json", 404, ""},
		{"/styles/planner.css", 404, ""},
		{tileURL("density", c, "hours=25"), 400, "hours"},
		{tileURL("density", c, "hours=8-8"), 400, "hours"},
		{tileURL("density", c, "days=someday"), 400, "days"},
		{tileURL("density", c, "age=12-13"), 400, "age"},
		{tileURL("density", c, "gender=q"), 400, "gender"},
		{tileURL("density", c, "spend=lots"), 400, "spend"},
		{tileURL("density", c, "nationality=XX1"), 400, "nationality"},
		{tileURL("density", c, "origin=999999"), 400, "origin"},
		{tileURL("density", c, "zone=nowhere"), 400, "zone"},
		{tileURL("density", c, "from=yesterday"), 400, "from"},
		{tileURL("density", c, "from=2025-03-02&to=2025-03-01"), 400, "to"},
		{tileURL("density", c, "bins=triangle"), 400, "bins"},
		{"/tiles/density.json?hours=99", 400, "hours"},
		{"/tiles?zone=nowhere", 400, "zone"},
		{"/styles/planner.json?gender=q", 400, "gender"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			res, body := env.get(t, tc.path)
			jsonError(t, res, body, tc.status, tc.param)
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("error Cache-Control %q", cc)
			}
		})
	}
	// HEAD gets the status without a body.
	res, body := do(t, http.MethodHead, env.ts.URL+"/tiles/density/a/0/0.mvt")
	if res.StatusCode != 400 || len(body) != 0 {
		t.Errorf("HEAD: %d, %d bytes", res.StatusCode, len(body))
	}
	// A wrong method is a JSON 405.
	res, body = do(t, http.MethodPost, env.ts.URL+tileURL("density", c, ""))
	jsonError(t, res, body, http.StatusMethodNotAllowed, "")
}

func TestTileCacheMetrics(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.MetricsOnMain = true })
	u := tileURL("density", centreTile, "hours=8-12&days=mon,tue")
	same := tileURL("density", centreTile, "days=tue,mon&hours=8,9,10,11") // the same filter, spelt otherwise
	env.get(t, u, "Accept-Encoding", "gzip")
	calls := env.src.calls.Load()
	env.get(t, same)
	env.get(t, u+"&_=123", "Accept-Encoding", "gzip") // unknown parameters are ignored
	if env.src.calls.Load() != calls {
		t.Fatalf("cached tile rendered again (%d source calls)", env.src.calls.Load()-calls)
	}
	_, body := env.get(t, "/metrics")
	m := string(body)
	for _, want := range []string{
		"flowtiles_tile_cache_hits_total 2",
		"flowtiles_tile_cache_misses_total 1",
		`flowtiles_http_requests_total{layer="density",route="/tiles/:layer/:z/:x/:file",status="200",zoom="14"} 3`,
		`flowtiles_http_request_duration_seconds_count{layer="density",route="/tiles/:layer/:z/:x/:file",status="200",zoom="14"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(m, "flowtiles_tile_cache_bytes ") || strings.Contains(m, "flowtiles_tile_cache_bytes 0\n") {
		t.Error("cache bytes not reported")
	}
	// A new data version misses the cache.
	if err := env.src.Add(sourcetest.Records(1, 1), tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	env.get(t, u, "Accept-Encoding", "gzip")
	if env.src.calls.Load() == calls {
		t.Fatal("a new data version was answered from the cache")
	}
	// Unknown routes share one label.
	env.get(t, "/nowhere/1")
	env.get(t, "/nowhere/2")
	_, body = env.get(t, "/metrics")
	if !strings.Contains(string(body), `route="unmatched",status="404",zoom=""} 2`) {
		t.Error("unmatched routes not counted under one label")
	}
	// every request is logged: cache hits at debug (the bulk of a busy
	// map's traffic), misses at info
	hit, miss := false, false
	for _, line := range strings.Split(env.logs.String(), "\n") {
		hit = hit || strings.Contains(line, "level=DEBUG msg=request") && strings.Contains(line, "cache=hit")
		miss = miss || strings.Contains(line, "level=INFO msg=request") && strings.Contains(line, "cache=miss")
		if strings.Contains(line, "cache=hit") && !strings.Contains(line, "level=DEBUG") {
			t.Errorf("a cache hit logged above debug: %s", line)
		}
	}
	if !hit || !miss {
		t.Errorf("access log: cache=hit at debug %v, cache=miss at info %v", hit, miss)
	}
}

func TestCacheEvictsByBytes(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry(), nil)
	c := newTileCache(10_000, m)
	for i := range 100 {
		c.put(fmt.Sprint(i), &cachedTile{gz: make([]byte, 500), etag: "x"})
	}
	if c.bytes > 10_000 || c.ll.Len() == 0 || c.ll.Len() > 20 {
		t.Fatalf("cache holds %d bytes in %d tiles", c.bytes, c.ll.Len())
	}
	if _, ok := c.get("99"); !ok {
		t.Error("the newest tile was evicted")
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest tile survived")
	}
	c.put("big", &cachedTile{gz: make([]byte, 5000)})
	if _, ok := c.get("big"); ok {
		t.Error("a tile over a quarter of the cache was kept")
	}
}

type tileJSONDoc struct {
	TileJSON     string              `json:"tilejson"`
	Tiles        []string            `json:"tiles"`
	MinZoom      *int                `json:"minzoom"`
	MaxZoom      *int                `json:"maxzoom"`
	Bounds       []float64           `json:"bounds"`
	Center       []float64           `json:"center"`
	Attribution  string              `json:"attribution"`
	Name         string              `json:"name"`
	VectorLayers []tiles.VectorLayer `json:"vector_layers"`
	Filter       map[string]string   `json:"filter"`
}

// A layer's TileJSON centre lies within its bounds, even when the town's
// centre does not (here 0.01° north of the zones and of the data; some
// random data sets put the middle of the data outside the zones).
func TestTileJSONCenterWithinBounds(t *testing.T) {
	north := orb.Point{sourcetest.Centre[0], sourcetest.Centre[1] + 0.01}
	env := newTileEnv(t, func(c *Config) { c.Center = north })
	for _, spec := range tiles.Layers {
		_, body := env.get(t, "/tiles/"+spec.Name+".json")
		var doc tileJSONDoc
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		if len(doc.Bounds) != 4 || len(doc.Center) != 3 {
			t.Fatalf("%s: %s", spec.Name, body)
		}
		if doc.Center[0] < doc.Bounds[0] || doc.Center[0] > doc.Bounds[2] || doc.Center[1] < doc.Bounds[1] || doc.Center[1] > doc.Bounds[3] {
			t.Errorf("%s: centre %v outside the bounds %v", spec.Name, doc.Center, doc.Bounds)
		}
		if spec.Name == tiles.LayerZones && doc.Center[1] == north[1] {
			t.Errorf("zones: centre %v is the town's, north of the zones %v", doc.Center, doc.Bounds)
		}
	}
}

func TestTileJSON(t *testing.T) {
	env := newTileEnv(t, nil)
	for _, spec := range tiles.Layers {
		res, body := env.get(t, "/tiles/"+spec.Name+".json?days=tue,mon&from=2025-03-01&bins=square", "Accept-Encoding", "gzip")
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", spec.Name, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if res.Header.Get("Content-Encoding") == "gzip" {
			body = gunzip(t, body)
		}
		var doc tileJSONDoc
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.TileJSON != "3.0.0" || len(doc.Tiles) != 1 || doc.MinZoom == nil || *doc.MinZoom != spec.MinZoom || *doc.MaxZoom != spec.MaxZoom {
			t.Fatalf("%s: %s", spec.Name, body)
		}
		wantQ := "days=mon%2Ctue&from=2025-02-28T23%3A00%3A00Z&v=" + fmt.Sprint(env.src.Version())
		if spec.Name == "density" {
			wantQ = "bins=square&" + wantQ
		}
		if want := env.ts.URL + "/tiles/" + spec.Name + "/{z}/{x}/{y}.mvt?" + wantQ; doc.Tiles[0] != want {
			t.Errorf("%s: tiles %s, want %s", spec.Name, doc.Tiles[0], want)
		}
		if !strings.Contains(doc.Attribution, "ISTAT") || !strings.Contains(doc.Attribution, "CC BY 4.0") || !strings.Contains(doc.Attribution, "Natural Earth") {
			t.Errorf("%s: attribution %q", spec.Name, doc.Attribution)
		}
		if len(doc.VectorLayers) != len(spec.Vector) || doc.VectorLayers[0].ID != spec.Vector[0].ID || len(doc.VectorLayers[0].Fields) == 0 {
			t.Errorf("%s: vector_layers %+v", spec.Name, doc.VectorLayers)
		}
		if len(doc.Bounds) != 4 || len(doc.Center) != 3 || doc.Bounds[0] >= doc.Bounds[2] || doc.Bounds[1] >= doc.Bounds[3] {
			t.Fatalf("%s: bounds %v center %v", spec.Name, doc.Bounds, doc.Center)
		}
		c := sourcetest.Centre
		if doc.Center[0] < doc.Bounds[0] || doc.Center[0] > doc.Bounds[2] || doc.Center[1] < doc.Bounds[1] || doc.Center[1] > doc.Bounds[3] ||
			c[0] < doc.Bounds[0] || c[0] > doc.Bounds[2] || c[1] < doc.Bounds[1] || c[1] > doc.Bounds[3] {
			t.Errorf("%s: bounds %v center %v miss the town", spec.Name, doc.Bounds, doc.Center)
		}
		if spec.Name == "density" && doc.Bounds[2]-doc.Bounds[0] > 1 {
			t.Errorf("density bounds %v are not the data's", doc.Bounds)
		}
		// The template works: the filtered tile it names is served.
		u := strings.NewReplacer("{z}", "14", "{x}", fmt.Sprint(centreTile.X), "{y}", fmt.Sprint(centreTile.Y)).Replace(doc.Tiles[0])
		if r, _ := fetch(t, u); r.StatusCode != 200 && r.StatusCode != 204 {
			t.Errorf("%s: template URL %s: %d", spec.Name, u, r.StatusCode)
		}
	}
	// Forwarded headers from a client that is no trusted proxy are ignored.
	forwarded := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "maps.example.org, inner", "X-Forwarded-Prefix", "/flows/"}
	res, body := env.get(t, "/tiles/zones.json", forwarded...)
	var doc tileJSONDoc
	json.Unmarshal(body, &doc)
	if vary := strings.Join(res.Header.Values("Vary"), ", "); doc.Tiles[0] != env.ts.URL+"/tiles/zones/{z}/{x}/{y}.mvt?v="+fmt.Sprint(env.src.Version()) || strings.Contains(vary, "X-Forwarded") {
		t.Errorf("untrusted forwarded headers: template %s, Vary %q", doc.Tiles[0], vary)
	}
	// Behind a trusted proxy the URLs are the proxy's.
	proxied := newTileEnv(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	res, body = proxied.get(t, "/tiles/zones.json", forwarded...)
	json.Unmarshal(body, &doc)
	if vary := strings.Join(res.Header.Values("Vary"), ", "); doc.Tiles[0] != "https://maps.example.org/flows/tiles/zones/{z}/{x}/{y}.mvt?v="+fmt.Sprint(proxied.src.Version()) || !strings.Contains(vary, "X-Forwarded-Host") {
		t.Errorf("proxied template %s, Vary %q", doc.Tiles[0], vary)
	}
	// A forged host is not echoed, even by a trusted proxy.
	_, body = proxied.get(t, "/tiles/zones.json", "X-Forwarded-Host", `evil"host/<x>`, "X-Forwarded-Prefix", "/../x")
	json.Unmarshal(body, &doc)
	if strings.Contains(doc.Tiles[0], "evil") || strings.Contains(doc.Tiles[0], "..") {
		t.Errorf("forged forwarded headers in %s", doc.Tiles[0])
	}
}

// A direct client's X-Forwarded-Host does not rewrite the URLs of the
// cacheable documents (TileJSON, catalog, styles), nor its address in the
// logs.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	env := newTileEnv(t, nil)
	evil := []string{"X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https", "X-Forwarded-Prefix", "/x", "X-Forwarded-For", "203.0.113.9"}
	for _, path := range []string{"/tiles/density.json", "/tiles", "/styles/planner.json", "/tiles/density/metadata.json"} {
		res, body := env.get(t, path, evil...)
		if res.StatusCode != 200 || strings.Contains(string(body), "evil.example") || !strings.Contains(string(body), env.ts.URL+"/") {
			t.Errorf("%s: %d, forwarded headers used: %.300s", path, res.StatusCode, body)
		}
	}
	if logs := env.logs.String(); strings.Contains(logs, "203.0.113.9") || !strings.Contains(logs, "remote=127.0.0.1") {
		t.Errorf("client address in the log from X-Forwarded-For of a direct client:\n%s", logs)
	}
	// from a trusted proxy: its client's address, and the proxy's URLs
	proxied := newTileEnv(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	_, body := proxied.get(t, "/tiles/density.json", append(evil, "X-Forwarded-For", "198.51.100.7, 127.0.0.1")...)
	if !strings.Contains(string(body), "https://evil.example/x/tiles/density/") {
		t.Errorf("trusted proxy's headers not used: %.300s", body)
	}
	if logs := proxied.logs.String(); !strings.Contains(logs, "remote=198.51.100.7") {
		t.Errorf("client address behind a trusted proxy not logged:\n%s", logs)
	}
}

func TestTileJSONWithoutData(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.Bounds = func() (orb.Bound, bool) { return orb.Bound{}, false } })
	_, body := env.get(t, "/tiles/density.json")
	var doc tileJSONDoc
	json.Unmarshal(body, &doc)
	if len(doc.Bounds) != 4 || doc.Bounds[0] != -180 || doc.Bounds[3] < 85 {
		t.Errorf("bounds without data %v", doc.Bounds)
	}
}

func TestCatalog(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.BasemapURL = "https://basemap.example/style.json" })
	res, body := env.get(t, "/tiles?bins=square&gender=f")
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	var doc catalogDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Layers) != 5 || doc.Basemap == "" || len(doc.Styles) < 2 {
		t.Fatalf("catalog %s", body)
	}
	for _, l := range doc.Layers {
		want := env.ts.URL + "/tiles/" + l.Name + ".json?gender=f"
		switch l.Name {
		case "density":
			want = env.ts.URL + "/tiles/density.json?bins=square&gender=f"
		case "basemap":
			want = env.ts.URL + "/tiles/basemap.json" // no figures: no filter
		}
		if l.TileJSON != want {
			t.Errorf("%s: tilejson %s, want %s", l.Name, l.TileJSON, want)
		}
		if r, _ := fetch(t, l.TileJSON); r.StatusCode != 200 {
			t.Errorf("%s: %d", l.TileJSON, r.StatusCode)
		}
	}
	for _, s := range doc.Styles {
		if r, _ := fetch(t, s.URL); r.StatusCode != 200 {
			t.Errorf("%s: %d", s.URL, r.StatusCode)
		}
	}
}

func TestCORS(t *testing.T) {
	env := newTileEnv(t, nil)
	res, _ := env.get(t, tileURL("density", centreTile, ""), "Origin", "https://gis.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("default CORS: %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("ETag not exposed: %q", res.Header.Get("Access-Control-Expose-Headers"))
	}
	res, _ = do(t, http.MethodOptions, env.ts.URL+"/tiles/density.json", "Origin", "https://gis.example", "Access-Control-Request-Method", "GET")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}

	strict := newTileEnv(t, func(c *Config) { c.CORSOrigins = []string{"https://town.example"} })
	res, _ = strict.get(t, "/tiles", "Origin", "https://town.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "https://town.example" {
		t.Errorf("allowed origin: %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
	res, _ = strict.get(t, "/tiles", "Origin", "https://elsewhere.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %q", res.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestHealthAndReady(t *testing.T) {
	env := newTileEnv(t, nil)
	if res, _ := env.get(t, "/healthz"); res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
	if res, _ := env.get(t, "/readyz"); res.StatusCode != 200 {
		t.Fatalf("readyz %d", res.StatusCode)
	}
	// Clients get a short reason; the details (who, where) go to the log.
	detail := errors.New(`failed to connect to user=flowtiles database=towndata: 10.0.0.7:5432 (db.internal): connection refused`)
	var down error = &ReadyError{Reason: "database unreachable", Err: detail}
	env.ready.Store(&down)
	res, body := env.get(t, "/readyz")
	if res.StatusCode != 503 || string(body) != `{"error":"database unreachable"}`+"\n" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz down: %d %s", res.StatusCode, body)
	}
	if !strings.Contains(env.logs.String(), "10.0.0.7:5432") {
		t.Error("readiness details not logged")
	}
	var plain error = errors.New("user=flowtiles host=10.0.0.8")
	env.ready.Store(&plain)
	if res, body := env.get(t, "/readyz"); res.StatusCode != 503 || strings.Contains(string(body), "10.0.0.8") || strings.Contains(string(body), "flowtiles") {
		t.Fatalf("readyz with an unexplained error: %d %s", res.StatusCode, body)
	}
	if res, _ := env.get(t, "/healthz"); res.StatusCode != 200 {
		t.Fatalf("healthz while not ready: %d", res.StatusCode)
	}
	// A check that hangs is cut by the timeout.
	slow := newTileEnv(t, func(c *Config) {
		c.ReadyTimeout = 50 * time.Millisecond
		c.Ready = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	})
	start := time.Now()
	res, _ = slow.get(t, "/readyz")
	if res.StatusCode != 503 {
		t.Fatalf("hanging readyz: %d after %v", res.StatusCode, time.Since(start))
	}
}

// When the source is unavailable, cached tiles keep being served and the
// others get 503 with Retry-After; they come back once it recovers.
func TestSourceUnavailable(t *testing.T) {
	env := newTileEnv(t, nil)
	cached := tileURL("density", centreTile, "")
	other := tileURL("density", centreTile, "hours=10")
	res, want := env.get(t, cached, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	env.src.failWith(fmt.Errorf("aggregating presence: %w: %w", tiles.ErrUnavailable, errors.New("dial tcp 10.0.0.7:5432: connect: connection refused")))
	res, body := env.get(t, cached, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("cached tile during the outage: %d", res.StatusCode)
	}
	res, body = env.get(t, other)
	m := jsonError(t, res, body, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" || strings.Contains(m["error"], "10.0.0.7") {
		t.Fatalf("outage: Retry-After %q, body %s", res.Header.Get("Retry-After"), body)
	}
	env.src.failWith(nil)
	if res, _ := env.get(t, other); res.StatusCode != 200 {
		t.Fatalf("after recovery: %d", res.StatusCode)
	}
}

func TestInternalErrorsAreHidden(t *testing.T) {
	env := newTileEnv(t, func(c *Config) {
		c.Routes = append(c.Routes, routeFunc(func(e *echo.Echo) {
			e.GET("/boom", func(echo.Context) error { panic("secret panic detail") })
		}))
	})
	env.src.failWith(errors.New(`ERROR: column "secret_col" does not exist (SQLSTATE 42703)`))
	res, body := env.get(t, tileURL("density", centreTile, ""))
	jsonError(t, res, body, 500, "")
	if strings.Contains(string(body), "secret") {
		t.Fatalf("internal error leaked: %s", body)
	}
	if !strings.Contains(env.logs.String(), "secret_col") {
		t.Error("internal error not logged")
	}
	res, body = env.get(t, "/boom")
	jsonError(t, res, body, 500, "")
	if strings.Contains(string(body), "secret") {
		t.Fatalf("panic leaked: %s", body)
	}
	// The server survives.
	env.src.failWith(nil)
	if res, _ := env.get(t, "/healthz"); res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
}

type routeFunc func(*echo.Echo)

func (f routeFunc) Register(e *echo.Echo) { f(e) }

func TestTileTimeout(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.TileTimeout = 50 * time.Millisecond })
	env.src.delay.Store(int64(10 * time.Minute)) // far beyond the test's patience: only the deadline can end it
	start := time.Now()
	res, body := env.get(t, tileURL("density", centreTile, ""))
	jsonError(t, res, body, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" {
		t.Fatalf("timeout after %v, Retry-After %q", time.Since(start), res.Header.Get("Retry-After"))
	}
}

// A request that joined a render which then ran out of time renders anew
// within its own deadline, rather than answering the leader's 503 (under
// load, every tile of a view waited behind one slow first render).
func TestWaitersOfATimedOutRenderRenderAnew(t *testing.T) {
	env := newTileEnv(t, func(c *Config) { c.TileTimeout = 3 * time.Second })
	env.src.delay.Store(int64(10 * time.Minute)) // the leader's render: only its deadline ends it
	u := env.ts.URL + tileURL("density", centreTile, "hours=9")
	leader := make(chan int, 1)
	go func() {
		res, _ := fetch(t, u)
		leader <- res.StatusCode
	}()
	deadline := time.Now().Add(60 * time.Second)
	for env.src.calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the leader never reached the source")
		}
		time.Sleep(5 * time.Millisecond)
	}
	env.src.delay.Store(0) // what comes after answers at once
	res, body := fetch(t, u)
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
		t.Fatalf("a request after the leader: %d %s", res.StatusCode, body)
	}
	if code := <-leader; code != http.StatusServiceUnavailable {
		t.Fatalf("the leader: %d, want 503 (its render ran out of time)", code)
	}
}

// A client that goes away cancels the engine's work.
func TestClientCancelStopsTheEngine(t *testing.T) {
	env := newTileEnv(t, nil)
	env.src.delay.Store(int64(10 * time.Minute)) // only the cancellation can end it
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.ts.URL+tileURL("density", centreTile, ""), nil)
	start := time.Now()
	if res, err := plainClient.Do(req); err == nil {
		res.Body.Close()
	}
	// The handler returned promptly: the server can close its connections.
	done := make(chan struct{})
	go func() { env.ts.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the tile handler kept running after its client left")
	}
	t.Logf("closed %v after the request", time.Since(start))
}

func TestPages(t *testing.T) {
	static := fstest.MapFS{
		"index.html":  {Data: []byte("<!doctype html><title>planner</title>")},
		"kiosk.html":  {Data: []byte("<!doctype html><title>kiosk</title>")},
		"js/app.js":   {Data: []byte("console.log(1)")},
		"css/app.css": {Data: []byte("body{}")},
	}
	env := newTileEnv(t, func(c *Config) { c.Static = static })
	for path, want := range map[string]string{"/": "planner", "/kiosk": "kiosk", "/static/js/app.js": "console", "/static/css/app.css": "body"} {
		res, body := env.get(t, path)
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/static/", "/static/js/", "/static/nope.js", "/static/../index.html", "/static/index.html/"} {
		res, body := env.get(t, path)
		if res.StatusCode != 404 && res.StatusCode != 301 {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
	bare := newTileEnv(t, nil)
	res, body := bare.get(t, "/")
	jsonError(t, res, body, 404, "")
}

func TestStartAndShutdown(t *testing.T) {
	env := newTileEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- env.srv.Start(ctx, addr) }()
	var res *http.Response
	for i := 0; i < 100; i++ {
		if res, err = http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("server did not come up: %v", err)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Start returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Start did not return after ctx ended")
	}
	if err := env.srv.Start(context.Background(), "256.0.0.1:99999"); err == nil {
		t.Fatal("bad listen address accepted")
	}
}

// Concurrent requests for the same uncached tile render it once.
func TestConcurrentMissesRenderOnce(t *testing.T) {
	env := newTileEnv(t, nil)
	env.src.delay.Store(int64(200 * time.Millisecond))
	u := env.ts.URL + tileURL("density", centreTile, "gender=f")
	const n = 10
	bodies := make(chan []byte, n)
	for range n {
		go func() {
			res, body := fetch(t, u, "Accept-Encoding", "gzip")
			if res.StatusCode != 200 {
				t.Errorf("%d", res.StatusCode)
			}
			bodies <- body
		}()
	}
	var first []byte
	for range n {
		b := <-bodies
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatal("concurrent requests got different tiles")
		}
	}
	if calls := env.src.calls.Load(); calls != 1 {
		t.Fatalf("the source was asked %d times for one tile", calls)
	}
}

// A waiter whose leader's client left renders the tile by itself.
func TestSharedRenderSurvivesLeaderCancel(t *testing.T) {
	env := newTileEnv(t, nil)
	env.src.delay.Store(int64(300 * time.Millisecond))
	path := tileURL("density", centreTile, "gender=m")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.ts.URL+path, nil)
		if res, err := plainClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond) // the leader is rendering
	done := make(chan *http.Response, 1)
	go func() {
		res, _ := fetch(t, env.ts.URL+path)
		done <- res
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if res := <-done; res.StatusCode != 200 {
		t.Fatalf("waiter after the leader left: %d", res.StatusCode)
	}
}

// /api/live reaches the client event by event: no gzip, no buffering.
func TestLiveRouteIsNotBuffered(t *testing.T) {
	release := make(chan struct{})
	env := newTileEnv(t, func(c *Config) {
		c.Routes = append(c.Routes, routeFunc(func(e *echo.Echo) {
			e.GET("/api/live", func(c echo.Context) error {
				c.Response().Header().Set("Content-Type", "text/event-stream")
				c.Response().WriteHeader(200)
				c.Response().Write([]byte("event: live\ndata: {}\n\n"))
				c.Response().Flush()
				<-release
				return nil
			})
		}))
	})
	defer close(release)
	req, _ := http.NewRequest(http.MethodGet, env.ts.URL+"/api/live", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("live stream encoded %q", res.Header.Get("Content-Encoding"))
	}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := io.ReadAtLeast(res.Body, buf, len("event: live\n"))
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if !strings.HasPrefix(s, "event: live") {
			t.Fatalf("stream starts %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first event did not arrive while the stream stays open")
	}
}

// JSON documents are gzipped for clients that accept it.
func TestJSONIsCompressed(t *testing.T) {
	env := newTileEnv(t, nil)
	res, body := env.get(t, "/tiles/origins.json", "Accept-Encoding", "gzip")
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("TileJSON not gzipped: %q", res.Header.Get("Content-Encoding"))
	}
	var doc tileJSONDoc
	if err := json.Unmarshal(gunzip(t, body), &doc); err != nil || doc.TileJSON != "3.0.0" {
		t.Fatalf("gzipped TileJSON: %v", err)
	}
}
