// Package server is flowtiles' HTTP front: vector tiles, TileJSON, the
// catalog, MapLibre styles, the pages, health and metrics, and the stats,
// live and ingest endpoints registered through Config.Routes. Echo stays
// inside this package: the tile engine and the stores know nothing of HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/tiles"
)

// Config sets up a Server. It is filled once in cmd/flowtiles and not
// changed afterwards.
type Config struct {
	Engine *tiles.Engine
	// Version is the data version: it changes whenever new data lands (in
	// PostGIS mode, on LISTEN/NOTIFY from any instance). Tile cache keys and
	// ETags include it, which is what invalidates them. Nil means 0.
	Version func() uint64
	// Ready reports whether the server can answer (the database is
	// reachable). Nil means always ready.
	Ready func(ctx context.Context) error
	// Bounds is the extent of the data, for TileJSON bounds and center.
	Bounds func() (orb.Bound, bool)
	// Loc is the town's time zone for the filters (the engine's when nil).
	Loc *time.Location
	// Resolver resolves the origin and zone filters.
	Resolver tiles.Resolver
	// Static holds the pages: index.html is served at /, kiosk.html at
	// /kiosk and every file at /static/NAME. Nil: no pages.
	Static fs.FS
	// CORSOrigins are the origins allowed to read the API from a browser
	// (GET and HEAD). Empty means every origin ("*"): GIS and web clients
	// on other origins use the tiles.
	CORSOrigins []string
	// CacheBytes bounds the in-memory tile cache (64 MiB when 0; negative
	// turns it off).
	CacheBytes int64
	// BasemapURL is an optional external basemap style. The served styles
	// name it in their metadata as "flowtiles:basemap" and the catalog
	// lists it; flowtiles never fetches it.
	BasemapURL string
	// Basemap is a local PMTiles or MBTiles archive served as the basemap
	// layer (serve --basemap FILE); nil: the reference context is.
	Basemap *basemap.Archive
	// Log receives access logs and errors (slog.Default() when nil).
	Log *slog.Logger
	// Metrics is the registry behind /metrics (a new one when nil).
	Metrics *prometheus.Registry
	// DBStats reports the database pool (nil in embedded mode).
	DBStats func() *pgxpool.Stat
	// Routes registers further endpoints (StatsAPI, LiveAPI, IngestAPI).
	Routes []interface{ Register(*echo.Echo) }
	// TileTimeout bounds the rendering of one tile (10 s when 0).
	TileTimeout time.Duration
	// ReadyTimeout bounds a /readyz check (3 s when 0).
	ReadyTimeout time.Duration
	// RetryAfter is what 503 responses advise (5 s when 0).
	RetryAfter time.Duration
}

// Server is the flowtiles HTTP server.
type Server struct {
	e       *echo.Echo
	cfg     Config
	log     *slog.Logger
	cache   *tileCache
	metrics *metrics
	routes  map[string]bool // registered route paths, for metric labels
	handler http.Handler

	flightMu sync.Mutex
	flights  map[string]*flight // tiles being rendered, by cache key
}

// New builds the server and registers every route.
func New(cfg Config) *Server {
	if cfg.Version == nil {
		cfg.Version = func() uint64 { return 0 }
	}
	if cfg.Loc == nil {
		cfg.Loc = time.UTC
		if cfg.Engine != nil {
			cfg.Loc = cfg.Engine.Location()
		}
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
		cfg.Metrics.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	if cfg.TileTimeout <= 0 {
		cfg.TileTimeout = 10 * time.Second
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 3 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Log, routes: map[string]bool{}, flights: map[string]*flight{}}
	s.metrics = newMetrics(cfg.Metrics, cfg.DBStats)
	s.cache = newTileCache(cfg.CacheBytes, s.metrics)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe) // outermost: sees the final status of every request
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "method", c.Request().Method, "uri", c.Request().RequestURI, "err", err, "stack", string(stack))
			return err
		},
		DisablePrintStack: true,
	}))
	origins := cfg.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:  origins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead},
		ExposeHeaders: []string{"ETag", "Retry-After"},
		MaxAge:        86400,
	}))
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{
		// Tiles compress themselves (the cache holds gzipped bytes); the
		// live stream must reach the client unbuffered; promhttp
		// negotiates its own compression.
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/api/live") || p == "/metrics" ||
				strings.HasSuffix(p, ".mvt") || strings.HasSuffix(p, ".pbf")
		},
		MinLength: 1024,
	}))

	e.GET("/tiles", s.catalog)
	e.GET("/tiles/:file", s.tileJSON)
	e.GET("/tiles/:layer/:file", s.tilesetMetadata)
	e.GET("/tiles/:layer/:z/:x/:file", s.tile)
	e.GET("/styles/:file", s.style)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	s.pages(e)
	s.basemapRoutes(e)
	for _, r := range cfg.Routes {
		r.Register(e)
	}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	s.e = e
	s.handler = headAsGet(e)
	return s
}

// headAsGet routes HEAD requests as GET (Echo routes HEAD only where it is
// registered): net/http drops the body of a response to HEAD by itself, as
// it reads the method of its own request, which this leaves alone.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := *r
			get.Method = http.MethodGet
			r = &get
		}
		h.ServeHTTP(w, r)
	})
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Echo returns the underlying Echo, to register further routes.
func (s *Server) Echo() *echo.Echo { return s.e }

// Start serves on listen until ctx ends, then shuts down gracefully:
// requests in flight get up to 10 seconds to finish (streams are cut after
// that). It returns nil after a shutdown caused by ctx.
func (s *Server) Start(ctx context.Context, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Start on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// No WriteTimeout: /api/live streams for as long as the client
		// stays; tiles are bounded by TileTimeout instead.
	}
	s.log.Info("serving", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("graceful shutdown incomplete, closing connections", "err", err)
		err = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
