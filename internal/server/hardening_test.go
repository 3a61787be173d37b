package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
)

// Query strings are bounded, and so are the values of one parameter: a
// 400 names the parameter.
func TestQueryLimits(t *testing.T) {
	env := newTileEnv(t, nil)
	huge := "origin=" + strings.Repeat("054017,", 140_000) // ~1 MB, as tried
	res, body := env.get(t, "/tiles/density.json?"+huge)
	if res.StatusCode != http.StatusRequestURITooLong || !strings.Contains(string(body), `"error":"query string of`) {
		t.Errorf("1 MB query: %d %.200s", res.StatusCode, body)
	}
	if len(body) > 1000 {
		t.Errorf("answer of %d bytes", len(body))
	}
	many := func(n int) string { return strings.TrimSuffix(strings.Repeat("054017,", n), ",") }
	for _, q := range []string{"origin=" + many(101), strings.Repeat("age=18-24&", 101), "hours=" + strings.Repeat("8,", 101)} {
		param, _, _ := strings.Cut(q, "=")
		res, body := env.get(t, "/tiles/density/14/1/1.mvt?"+q)
		m := jsonError(t, res, body, http.StatusBadRequest, param)
		if !strings.Contains(m["error"], "values: at most 100") || len(body) > 500 {
			t.Errorf("%s: %s", param, body)
		}
	}
	// the same on stats, and any parameter
	res, body = env.get(t, "/api/stats?zone=centro&x="+many(200))
	jsonError(t, res, body, http.StatusBadRequest, "x")
	// within the limits: served
	if res, body := env.get(t, "/tiles/density.json?origin="+many(100)); res.StatusCode != 200 {
		t.Errorf("100 origins: %d %s", res.StatusCode, body)
	}
}

// /metrics is not on the main handler unless asked for; MetricsHandler
// serves it for a listener of its own.
func TestMetricsListener(t *testing.T) {
	env := newTileEnv(t, nil)
	env.get(t, "/healthz")
	res, body := env.get(t, "/metrics")
	jsonError(t, res, body, http.StatusNotFound, "")
	ms := httptest.NewServer(env.srv.MetricsHandler())
	defer ms.Close()
	res, body = fetch(t, ms.URL+"/metrics")
	if res.StatusCode != 200 || !strings.Contains(string(body), `flowtiles_http_requests_total{layer="",route="/healthz"`) {
		t.Fatalf("metrics listener: %d %.300s", res.StatusCode, body)
	}
	on := newTileEnv(t, func(c *Config) { c.MetricsOnMain = true })
	if res, _ := on.get(t, "/metrics"); res.StatusCode != 200 {
		t.Fatalf("metrics on main when asked: %d", res.StatusCode)
	}
}

// The write endpoint gets no CORS unless origins are configured for it:
// neither the tiles' "*" nor a reflection of any requested header.
func TestWriteEndpointCORS(t *testing.T) {
	preflight := func(env *servedEnv, origin string) http.Header {
		req, _ := http.NewRequest(http.MethodOptions, env.url+"/api/ingest", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-evil")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	postFrom := func(env *servedEnv, origin string) http.Header {
		req, _ := http.NewRequest(http.MethodPost, env.url+"/api/ingest", strings.NewReader("x"))
		req.Header.Set("Origin", origin)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	env := newServedEnv(t, nil) // reads: CORS for every origin
	if h := preflight(env, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("preflight of a write from anywhere: %v", h)
	}
	if h := postFrom(env, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("write from anywhere: %v", h)
	}
	res, _ := fetch(t, env.url+"/tiles/density.json", "Origin", "https://evil.example")
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("reads lost their CORS: %v", res.Header)
	}
	town := newServedEnv(t, func(c *Config) { c.WriteCORSOrigins = []string{"https://town.example"} })
	h := preflight(town, "https://town.example")
	if h.Get("Access-Control-Allow-Origin") != "https://town.example" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "x-evil") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
		t.Errorf("preflight from the configured origin: %v", h)
	}
	if h := postFrom(town, "https://town.example"); h.Get("Access-Control-Allow-Origin") != "https://town.example" {
		t.Errorf("write from the configured origin: %v", h)
	}
	if h := preflight(town, "https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %v", h)
	}
}

// An RFC 3339 from/to whose "+" came unencoded (a space) is read as the
// offset; a bad timestamp's error says to encode "+".
func TestPlusInTimestamps(t *testing.T) {
	env := newTileEnv(t, nil)
	var docs [2]tileJSONDoc
	for i, from := range []string{"2025-03-01T08:00:00+01:00", url.QueryEscape("2025-03-01T08:00:00+01:00")} {
		res, body := env.get(t, "/tiles/density.json?from="+from+"&to=2025-03-02T08:00:00+01:00")
		if res.StatusCode != 200 {
			t.Fatalf("from=%s: %d %s", from, res.StatusCode, body)
		}
		json.Unmarshal(body, &docs[i])
	}
	if docs[0].Tiles[0] != docs[1].Tiles[0] || !strings.Contains(docs[0].Tiles[0], "from=2025-03-01T07%3A00%3A00Z") {
		t.Errorf("unencoded + read otherwise: %s vs %s", docs[0].Tiles[0], docs[1].Tiles[0])
	}
	res, body := env.get(t, "/tiles/density.json?from=2025-03-01T08:00+01:00")
	m := jsonError(t, res, body, http.StatusBadRequest, "from")
	if !strings.Contains(m["error"], "%2B") {
		t.Errorf("error does not say to encode +: %s", m["error"])
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func postRaw(t testing.TB, u string, body []byte, header ...string) (*http.Response, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u+"/api/ingest", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/csv")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// The request goes over a connection of its own, its body written
	// while the response is read: a server that answers before reading
	// the whole body (a bomb, a bad row) closes the connection, and
	// net/http's client, whose write then fails, returns that error rather
	// than the response whenever the write's failure comes first (a busy
	// machine made TestIngestContentEncoding fail once so).
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go req.Write(conn) // (error ignored) a write cut by the server's answer is expected
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%d: not JSON: %.300s", res.StatusCode, raw)
	}
	return res, out, raw
}

func csvBody(n int, prefix string) []byte {
	var b strings.Builder
	b.WriteString("observed_at,lon,lat,visitor_id\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,%v,%v,%s%d\n", time.Now().Add(-time.Minute).Format(time.RFC3339), sourcetest.Centre[0], sourcetest.Centre[1], prefix, i)
	}
	return []byte(b.String())
}

// gzip bodies are read (within the limit once decompressed); other
// encodings are a 415 naming the header.
func TestIngestContentEncoding(t *testing.T) {
	env := newServedEnv(t, nil) // 1 MiB limit
	body := csvBody(20, "gz")
	res, out, _ := postRaw(t, env.url, gzipped(body), "Content-Encoding", "gzip")
	if res.StatusCode != http.StatusCreated || out["records"] != 20.0 {
		t.Fatalf("gzip body: %d %v", res.StatusCode, out)
	}
	// the same records uncompressed are the same batch
	if res, out, _ := postRaw(t, env.url, body); res.StatusCode != http.StatusOK || out["duplicate"] != true {
		t.Errorf("plain after gzip: %d %v", res.StatusCode, out)
	}
	// a bomb: 64 MiB of zeros in 64 KiB
	bomb := gzipped(make([]byte, 64<<20))
	res, out, _ = postRaw(t, env.url, bomb, "Content-Encoding", "gzip")
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(fmt.Sprint(out["error"]), "decompressed") {
		t.Errorf("gzip bomb: %d %v", res.StatusCode, out)
	}
	res, out, _ = postRaw(t, env.url, []byte("not gzip at all"), "Content-Encoding", "gzip")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error"]), "gzip") {
		t.Errorf("bad gzip: %d %v", res.StatusCode, out)
	}
	res, out, _ = postRaw(t, env.url, body, "Content-Encoding", "br")
	if res.StatusCode != http.StatusUnsupportedMediaType || out["param"] != "Content-Encoding" {
		t.Errorf("brotli: %d %v", res.StatusCode, out)
	}
	if n := env.store.Stats().Rows; n != 20 {
		t.Errorf("%d rows, want 20", n)
	}
}

// Error answers stay small whatever the body: a bad value is quoted by a
// short prefix, rows are listed up to 100 and counted.
func TestIngestErrorsAreBounded(t *testing.T) {
	env := newServedEnv(t, func(c *Config) {
		c.Routes[1].(*IngestAPI).MaxBytes = 16 << 20
	})
	long := []byte("observed_at,lon,lat\n" + strings.Repeat("9", 4<<20) + ",12,42\n")
	res, _, raw := postRaw(t, env.url, long)
	if res.StatusCode != http.StatusBadRequest || len(raw) > 4096 {
		t.Errorf("a 4 MB value: %d, %d bytes: %.300s", res.StatusCode, len(raw), raw)
	}
	field := []byte("observed_at,lon,lat\n2025-03-01T08:00:00Z,12,\"" + strings.Repeat("1", 100_000) + "\"\n")
	res, _, raw = postRaw(t, env.url, field)
	if res.StatusCode != http.StatusBadRequest || len(raw) > 4096 || !strings.Contains(string(raw), "bytes)") {
		t.Errorf("a 100 kB coordinate: %d, %d bytes: %.300s", res.StatusCode, len(raw), raw)
	}
	var many strings.Builder
	many.WriteString("observed_at,lon,lat\n")
	for range 200_000 {
		many.WriteString("soon,12,42\n")
	}
	res, out, raw := postRaw(t, env.url, []byte(many.String()))
	errs, _ := out["errors"].([]any)
	if res.StatusCode != http.StatusBadRequest || out["error_count"] != 200_000.0 || len(errs) != presence.MaxListedErrors || len(raw) > 64<<10 {
		t.Errorf("200,000 bad rows: %d, count %v, %d listed, %d bytes", res.StatusCode, out["error_count"], len(errs), len(raw))
	}
	if n := env.store.Stats().Rows; n != 0 {
		t.Errorf("%d rows stored", n)
	}
}

// A database that takes no writes is an outage (503, Retry-After), not an
// internal error.
func TestReadOnlyDatabaseIs503(t *testing.T) {
	env := newTileEnv(t, func(c *Config) {
		c.Routes = append(c.Routes, routeFunc(func(e *echo.Echo) {
			e.POST("/write", func(c echo.Context) error {
				// as a store reports it (db.Wrap classifies the SQLSTATE)
				return db.Wrap(c.Request().Context(), "storing", &pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"})
			})
		}))
	})
	res, body := do(t, http.MethodPost, env.ts.URL+"/write")
	m := jsonError(t, res, body, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" || !strings.Contains(m["error"], "read-only") || strings.Contains(m["error"], "INSERT") {
		t.Errorf("read-only: Retry-After %q, %s", res.Header.Get("Retry-After"), body)
	}
}
