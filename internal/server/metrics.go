package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus series.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	cacheHits  prometheus.Counter
	cacheMiss  prometheus.Counter
	cacheBytes prometheus.Gauge
	cacheTiles prometheus.Gauge
	// connections of the main listener (Serve)
	connsOpen    prometheus.Gauge
	connsRefused prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, db func() *pgxpool.Stat) *metrics {
	labels := []string{"route", "layer", "zoom", "status"}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowtiles_http_requests_total", Help: "HTTP requests by route, tile layer, zoom and status.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowtiles_http_request_duration_seconds", Help: "HTTP request latency by route, tile layer, zoom and status.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, labels),
		cacheHits:  prometheus.NewCounter(prometheus.CounterOpts{Name: "flowtiles_tile_cache_hits_total", Help: "Tile requests answered from the in-memory tile cache."}),
		cacheMiss:  prometheus.NewCounter(prometheus.CounterOpts{Name: "flowtiles_tile_cache_misses_total", Help: "Tile requests rendered by the engine."}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowtiles_tile_cache_bytes", Help: "Bytes held by the tile cache (gzipped tiles and keys)."}),
		cacheTiles: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowtiles_tile_cache_tiles", Help: "Tiles held by the tile cache."}),
		connsOpen:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowtiles_http_open_connections", Help: "Open client connections."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowtiles_http_refused_connections_total",
			Help: "Connections answered 503 and closed because their client address had too many open."}),
	}
	reg.MustRegister(m.requests, m.latency, m.cacheHits, m.cacheMiss, m.cacheBytes, m.cacheTiles, m.connsOpen, m.connsRefused)
	if db != nil {
		reg.MustRegister(poolCollector{db})
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// poolCollector exports pgxpool statistics at scrape time.
type poolCollector struct{ stat func() *pgxpool.Stat }

var (
	poolDescs = struct {
		total, idle, acquired, constructing, max, acquires, emptyAcquires, canceled, acquireSeconds *prometheus.Desc
	}{
		total:          prometheus.NewDesc("flowtiles_db_pool_connections", "Connections in the database pool.", nil, nil),
		idle:           prometheus.NewDesc("flowtiles_db_pool_idle_connections", "Idle connections in the pool.", nil, nil),
		acquired:       prometheus.NewDesc("flowtiles_db_pool_acquired_connections", "Connections in use.", nil, nil),
		constructing:   prometheus.NewDesc("flowtiles_db_pool_constructing_connections", "Connections being opened.", nil, nil),
		max:            prometheus.NewDesc("flowtiles_db_pool_max_connections", "The pool's connection limit.", nil, nil),
		acquires:       prometheus.NewDesc("flowtiles_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil),
		emptyAcquires:  prometheus.NewDesc("flowtiles_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", nil, nil),
		canceled:       prometheus.NewDesc("flowtiles_db_pool_canceled_acquires_total", "Acquires cancelled by their context.", nil, nil),
		acquireSeconds: prometheus.NewDesc("flowtiles_db_pool_acquire_seconds_total", "Time spent acquiring connections.", nil, nil),
	}
)

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := poolDescs
	for _, x := range []*prometheus.Desc{d.total, d.idle, d.acquired, d.constructing, d.max, d.acquires, d.emptyAcquires, d.canceled, d.acquireSeconds} {
		ch <- x
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := p.stat()
	if st == nil {
		return
	}
	d := poolDescs
	g := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	c := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	g(d.total, float64(st.TotalConns()))
	g(d.idle, float64(st.IdleConns()))
	g(d.acquired, float64(st.AcquiredConns()))
	g(d.constructing, float64(st.ConstructingConns()))
	g(d.max, float64(st.MaxConns()))
	c(d.acquires, float64(st.AcquireCount()))
	c(d.emptyAcquires, float64(st.EmptyAcquireCount()))
	c(d.canceled, float64(st.CanceledAcquireCount()))
	c(d.acquireSeconds, st.AcquireDuration().Seconds())
}

// Context keys the tile handler sets for the metric labels and access log.
const (
	keyLayer = "flowtiles.layer"
	keyZoom  = "flowtiles.zoom"
	keyCache = "flowtiles.cache"
)

// observe is the outermost middleware: it lets the central error handler
// settle the status, then counts, times and logs the request. It does not
// wrap the response writer, so streams flush as they would without it.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if !s.routes[route] {
			route = "unmatched"
		}
		layer, _ := c.Get(keyLayer).(string)
		zoom, _ := c.Get(keyZoom).(string)
		status := strconv.Itoa(res.Status)
		s.metrics.requests.WithLabelValues(route, layer, zoom, status).Inc()
		s.metrics.latency.WithLabelValues(route, layer, zoom, status).Observe(d.Seconds())
		level := slog.LevelInfo
		switch {
		case res.Status >= 500 && res.Status != statusClientClosed:
			level = slog.LevelWarn
		case route == "/healthz" || route == "/readyz" || route == "/metrics":
			level = slog.LevelDebug
		case res.Status < 400 && c.Get(keyCache) == "hit":
			// Tiles served from the cache are most of the traffic of a
			// busy map and are counted in /metrics; logging each line
			// would cost more than serving it. --log-level debug shows them.
			level = slog.LevelDebug
		}
		if !s.log.Enabled(req.Context(), level) {
			return nil
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method), slog.String("uri", req.RequestURI), slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size), slog.Duration("duration", d), slog.String("remote", c.RealIP()),
		}
		if cache, ok := c.Get(keyCache).(string); ok {
			attrs = append(attrs, slog.String("cache", cache))
		}
		if ua := req.UserAgent(); ua != "" {
			attrs = append(attrs, slog.String("user_agent", ua))
		}
		s.log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}
