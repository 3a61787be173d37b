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
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

// Config sets up a Server. It is filled once in cmd/flowtiles and not
// changed afterwards.
type Config struct {
	// Sites are the towns served, the first by default, each with what
	// answers for it: their pages and documents are under /t/{code}/ (see
	// towns.go), and every data path answers for the town of its prefix or
	// town= parameter. Without Sites, the server serves one site made of
	// Engine, Bounds, Center, Loc and Resolver, for each of Towns (or for
	// no town at all).
	Sites []Site

	Engine *tiles.Engine
	// Version is the data version: it changes whenever new data lands (in
	// PostGIS mode, on LISTEN/NOTIFY from any instance). Tile cache keys and
	// ETags include it, which is what invalidates them. Nil means 0.
	Version func() uint64
	// Ready reports whether the server can answer (the database is
	// reachable). Nil means always ready.
	Ready func(ctx context.Context) error
	// Bounds is where the data lies, for TileJSON bounds (and the centre
	// without Center).
	Bounds func() (orb.Bound, bool)
	// Center is where maps open (the town centre), for TileJSON and
	// styles; the zero point means the middle of Bounds.
	Center orb.Point
	// Loc is the town's time zone for the filters (the engine's when nil).
	Loc *time.Location
	// Resolver resolves the origin and zone filters.
	Resolver tiles.Resolver
	// Towns are the towns of the one site made of the fields above (see
	// Sites): their pages and
	// documents are under /t/{code}/ (see towns.go).
	Towns []tiles.Town
	// Fleet are the towns of the fleet the server belongs to: every town
	// of the database, whether this server serves it (Sites) or another
	// server group behind the same reverse proxy does (serve --towns).
	// /api/towns lists them all, / is the town picker when there are
	// several, and /t/{town}/ of a town another group serves is a 404
	// that says so. Empty: the fleet is the towns served; a town served
	// but missing from Fleet is listed after Fleet's.
	Fleet []tiles.Town
	// Static holds the pages: index.html is served at /, kiosk.html at
	// /kiosk and every file at /static/NAME. Nil: no pages.
	Static fs.FS
	// CORSOrigins are the origins allowed to read the API from a browser
	// (GET and HEAD). Empty means every origin ("*"): GIS and web clients
	// on other origins use the tiles.
	CORSOrigins []string
	// WriteCORSOrigins are the origins allowed to call the write endpoints
	// (POST /api/ingest) from a browser. Empty: none (no CORS headers on
	// them, whatever CORSOrigins says).
	WriteCORSOrigins []string
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For, -Host, -Proto and -Prefix headers are believed
	// (URLs in TileJSON and styles, the client address in logs and
	// connection limits). Empty: the headers are ignored.
	TrustedProxies []netip.Prefix
	// MetricsOnMain serves /metrics on the main handler (public). Off:
	// only MetricsHandler serves it, on a listener of its own.
	MetricsOnMain bool
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
	// Collectors are more Prometheus series for /metrics, such as the
	// database pool's (db.PoolCollector).
	Collectors []prometheus.Collector
	// Routes registers further endpoints (StatsAPI, LiveAPI, IngestAPI).
	Routes []interface{ Register(*echo.Echo) }
	// Heavy is the pool that uncached renders and other heavy work wait
	// for (admit.New with its defaults when nil); its metrics are served
	// on /metrics. Cached tiles, health, metrics, pages, styles and
	// documents never wait for it. Give the same pool to StatsAPI.
	Heavy *admit.Pool
	// TileTimeout bounds the rendering of one tile (10 s when 0), from
	// the moment it has a slot of Heavy.
	TileTimeout time.Duration
	// ReadyTimeout bounds a /readyz check (3 s when 0).
	ReadyTimeout time.Duration
	// RetryAfter is what 503 responses advise (5 s when 0).
	RetryAfter time.Duration

	// Connections (Serve). Zero values take the defaults.
	//
	// ReadHeaderTimeout bounds reading a request's headers (10 s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a request's body, from the start of its
	// handler (60 s): a client that sends its body slower is cut off (the
	// ingest endpoint answers 408). The whole request, headers and body,
	// has ReadHeaderTimeout + BodyTimeout.
	BodyTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response (60 s: a large tile or table to a slow
	// client). The live stream sets its own deadline for every event.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (60 s).
	IdleTimeout time.Duration
	// MaxConns caps the open connections (4096, or fewer when the
	// process's file descriptor limit is lower: the limit less a reserve
	// for the database pool and files). Beyond it new connections wait in
	// the kernel's queue until one closes.
	MaxConns int
	// MaxConnsPerClient caps the open connections from one client address
	// (64; negative: no cap): beyond it a connection is answered 503 and
	// closed. Trusted proxies are exempt.
	MaxConnsPerClient int
	// MaxQueryBytes bounds a request's query string (8 KiB; 414 beyond).
	MaxQueryBytes int
	// MaxQueryValues bounds the values of one query parameter, repeated or
	// comma-separated (100; a 400 naming the parameter beyond).
	MaxQueryValues int
}

// Site is one town served and what answers for it. A tile of two towns is
// the same tile of the global grid, answered by each town's engine for
// its own records.
type Site struct {
	Town tiles.Town
	// Engine renders the town's tiles (from a source of its records only).
	Engine *tiles.Engine
	// Bounds is where the town's data lies, for TileJSON bounds (and the
	// centre without Center).
	Bounds func() (orb.Bound, bool)
	// Center is where maps open; the zero point means the middle of Bounds.
	Center orb.Point
	// Loc is the town's time zone for the filters (the engine's when nil).
	Loc *time.Location
	// Resolver resolves the origin and zone filters (the town's zones).
	Resolver tiles.Resolver
	// Stats, Hub, Zones and Events answer /api/stats, /api/live,
	// /api/zones and /api/events for the town (the APIs of Config.Routes
	// read them through SiteOf; nil: the API's own).
	Stats  *stats.Service
	Hub    *live.Hub
	Zones  []tiles.Place
	Events []Event
}

// Server is the flowtiles HTTP server.
type Server struct {
	e       *echo.Echo
	cfg     Config
	log     *slog.Logger
	cache   *tileCache
	metrics *metrics
	sites   []*Site         // at least one
	fleet   []fleetTown     // the fleet's towns (Config.Fleet and the sites)
	routes  map[string]bool // registered route paths, for metric labels
	handler http.Handler

	flightMu sync.Mutex
	flights  map[string]*flight // tiles being rendered, by cache key
}

// newSites makes the server's sites from cfg (see Config.Sites), with
// their time zones.
func newSites(cfg Config) []*Site {
	var out []*Site
	for _, st := range cfg.Sites {
		out = append(out, &st)
	}
	if len(out) == 0 {
		one := Site{Engine: cfg.Engine, Bounds: cfg.Bounds, Center: cfg.Center, Loc: cfg.Loc, Resolver: cfg.Resolver}
		for _, t := range cfg.Towns {
			st := one
			st.Town = t
			out = append(out, &st)
		}
		if len(out) == 0 {
			out = append(out, &one)
		}
	}
	for _, st := range out {
		if st.Loc == nil {
			st.Loc = time.UTC
			if st.Engine != nil {
				st.Loc = st.Engine.Location()
			}
		}
	}
	return out
}

// New builds the server and registers every route.
func New(cfg Config) *Server {
	if cfg.Version == nil {
		cfg.Version = func() uint64 { return 0 }
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
		cfg.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	if cfg.MaxQueryBytes <= 0 {
		cfg.MaxQueryBytes = DefaultMaxQueryBytes
	}
	if cfg.MaxQueryValues <= 0 {
		cfg.MaxQueryValues = DefaultMaxQueryValues
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.Heavy == nil {
		cfg.Heavy = admit.New(admit.Config{})
	}
	s := &Server{cfg: cfg, log: cfg.Log, routes: map[string]bool{}, flights: map[string]*flight{}, sites: newSites(cfg)}
	s.fleet = fleetOf(cfg.Fleet, s.sites)
	s.metrics = newMetrics(cfg.Metrics, append([]prometheus.Collector{cfg.Heavy}, cfg.Collectors...))
	s.cache = newTileCache(cfg.CacheBytes, s.metrics)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = s.clientIP
	e.Pre(s.townPrefix)
	e.Use(s.observe) // outermost: sees the final status of every request
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "method", c.Request().Method, "uri", c.Request().RequestURI, "err", err, "stack", string(stack))
			return err
		},
		DisablePrintStack: true,
	}))
	e.Use(s.limitQuery)
	origins := cfg.CORSOrigins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	// Reads (GET, HEAD) are open to the configured origins; writes get
	// CORS only from WriteCORSOrigins, never from a wildcard meant for
	// tiles, and with a fixed list of request headers. With the wildcard
	// every read carries "*", whatever its Origin, so that responses do
	// not vary by Origin (a shared cache keeps one copy).
	if len(origins) == 1 && origins[0] == "*" {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if r := c.Request(); r.Method == http.MethodGet || r.Method == http.MethodHead {
					h := c.Response().Header()
					h.Set(echo.HeaderAccessControlAllowOrigin, "*")
					h.Set(echo.HeaderAccessControlExposeHeaders, "ETag, Retry-After")
				}
				return next(c)
			}
		})
	}
	e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper: func(c echo.Context) bool {
			if isWrite(c) {
				return true
			}
			m := c.Request().Method
			return len(origins) == 1 && origins[0] == "*" && (m == http.MethodGet || m == http.MethodHead)
		},
		AllowOrigins:  origins,
		AllowMethods:  []string{http.MethodGet, http.MethodHead},
		ExposeHeaders: []string{"ETag", "Retry-After"},
		MaxAge:        86400,
	}))
	if len(cfg.WriteCORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			Skipper:       func(c echo.Context) bool { return !isWrite(c) },
			AllowOrigins:  cfg.WriteCORSOrigins,
			AllowMethods:  []string{http.MethodPost},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderContentEncoding, "Idempotency-Key"},
			ExposeHeaders: []string{"Retry-After"},
			MaxAge:        86400,
		}))
	}
	// Every buffered response is encoded here (brotli, gzip or none) and
	// gets its Content-Length; tiles come encoded from the cache.
	e.Use(s.compress)

	e.GET("/tiles", s.catalog)
	e.GET("/tiles/:file", s.tileJSON)
	e.GET("/tiles/:layer/:file", s.tilesetMetadata)
	e.GET("/tiles/:layer/:z/:x/:file", s.tile)
	e.GET("/styles/:file", s.style)
	e.GET("/api/towns", s.townsDoc)
	e.GET("/api/town", s.townInfo)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if cfg.MetricsOnMain {
		e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	}
	s.pages(e)
	s.basemapRoutes(e)
	s.ogcRoutes(e)
	for _, r := range cfg.Routes {
		r.Register(e)
	}
	for _, r := range e.Routes() {
		s.routes[r.Path] = true
	}
	s.e = e
	s.handler = s.front(e)
	return s
}

// isWrite reports whether a request, or the request a CORS preflight asks
// about, changes data (POST /api/ingest and any other method than GET and
// HEAD).
func isWrite(c echo.Context) bool {
	r := c.Request()
	m := r.Method
	if m == http.MethodOptions {
		m = r.Header.Get(echo.HeaderAccessControlRequestMethod)
		if m == "" {
			return false
		}
	}
	return m != http.MethodGet && m != http.MethodHead
}

// headKey marks, in a request's context, a HEAD request routed as GET.
type headKey struct{}

// isHead reports whether r answers a HEAD request (routed as GET).
func isHead(r *http.Request) bool {
	return r.Method == http.MethodHead || r.Context().Value(headKey{}) != nil
}

// front is the outermost handler.
//
// It routes HEAD requests as GET (Echo routes HEAD only where it is
// registered): net/http drops the body of a response to HEAD by itself, as
// it reads the method of its own request, which this leaves alone. Handlers
// that stream tell HEAD apart with isHead.
//
// A request with a body has BodyTimeout to send it from now. It is
// answered with "Connection: close", and its connection closed without
// reading the rest of the body, unless the handler read the body whole and
// took the header off (the ingest endpoint does). Otherwise net/http would
// read up to 256 KiB of an unread body, before sending the response and
// again before closing, so that a 401, or a /healthz with a body that never
// comes, would hold its connection until the body timeout.
//
// (Errors of ResponseController mean the connection takes no deadline, as
// in a test recorder.)
func (s *Server) front(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unread := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
		if unread {
			w.Header().Set(echo.HeaderConnection, "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
		}
		if r.Method == http.MethodHead {
			get := r.WithContext(context.WithValue(r.Context(), headKey{}, true))
			get.Method = http.MethodGet
			r = get
		}
		h.ServeHTTP(w, r)
		if unread && w.Header().Get(echo.HeaderConnection) == "close" {
			// the connection closes: stop waiting for the body
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		}
	})
}

// MetricsHandler serves the Prometheus metrics (for a listener of their
// own: see Config.MetricsOnMain).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
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

// Serve is Start on a listener the caller opened. Connections are capped
// overall and per client address, and every phase of a request has a
// timeout (Config).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, s.limitListener(ln), s.handler, "serving")
}

// ServeMetrics serves MetricsHandler on ln until ctx ends.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.MetricsHandler(), "serving metrics")
}

func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler, what string) error {
	srv := s.httpServer(h)
	s.log.Info(what, "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", what, err)
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
		return fmt.Errorf("%s: %w", what, serr)
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// httpServer is the net/http server of h with the configured timeouts.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		// ReadTimeout runs from the request's first byte to the end of its
		// body (front gives the body its own deadline too); net/http lifts
		// it once the body is read, so it never cuts a long response (the
		// live stream) short.
		ReadTimeout:    s.cfg.ReadHeaderTimeout + s.cfg.BodyTimeout,
		WriteTimeout:   s.cfg.WriteTimeout,
		IdleTimeout:    s.cfg.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// maxHeaderBytes bounds the request line and headers (net/http answers 431
// beyond); the query string has its own, smaller limit (MaxQueryBytes).
const maxHeaderBytes = 64 << 10
