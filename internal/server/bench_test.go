package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// BenchmarkTileRequest measures a whole tile request through the handler:
// from the cache (gzip and plain, as GDAL asks) and rendered (with the
// cache off).
func BenchmarkTileRequest(b *testing.B) {
	u := tileURL("density", centreTile, "")
	run := func(b *testing.B, h http.Handler, enc string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, u, nil)
			if enc != "" {
				req.Header.Set("Accept-Encoding", enc)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body)
			}
		}
	}
	// access logs as `flowtiles serve` writes them (info level), to a sink,
	// and figures perturbed as a server publishes them
	info := func(c *Config) {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
		e := c.Engine
		c.Engine = tiles.NewEngine(e.Source(), e.Places(), tiles.Config{Privacy: sourcetest.Privacy(b, 15), Loc: e.Location(), Town: sourcetest.Centre})
	}
	cached := newTileEnv(b, info).srv.Handler()
	uncached := newTileEnv(b, func(c *Config) { info(c); c.CacheBytes = -1 }).srv.Handler()
	b.Run("cached-gzip", func(b *testing.B) { run(b, cached, "gzip") })
	b.Run("cached-plain", func(b *testing.B) { run(b, cached, "") })
	b.Run("rendered", func(b *testing.B) { run(b, uncached, "gzip") })
}
