package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

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

func newMetrics(reg *prometheus.Registry, extra []prometheus.Collector) *metrics {
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
	reg.MustRegister(extra...)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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
