// Package app assembles a running flowtiles from its configuration: a
// backend (the embedded demo in memory, or PostGIS mirrored into memory
// within a budget: embedded.go, postgis.go), the reference areas, the tile
// engine, stats, the live hub and the HTTP server. `flowtiles serve` and the
// end-to-end tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/static"
	"github.com/flowtiles/flowtiles/tiles"
)

// Config is the server's configuration, loaded once by `flowtiles serve`.
type Config struct {
	DatabaseURL    string        // empty: embedded demo data in memory
	NoMigrate      bool          // do not apply migrations at start
	MemoryBytes    int64         // memory budget for presence rows mirrored from PostGIS (0: all)
	K              int64         // privacy threshold (tiles.DefaultK when 0)
	NoiseD         int64         // noise bound of small counts (tiles.DefaultNoiseD when 0)
	NoiseGrowth    float64       // growth of the noise bound with √n (tiles.DefaultNoiseGrowth when 0)
	TimeZone       string        // the town's time zone
	IngestToken    []string      // bearer tokens for POST /api/ingest (none: endpoint off)
	CacheBytes     int64         // tile cache size (0: the server's default); below zero: no cache of tiles nor of aggregates
	NoTileCache    bool          // no tile cache, the aggregates kept (serve --cache-mb=0)
	CORSOrigins    []string      // allowed origins ("*" for any)
	BasemapURL     string        // optional external basemap style
	Basemap        string        // optional local PMTiles or MBTiles archive served as the basemap layer
	IngestMaxBytes int64         // body limit of POST /api/ingest
	LiveInterval   time.Duration // period of live events
	DemoRecords    int           // size of the embedded demo (0: the default)
	DemoSeed       uint64        // seed of the embedded demo
	// DemoStart is the first day of the embedded demo's eight months. Zero:
	// the eight months that end today, with today's records after the start
	// time replayed as their time comes (a live demo for the kiosk).
	DemoStart time.Time
	// IngestCORSOrigins may POST /api/ingest from a browser (none: no CORS
	// on it).
	IngestCORSOrigins []string
	// TrustedProxies are reverse proxies whose X-Forwarded-* headers are
	// believed (none: ignored).
	TrustedProxies []netip.Prefix
	// MetricsListen is where /metrics is served: an address of its own,
	// MetricsOnMain for the main listener (public), or "" for nowhere.
	MetricsListen string
	// MaxConns and MaxConnsPerClient cap open connections (server.Config;
	// 0: the defaults).
	MaxConns, MaxConnsPerClient int
	// HeavySlots is how many heavy requests (uncached renders, stats)
	// run at once, QueueWait how long one waits for a slot before a 503
	// (admit.Config; 0: the defaults). The database pool is sized for
	// the slots.
	HeavySlots int
	QueueWait  time.Duration
	// StatsTimeout and IngestTimeout bound a stats report and the storing
	// of a posted batch (server defaults when 0); StatementTimeout is the
	// statement_timeout of the database pool (db.DefaultStatementTimeout
	// when 0; negative: the server's).
	StatsTimeout, IngestTimeout, StatementTimeout time.Duration
	// TileTimeout bounds the rendering of one uncached tile once it has a
	// heavy slot (server default when 0).
	TileTimeout time.Duration
	// Towns are the codes of the towns to serve (serve --towns); none:
	// every town of the database (the demo town when embedded).
	Towns []string
}

// MetricsOnMain is the Config.MetricsListen that serves /metrics on the
// main listener.
const MetricsOnMain = "main"

// App is an assembled flowtiles.
type App struct {
	Server *server.Server
	Hub    *live.Hub   // the first town's live hub
	Hubs   []*live.Hub // every town's, in the order of Towns
	sites  []server.Site
	Mode   string // "embedded" or "postgis"

	cfg     Config
	b       *backend
	basemap *basemap.Archive // nil without --basemap
	ready   atomic.Bool
	log     *slog.Logger
}

// source is what a backend answers from.
type source interface {
	tiles.Source
	tiles.VisitSource
	tiles.Versioned
}

// backend is where the data lives: the embedded demo (newEmbedded) or
// PostGIS mirrored into memory (newPostGIS).
type backend struct {
	mode   string
	sites  []site        // the towns served, each with its data and zones
	places []tiles.Place // reference areas (zones are the sites')
	secret []byte        // keys the noise of published figures
	// fleet are the towns of the fleet: every town of the database, those
	// served and those other server groups serve (nil: the towns served,
	// as when embedded, whose processes share no data).
	fleet []tiles.Town
	// version is the data version of every town's records: it moves
	// whenever any of them changes.
	version func() uint64
	sink    server.Sink
	pool    *pgxpool.Pool // the database (nil when embedded), closed by close
	// ready reports, beside "data loaded", whether the backend can serve
	// (nil: always).
	ready      func(context.Context) error
	collectors []prometheus.Collector
	// tasks run beside the HTTP server until their context ends (the
	// mirror following new batches, the demo's replay); close releases
	// what the backend holds once every task has returned.
	tasks []func(context.Context) error
	close func()
	// demo is the embedded demo's replay (nil with PostGIS).
	demo *replayer
}

// site is one served town and what answers for it: a source of that
// town's records only.
type site struct {
	town tiles.Town
	mem  *memstore.Store // what memory holds of the town (all of it when embedded)
	src  source
	// zones are the town's own (the embedded demo's, or the database's
	// zones of the town: ids per town), events its named events.
	zones  []tiles.Place
	events []server.Event
}

// New builds the application; Serve (or Run) serves it until its context
// ends and releases it then. An App that is never served is released with
// Close.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", cfg.TimeZone, err)
	}
	cat := refdata.Italy()
	ref, err := refdata.Places()
	if err != nil {
		return nil, fmt.Errorf("reference areas: %w", err)
	}
	var arch *basemap.Archive
	if cfg.Basemap != "" {
		if arch, err = basemap.Open(ctx, cfg.Basemap, log); err != nil {
			return nil, err
		}
		m := arch.Metadata()
		log.Info("basemap archive", "file", cfg.Basemap, "schema", m.Schema(), "zooms", fmt.Sprintf("%d-%d", m.MinZoom, m.MaxZoom), "layers", len(m.VectorLayers))
	}
	tokens := server.ParseTokens(cfg.IngestToken...)
	if err := tokens.Err(); err != nil {
		if arch != nil {
			arch.Close()
		}
		return nil, err
	}
	heavy := admit.New(admit.Config{Slots: cfg.HeavySlots, QueueWait: cfg.QueueWait})
	var b *backend
	if cfg.DatabaseURL == "" {
		b, err = newEmbedded(cfg, loc, cat, ref, log)
	} else {
		b, err = newPostGIS(ctx, cfg, heavy.Slots(), cat, ref, log)
	}
	if err != nil {
		if arch != nil {
			arch.Close()
		}
		return nil, err
	}
	a := &App{Mode: b.mode, cfg: cfg, b: b, basemap: arch, log: log}
	if err := b.checkTokenTowns(ctx, tokens); err != nil {
		a.Close()
		return nil, err
	}
	// Loading leaves garbage (row batches, sort buffers) several times the
	// size of the store; give it back to the system once, so that resident
	// memory is what the store holds.
	debug.FreeOSMemory()
	refdata.NameProvinces(b.places)
	if b.version == nil {
		b.version = b.sites[0].src.Version // one mirror's for every town
	}
	// the reference areas, indexed once: every town's gazetteer adds its
	// zones to these (tiles.Gazetteer.With), sharing them
	gaz := tiles.NewGazetteer(b.places)
	// and one budget of aggregates for every town's engine: a server of
	// many towns keeps at most tiles.DefaultCacheBytes of them (none with
	// --cache-mb below zero: no cache at all)
	aggs := tiles.NewAggregates(0)
	if cfg.CacheBytes < 0 {
		aggs = tiles.NewAggregates(-1)
	}
	var sites []server.Site
	for i := range b.sites {
		st, err := a.newSite(&b.sites[i], loc, cat, gaz, aggs)
		if err != nil {
			a.Close()
			return nil, err
		}
		sites = append(sites, st)
		a.Hubs = append(a.Hubs, st.Hub)
	}
	a.sites = sites
	a.Hub = a.Hubs[0]
	poke := func() {
		for _, h := range a.Hubs {
			h.Poke()
		}
	}
	if b.demo != nil {
		b.demo.poke = poke
	}
	routes := []interface{ Register(*echo.Echo) }{
		// each API answers for the request's town (server.SiteOf)
		&server.StatsAPI{Stats: sites[0].Stats, Loc: sites[0].Loc, Resolver: sites[0].Resolver, Heavy: heavy, Timeout: cfg.StatsTimeout},
		&server.LiveAPI{Hub: a.Hub},
		&server.PlacesAPI{Catalog: cat, Places: gaz, Zones: sites[0].Zones},
		&server.EventsAPI{Events: sites[0].Events},
		&server.IngestAPI{
			Tokens: tokens, Sink: b.sink, Decode: presence.Decode,
			MaxBytes: cfg.IngestMaxBytes, Version: b.version, Poke: poke, Timeout: cfg.IngestTimeout,
		},
	}
	a.Server = server.New(server.Config{
		Sites:             sites,
		Fleet:             b.fleet,
		Version:           b.version,
		Ready:             a.readiness,
		Static:            static.FS,
		CORSOrigins:       cfg.CORSOrigins,
		WriteCORSOrigins:  cfg.IngestCORSOrigins,
		TrustedProxies:    cfg.TrustedProxies,
		MetricsOnMain:     cfg.MetricsListen == MetricsOnMain,
		CacheBytes:        tileCacheBytes(cfg),
		BasemapURL:        cfg.BasemapURL,
		Basemap:           arch,
		Log:               log,
		Collectors:        b.collectors,
		Routes:            routes,
		MaxConns:          cfg.MaxConns,
		MaxConnsPerClient: cfg.MaxConnsPerClient,
		Heavy:             heavy,
		TileTimeout:       cfg.TileTimeout,
	})
	a.ready.Store(true)
	return a, nil
}

// newSite assembles what answers for one town: its time zone (the
// server's unless the town names one), its disclosure parameters (the
// server's, or the town's where stricter: every published figure is about
// one town's records, so each town's figures follow its own), its engine,
// stats and live hub over a source of its records only, its zones and its
// events. ref is the reference areas' gazetteer, shared by every town's
// (each adds its zones: a group of 25 towns kept 25 copies of them), aggs
// the budget of aggregates every town's engine shares.
func (a *App) newSite(st *site, loc *time.Location, cat *refdata.Catalog, ref *tiles.Gazetteer, aggs *tiles.Aggregates) (server.Site, error) {
	b, cfg, town := a.b, a.cfg, st.town
	if town.TimeZone != "" && town.TimeZone != loc.String() {
		l, err := town.Location()
		if err != nil {
			return server.Site{}, fmt.Errorf("town %s: time zone %q: %w", town.Code, town.TimeZone, err)
		}
		loc = l
		a.log.Info("the town's time zone", "town", town.Code, "tz", town.TimeZone)
	}
	// a town may ask for more protection than the server's flags, never less
	k, d, growth := town.Stricter(orDefault(cfg.K, tiles.DefaultK), orDefault(cfg.NoiseD, tiles.DefaultNoiseD), orDefault(cfg.NoiseGrowth, tiles.DefaultNoiseGrowth))
	priv, err := tiles.NewPrivacy(k, b.secret, d, growth)
	if err != nil {
		return server.Site{}, fmt.Errorf("town %s: %w", town.Code, err)
	}
	zones := st.zones
	if zones == nil {
		zones = []tiles.Place{}
	}
	events := st.events
	if events == nil {
		events = []server.Event{}
	}
	gaz := ref.With(zones)
	centre := townCentre(town, zones)
	engine := tiles.NewEngine(st.src, gaz, tiles.Config{Privacy: priv, Loc: loc, Town: centre, Aggregates: aggs})
	mem := st.mem
	return server.Site{
		Town:   town,
		Engine: engine,
		Bounds: func() (orb.Bound, bool) {
			// zoom-12 tiles of at least k people, never the records' own extent
			r, ok, err := engine.Extent(context.Background(), mem.Bounds())
			if err != nil || !ok {
				return orb.Bound{}, false
			}
			return worldBound(r)
		},
		Center:   centre,
		Loc:      loc,
		Resolver: refdata.Resolver{Catalog: cat, Zones: zones},
		Stats:    stats.New(stats.Config{Source: st.src, Places: gaz, Catalog: cat, Privacy: priv, Loc: loc}),
		Hub:      live.NewHub(live.Config{Source: st.src, Zones: zones, Privacy: priv, Loc: loc, Interval: cfg.LiveInterval, Log: a.log}),
		Zones:    zones,
		Events:   events,
	}, nil
}

// Towns are the towns the app serves.
func (a *App) Towns() []tiles.Town {
	out := make([]tiles.Town, len(a.b.sites))
	for i, st := range a.b.sites {
		out[i] = st.town
	}
	return out
}

// checkTokenTowns checks at start that the town of every town's ingest
// token is a town the backend has: one of the database's (served here or
// not), or the embedded demo's. A typo in a token's town thus stops the
// start instead of refusing every batch; a new town is added first
// (`flowtiles towns add`), then given tokens. A town removed while the
// server runs has its tokens' batches refused (403, by the sink).
func (b *backend) checkTokenTowns(ctx context.Context, tokens server.Tokens) error {
	want := tokens.Towns()
	if len(want) == 0 {
		return nil
	}
	var have []tiles.Town
	for _, st := range b.sites {
		have = append(have, st.town)
	}
	where, hint := "the embedded demo", ""
	if b.pool != nil {
		var err error
		if have, err = towns.Load(ctx, b.pool); err != nil {
			return fmt.Errorf("--ingest-token: %w", err)
		}
		where = "the database"
	}
	codes := make([]string, len(have))
	for i, t := range have {
		codes[i] = t.Code
	}
	for _, code := range want {
		if towns.Index(have, code) < 0 {
			if b.pool != nil {
				hint = fmt.Sprintf("; add it first with `flowtiles towns add %s --istat CODE`", code)
			}
			return fmt.Errorf("--ingest-token: a token of town %s, which %s does not have (it has %s)%s", code, where, strings.Join(codes, ", "), hint)
		}
	}
	return nil
}

// townCentre is where maps open and flows of records outside every zone
// end: the town's centre when it sets one, else the first zone's point (the
// historic centre), else the middle of its perimeter, else the demo's.
func townCentre(t tiles.Town, zones []tiles.Place) orb.Point {
	switch {
	case t.Center != (orb.Point{}):
		return t.Center
	case len(zones) > 0:
		return zones[0].Point
	case len(t.Perimeter) > 0:
		return t.Perimeter.Bound().Center()
	}
	return demo.Town()
}

func orDefault[T int64 | float64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (a *App) readiness(ctx context.Context) error {
	if !a.ready.Load() {
		return &server.ReadyError{Reason: "data not loaded yet"}
	}
	if a.b.ready != nil {
		return a.b.ready(ctx)
	}
	return nil
}

// Handler is the HTTP handler, for tests that need no background work:
// without Serve, no live events are computed and no batch is followed.
func (a *App) Handler() http.Handler { return a.Server.Handler() }

// Run serves on listen (and /metrics on Config.MetricsListen when it is an
// address) until ctx ends. ready, if not nil, is called with the address
// once the server accepts connections.
func (a *App) Run(ctx context.Context, listen string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		a.Close()
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	var mln net.Listener
	if m := a.cfg.MetricsListen; m != "" && m != MetricsOnMain {
		if mln, err = net.Listen("tcp", m); err != nil {
			ln.Close()
			a.Close()
			return fmt.Errorf("listening on %s (--metrics-listen): %w", m, err)
		}
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return a.Serve(ctx, ln, mln)
}

// Serve runs everything in one group until ctx ends or one of them fails:
// the live hub, the backend's tasks (the mirror following new batches, the
// demo's replay), the HTTP server on ln and, when metrics is not nil,
// /metrics on it. It then shuts the servers down, waits for every
// goroutine, and releases the backend (the database pool last).
func (a *App) Serve(ctx context.Context, ln, metrics net.Listener) error {
	defer a.Close()
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range a.Hubs {
		g.Go(func() error { return quiet(h.Run(gctx)) })
	}
	for _, task := range a.b.tasks {
		g.Go(func() error { return quiet(task(gctx)) })
	}
	if metrics != nil {
		g.Go(func() error { return a.Server.ServeMetrics(gctx, metrics) })
	}
	g.Go(func() error { return a.Server.Serve(gctx, ln) })
	return g.Wait()
}

// quiet is err without the context's end, which is how tasks stop.
func quiet(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// BaseURL is the URL a browser on this machine opens for a listening
// address: an unspecified host (":8080", "0.0.0.0") becomes localhost.
func BaseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// Close releases what the backend holds (the database pool) and the
// basemap archive. Serve calls it; call it only for an App that is never
// served.
func (a *App) Close() {
	if a.b != nil && a.b.close != nil {
		a.b.close()
		a.b.close = nil
	}
	if a.basemap != nil {
		a.basemap.Close()
		a.basemap = nil
	}
}

func worldBound(r tiles.Rect) (orb.Bound, bool) {
	if r.Empty() {
		return orb.Bound{}, false
	}
	lon0, lat0 := tiles.Unproject(float64(r.MinX), float64(r.MaxY))
	lon1, lat1 := tiles.Unproject(float64(r.MaxX), float64(r.MinY))
	return orb.Bound{Min: orb.Point{lon0, lat0}, Max: orb.Point{lon1, lat1}}, true
}

// tileCacheBytes is the server's tile cache size for cfg (below zero: none).
func tileCacheBytes(cfg Config) int64 {
	if cfg.NoTileCache {
		return -1
	}
	return cfg.CacheBytes
}
