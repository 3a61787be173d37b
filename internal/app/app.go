// Package app assembles a running flowtiles from its configuration: the
// store (embedded demo in memory, or PostGIS mirrored into memory within a
// budget), the reference areas, the tile engine, stats, the live hub and the
// HTTP server. `flowtiles serve` and the end-to-end tests both use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/basemap"
	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/live"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/static"
	"github.com/flowtiles/flowtiles/tiles"
)

// Config is the server's configuration, loaded once by `flowtiles serve`.
type Config struct {
	DatabaseURL    string        // empty: embedded demo data in memory
	NoMigrate      bool          // do not apply migrations at start
	MemoryBytes    int64         // memory budget for presence rows mirrored from PostGIS (0: all)
	K              int64         // privacy threshold (tiles.DefaultK when 0)
	TimeZone       string        // the town's time zone
	IngestToken    []string      // bearer tokens for POST /api/ingest (none: endpoint off)
	CacheBytes     int64         // tile cache size
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
}

// App is an assembled flowtiles.
type App struct {
	Server *server.Server
	Hub    *live.Hub
	Mode   string // "embedded" or "postgis"

	pool    *pgxpool.Pool
	basemap *basemap.Archive
	mirror  *pgstore.Mirror
	sink    live.Sink
	// pending are the embedded demo's records still in the future, in
	// time order: Background replays them as their time comes.
	pending []presence.Record
	ready   atomic.Bool
	log     *slog.Logger
}

// bytesPerRow is the memory a mirrored presence row costs (memstore
// benchmark: 26 B of columns, ~32 B with indexes and the visitor map).
const bytesPerRow = 40

// New builds the application; Run serves it. Close releases it.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", cfg.TimeZone, err)
	}
	cat := refdata.Italy()
	a := &App{log: log}
	if cfg.Basemap != "" {
		if a.basemap, err = basemap.Open(ctx, cfg.Basemap, log); err != nil {
			return nil, err
		}
		m := a.basemap.Metadata()
		log.Info("basemap archive", "file", cfg.Basemap, "schema", m.Schema(), "zooms", fmt.Sprintf("%d-%d", m.MinZoom, m.MaxZoom), "layers", len(m.VectorLayers))
	}
	defer func() {
		if a.Server == nil {
			a.Close() // a failed start leaves nothing behind
		}
	}()
	var (
		src interface {
			tiles.Source
			tiles.VisitSource
			tiles.Versioned
		}
		places   []tiles.Place
		zones    []tiles.Place
		sink     live.Sink
		bounds   func() (orb.Bound, bool)
		town     = demo.Town()
		dbStats  func() *pgxpool.Stat
		readyErr func(context.Context) error
		// changes: the span of each new data version (embedded mode; with
		// PostGIS another instance's batch is unknown here, and clients
		// refetch everything)
		changes *live.Changes
		events  []server.Event // the town's named events (the demo's festival)
	)
	ref, err := refdata.Places()
	if err != nil {
		return nil, fmt.Errorf("reference areas: %w", err)
	}
	mem := memstore.New(cat)
	bounds = func() (orb.Bound, bool) { return worldBound(mem.Bounds()) }

	if cfg.DatabaseURL == "" {
		a.Mode = "embedded"
		start := time.Now()
		zones = demo.Zones()
		dc := demo.Config{Seed: cfg.DemoSeed, Records: cfg.DemoRecords, Start: cfg.DemoStart}
		replayFrom := time.Time{}
		if dc.Start.IsZero() {
			now := time.Now().In(loc)
			dc.Start = time.Date(now.Year(), now.Month()-8, now.Day()+1, 0, 0, 0, 0, loc)
			replayFrom = now
		}
		for _, ev := range demo.Events(dc.Start.In(loc), 8) {
			events = append(events, server.Event{Name: ev.Name, Names: ev.Names, From: ev.From, To: ev.To})
		}
		n, pending, err := loadDemo(mem, zones, dc, replayFrom)
		if err != nil {
			return nil, fmt.Errorf("demo data: %w", err)
		}
		a.pending = pending
		places = append(ref, zones...)
		src = mem
		changes = live.NewChanges()
		sink = live.NewMemorySink(mem, zones).TrackChanges(changes)
		log.Info("no DATABASE_URL: serving the embedded Deruta demo data from memory",
			"records", n, "from", dc.Start.Format(time.DateOnly), "months", 8, "replayed_today", len(pending), "took", time.Since(start).Round(time.Millisecond))
	} else {
		a.Mode = "postgis"
		pool, err := db.Open(ctx, cfg.DatabaseURL, 10*time.Second)
		if err != nil {
			return nil, err
		}
		a.pool = pool
		if !cfg.NoMigrate {
			res, err := db.Migrate(ctx, pool)
			if err != nil {
				pool.Close()
				return nil, err
			}
			for _, r := range res {
				log.Info("migration applied", "version", r.Version, "name", r.Name)
			}
		}
		store := pgstore.New(pool, cat)
		dbPlaces, err := store.Places(ctx)
		if err != nil {
			pool.Close()
			return nil, err
		}
		places, zones = mergePlaces(ref, dbPlaces, log)
		since, err := store.BudgetSince(ctx, cfg.MemoryBytes, bytesPerRow)
		if err != nil {
			pool.Close()
			return nil, err
		}
		start := time.Now()
		a.mirror = store.NewMirror(mem, since)
		n, err := a.mirror.Load(ctx)
		if err != nil {
			pool.Close()
			return nil, err
		}
		log.Info("PostGIS presence mirrored into memory", "rows", n, "since", since, "took", time.Since(start).Round(time.Millisecond))
		src = pgstore.NewTiered(mem, store, since)
		// reads the zone table per batch; the mirror catches up before the
		// response, so a client reads its own batch from this instance
		sink = mirroredSink{ingest.NewSink(pool, nil), a.mirror, log}
		dbStats = pool.Stat
		readyErr = func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			}
			return nil
		}
	}
	// Loading leaves garbage (row batches, sort buffers) several times the
	// size of the store; give it back to the system once, so that resident
	// memory is what the store holds.
	debug.FreeOSMemory()
	if len(zones) > 0 {
		town = zones[0].Point
	}
	refdata.NameProvinces(places)
	gaz := tiles.NewGazetteer(places)
	priv := tiles.Privacy{K: cfg.K}
	if priv.K <= 0 {
		priv.K = tiles.DefaultK
	}
	engine := tiles.NewEngine(src, gaz, tiles.Config{K: priv.K, Loc: loc, Town: town})
	resolver := refdata.Resolver{Catalog: cat, Zones: zones}
	a.sink = sink
	a.Hub = live.NewHub(live.Config{Source: src, Zones: zones, Privacy: priv, Loc: loc, Interval: cfg.LiveInterval, Log: log, Changes: changes})
	statsSvc := stats.New(stats.Config{Source: src, Places: gaz, Catalog: cat, Privacy: priv, Loc: loc})
	routes := []interface{ Register(*echo.Echo) }{
		&server.StatsAPI{Stats: statsSvc, Loc: loc, Resolver: resolver},
		&server.LiveAPI{Hub: a.Hub},
		&server.PlacesAPI{Catalog: cat, Places: gaz, Zones: zones},
		&server.EventsAPI{Events: events},
		&server.IngestAPI{
			Tokens: live.ParseTokens(cfg.IngestToken...), Sink: sink, Decode: presence.Decode,
			MaxBytes: cfg.IngestMaxBytes, Version: src.Version, Poke: a.Hub.Poke,
		},
	}
	a.Server = server.New(server.Config{
		Engine:      engine,
		Version:     src.Version,
		Ready:       a.readiness(readyErr),
		Bounds:      bounds,
		Loc:         loc,
		Resolver:    resolver,
		Static:      static.FS,
		CORSOrigins: cfg.CORSOrigins,
		CacheBytes:  cfg.CacheBytes,
		BasemapURL:  cfg.BasemapURL,
		Basemap:     a.basemap,
		Log:         log,
		DBStats:     dbStats,
		Routes:      routes,
	})
	a.ready.Store(true)
	return a, nil
}

func (a *App) readiness(db func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if !a.ready.Load() {
			return errors.New("data not loaded yet")
		}
		if db != nil {
			return db(ctx)
		}
		return nil
	}
}

// mirroredSink stores posted batches in PostGIS and then loads them into
// this instance's memory at once, so that the response's data version and
// this server's tiles include the batch (other instances get it through
// NOTIFY). A failed catch-up is left to the mirror's Follow: the batch is
// committed either way.
type mirroredSink struct {
	*ingest.Sink
	mirror *pgstore.Mirror
	log    *slog.Logger
}

func (s mirroredSink) Store(ctx context.Context, key string, recs []presence.Record) (bool, error) {
	dup, err := s.Sink.Store(ctx, key, recs)
	if err != nil {
		return dup, err
	}
	if err := s.mirror.CatchUp(ctx); err != nil {
		s.log.Warn("stored batch not yet in memory; the mirror will catch up", "err", err)
	}
	return dup, nil
}

// loadDemo generates the demo data into mem. The generator's output is
// handed over in chunks to a second goroutine that turns records into rows
// and adds them, so that generating and indexing overlap (the embedded
// start must take under 2 s). With a non-zero replayFrom, records observed
// after it are returned instead, in time order, to be replayed later.
func loadDemo(mem *memstore.Store, zones []tiles.Place, dc demo.Config, replayFrom time.Time) (int, []presence.Record, error) {
	const chunk = 8192
	zindex := tiles.NewZoneIndex(zones)
	chunks := make(chan []presence.Record, 8)
	done := make(chan error, 1)
	n := 0
	go func() {
		b := mem.NewBuilder()
		var rowErr error
		for recs := range chunks {
			for i := range recs {
				if rowErr != nil {
					break
				}
				row, err := mem.RowOfIndexed(&recs[i], zindex)
				if err != nil {
					rowErr = err
					break
				}
				b.Add(row)
				n++
			}
		}
		if rowErr == nil {
			b.Commit()
		}
		done <- rowErr
	}()
	buf := make([]presence.Record, 0, chunk)
	var pending []presence.Record
	genErr := demo.Generate(dc, func(r presence.Record) error {
		if !replayFrom.IsZero() && r.ObservedAt.After(replayFrom) {
			pending = append(pending, r)
			return nil
		}
		buf = append(buf, r)
		if len(buf) == chunk {
			chunks <- buf
			buf = make([]presence.Record, 0, chunk)
		}
		return nil
	})
	if len(buf) > 0 {
		chunks <- buf
	}
	close(chunks)
	if err := errors.Join(genErr, <-done); err != nil {
		return 0, nil, err
	}
	slices.SortStableFunc(pending, func(x, y presence.Record) int { return x.ObservedAt.Compare(y.ObservedAt) })
	return n, pending, nil
}

// replay stores the pending demo records whose time has come, every tick,
// as a posted batch would be, until none is left or ctx ends.
func (a *App) replay(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for len(a.pending) > 0 {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			i := 0
			for i < len(a.pending) && !a.pending[i].ObservedAt.After(now) {
				i++
			}
			if i == 0 {
				continue
			}
			key := fmt.Sprintf("demo-replay-%d", a.pending[0].ObservedAt.UnixNano())
			if _, err := a.sink.Store(ctx, key, a.pending[:i]); err != nil {
				a.log.Warn("demo replay", "err", err)
				continue
			}
			a.pending = a.pending[i:]
			a.Hub.Poke()
		}
	}
}

// Handler is the HTTP handler (for tests).
func (a *App) Handler() http.Handler { return a.Server.Handler() }

// Background starts what runs beside the HTTP server until ctx ends: the
// live hub and, with PostGIS, the mirror following new batches.
func (a *App) Background(ctx context.Context) {
	go a.Hub.Run(ctx) //nolint:errcheck // ends with ctx
	if len(a.pending) > 0 {
		go a.replay(ctx, time.Second)
	}
	if a.mirror != nil {
		go a.mirror.Follow(ctx, a.log, func() {
			a.log.Warn("reference areas or zones changed in the database; restart flowtiles to use them")
		})
	}
}

// Run serves on listen until ctx ends. ready, if not nil, is called with
// the address once the server accepts connections.
func (a *App) Run(ctx context.Context, listen string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.Background(ctx)
	if ready != nil {
		ready(ln.Addr())
	}
	return a.Server.Serve(ctx, ln)
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

// Close releases the database pool and the basemap archive.
func (a *App) Close() {
	if a.pool != nil {
		a.pool.Close()
	}
	if a.basemap != nil {
		a.basemap.Close()
	}
}

// mergePlaces uses the database's reference areas where it has them and the
// embedded ones for levels it lacks; zones come from the database only.
func mergePlaces(embedded, fromDB []tiles.Place, log *slog.Logger) (places, zones []tiles.Place) {
	have := map[tiles.Level]int{}
	for _, p := range fromDB {
		have[p.Level]++
	}
	for _, p := range embedded {
		if p.Level != tiles.LevelZone && have[p.Level] == 0 {
			places = append(places, p)
		}
	}
	for _, p := range fromDB {
		places = append(places, p)
		if p.Level == tiles.LevelZone {
			zones = append(zones, p)
		}
	}
	var missing []string
	for _, l := range []tiles.Level{tiles.LevelMunicipality, tiles.LevelCountry} {
		if have[l] == 0 {
			missing = append(missing, l.String())
		}
	}
	if len(missing) > 0 {
		log.Info("using embedded reference areas where the database has none (flowtiles areas import)", "levels", strings.Join(missing, ","))
	}
	if len(zones) == 0 {
		log.Warn("no zones in the database: the zones layer and per-zone live figures are empty (flowtiles areas import --kind zones FILE)")
	}
	return places, zones
}

func worldBound(r tiles.Rect) (orb.Bound, bool) {
	if r.Empty() {
		return orb.Bound{}, false
	}
	lon0, lat0 := tiles.Unproject(float64(r.MinX), float64(r.MaxY))
	lon1, lat1 := tiles.Unproject(float64(r.MaxX), float64(r.MinY))
	return orb.Bound{Min: orb.Point{lon0, lat0}, Max: orb.Point{lon1, lat1}}, true
}
