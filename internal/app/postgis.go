package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/mirror"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/server"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// bytesPerRow is the memory a mirrored presence row costs: 41.7 B of live
// heap per record in the stores of 1 and of 25 towns of the 50 × 1 M
// benchmark (30 B of columns, 3.9 B of rollups, ~8 B of visitors at 0.12
// per record: docs/bench/issue17-towns.md), measured before the columns
// kept a record's place in 16-bit offsets (4 B less): it plans on the
// safe side until measured again.
const bytesPerRow = 42

// newPostGIS is the backend on DATABASE_URL: the schema migrated (unless
// NoMigrate), and a site per served town: its records (only its own)
// mirrored into memory within the memory budget and followed through
// LISTEN/NOTIFY, older months answered by PostGIS.
func newPostGIS(ctx context.Context, cfg Config, heavySlots int, cat *refdata.Catalog, ref []tiles.Place, log *slog.Logger) (_ *backend, err error) {
	if !cfg.NoMigrate {
		// on a pool of their own, without the serving pool's statement
		// timeout: a migration may rewrite a large table
		if err := migrate(ctx, cfg.DatabaseURL, log); err != nil {
			return nil, err
		}
	}
	pool, err := db.OpenPool(ctx, cfg.DatabaseURL, db.PoolConfig{
		ConnectTimeout: 10 * time.Second, StatementTimeout: cfg.StatementTimeout, MaxConns: poolSize(heavySlots),
	})
	if err != nil {
		return nil, err
	}
	probe := db.NewProbe(pool)
	release := func() {
		probe.Close()
		pool.Close()
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	secret, err := db.PrivacySecret(ctx, pool)
	if err != nil {
		return nil, err
	}
	all, err := towns.Load(ctx, pool)
	if err != nil {
		return nil, err
	}
	served, err := towns.Select(all, cfg.Towns) // every town without --towns
	if err != nil {
		return nil, err
	}
	// the reference areas are every town's; the zones each town's own
	// (pgstore.Places answers with the first town's, set apart here)
	dbPlaces, err := pgstore.New(pool, cat, served[0].ID).Places(ctx)
	if err != nil {
		return nil, err
	}
	places := mergePlaces(ref, dbPlaces, log)
	ids := make([]int16, len(served))
	mems := make(map[int16]*memstore.Store, len(served))
	for i, t := range served {
		ids[i] = t.ID
		mems[t.ID] = memstore.New(cat)
	}
	// the budget holds the served towns' records, the only ones loaded
	since, err := mirror.BudgetSince(ctx, pool, ids, cfg.MemoryBytes, bytesPerRow)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	m := mirror.New(pool, cat, mems, since)
	n, err := m.Load(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("PostGIS presence mirrored into memory", "towns", len(served), "rows", n, "since", since, "took", time.Since(start).Round(time.Millisecond))
	sites := make([]site, len(served))
	for i, t := range served {
		st := pgstore.New(pool, cat, t.ID)
		src, err := m.Source(t.ID, st)
		if err != nil {
			return nil, err
		}
		zones, err := st.Zones(ctx)
		if err != nil {
			return nil, err
		}
		if len(zones) == 0 {
			log.Warn("the town has no zones in the database: its zones layer and per-zone live figures are empty (flowtiles areas import --kind zones FILE --town CODE)", "town", t.Code)
		}
		sites[i] = site{town: t, mem: mems[t.ID], src: src, zones: zones}
	}
	b := &backend{
		mode: "postgis", sites: sites, places: places, secret: secret,
		// the towns other server groups serve are listed by the picker and
		// reached through the reverse proxy
		fleet: all,
		// reads the zone table per batch; the mirror catches up before the
		// response, so a client reads its own batch from this instance
		sink:       mirroredSink{ingest.NewPGSink(pool, nil), m, log},
		collectors: []prometheus.Collector{db.PoolCollector(pool)},
		pool:       pool,
		close:      release,
	}
	ingestOn := server.ParseTokens(cfg.IngestToken...).Enabled()
	b.ready = func(ctx context.Context) error {
		h, err := probe.Check(ctx)
		if err != nil {
			return &server.ReadyError{Reason: "database unreachable", Err: err}
		}
		if h.ReadOnly && ingestOn {
			// this instance takes writes (POST /api/ingest) and cannot
			return &server.ReadyError{Reason: "database is read-only"}
		}
		return nil
	}
	b.tasks = append(b.tasks, func(ctx context.Context) error {
		m.Follow(ctx, log, func() {
			log.Warn("reference areas or zones changed in the database; restart flowtiles to use them")
		})
		return nil
	})
	return b, nil
}

// poolReserve is what the database pool holds beside two connections per
// heavy slot (a tiered source reads memory and PostGIS, a stats report runs
// its queries in parallel): posted batches (two at once), the mirror's
// catch-up, and one spare. LISTEN and the readiness probe have connections
// of their own.
const poolReserve = 4

// poolSize is the database pool's size for a heavy pool of slots.
func poolSize(slots int) int32 { return int32(2*slots + poolReserve) }

// migrate applies the pending migrations on a pool of its own.
func migrate(ctx context.Context, url string, log *slog.Logger) error {
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := db.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	for _, r := range res {
		log.Info("migration applied", "version", r.Version, "name", r.Name)
	}
	return nil
}

// mirroredSink stores posted batches in PostGIS and then loads them into
// this instance's memory at once, so that the response's data version and
// this server's tiles include the batch (other instances get it through
// NOTIFY). A failed catch-up is left to the mirror's Follow: the batch is
// committed either way.
type mirroredSink struct {
	*ingest.PGSink
	mirror *mirror.Mirror
	log    *slog.Logger
}

func (s mirroredSink) Store(ctx context.Context, id presence.BatchID, recs []presence.Record) (bool, error) {
	dup, err := s.PGSink.Store(ctx, id, recs)
	if err != nil {
		return dup, err
	}
	if err := s.mirror.CatchUp(ctx); err != nil {
		s.log.Warn("stored batch not yet in memory; the mirror will catch up", "err", err)
	}
	return dup, nil
}

// mergePlaces uses the database's reference areas where it has them and the
// embedded ones for levels it lacks; zones are none of them (each site has
// its town's, from the database only).
func mergePlaces(embedded, fromDB []tiles.Place, log *slog.Logger) (places []tiles.Place) {
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
		if p.Level != tiles.LevelZone {
			places = append(places, p)
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
	return places
}
