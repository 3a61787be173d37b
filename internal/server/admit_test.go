package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/internal/ingest"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// lockPresence holds an ACCESS EXCLUSIVE lock on the presence table (and
// its partitions) and its rollup in a transaction of its own, so that every query of it
// waits, until the returned function rolls the transaction back.
func lockPresence(t *testing.T, pool *pgxpool.Pool) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// both tables a report or a tile reads: whole hours come from the
	// rollup (pgstore), so locking presence alone leaves them answered
	if _, err := tx.Exec(ctx, "LOCK TABLE presence, presence_rollup IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	unlock = func() {
		if !done {
			done = true
			tx.Rollback(ctx)
		}
	}
	t.Cleanup(unlock)
	return unlock
}

// pgEnv is a server over PostGIS with stats and ingest.
type pgEnv struct {
	pool  *pgxpool.Pool
	heavy *admit.Pool
	ts    *httptest.Server
}

func newPGEnv(t *testing.T, heavy admit.Config, mod func(*Config, *StatsAPI, *IngestAPI)) *pgEnv {
	t.Helper()
	pool := testdb.New(t)
	testdb.Insert(t, pool, sourcetest.Records(sourcetest.Seed(t), 2000), sourcetest.Zones())
	return newPGServer(t, pool, heavy, mod)
}

// newPGServer is another server over the database of pool.
func newPGServer(t *testing.T, pool *pgxpool.Pool, heavy admit.Config, mod func(*Config, *StatsAPI, *IngestAPI)) *pgEnv {
	t.Helper()
	zones := sourcetest.Zones()
	store := pgstore.New(pool, refdata.Italy(), 0)
	places := tiles.NewGazetteer(zones)
	priv := tiles.UnperturbedForTests(1)
	env := &pgEnv{pool: pool, heavy: admit.New(heavy)}
	sa := &StatsAPI{Stats: stats.New(stats.Config{Source: store, Places: places, Privacy: priv, Loc: sourcetest.Rome}),
		Loc: sourcetest.Rome, Resolver: statsResolver{places}, Heavy: env.heavy}
	ia := &IngestAPI{Tokens: ParseTokens("tok"), Sink: ingest.NewPGSink(pool, nil), Decode: testDecode}
	cfg := Config{
		Engine:        tiles.NewEngine(store, places, tiles.Config{Privacy: priv, Loc: sourcetest.Rome, Town: sourcetest.Centre}),
		Version:       func() uint64 { return 1 },
		Resolver:      statsResolver{places},
		Metrics:       prometheus.NewRegistry(),
		MetricsOnMain: true,
		Log:           discardLog(),
		Heavy:         env.heavy,
		Routes:        []interface{ Register(*echo.Echo) }{sa, ia},
	}
	if mod != nil {
		mod(&cfg, sa, ia)
	}
	env.ts = httptest.NewServer(New(cfg).Handler())
	t.Cleanup(env.ts.Close)
	return env
}

// Every heavy slot is taken by renders waiting for a locked table: a
// cached tile, /healthz, /metrics, TileJSON (of a layer whose bounds need
// an aggregate, too), styles and the catalog still answer at once, and a
// further uncached tile waits in the queue for --queue-wait, then gets 503
// with Retry-After and the JSON error body, while the renders still wait.
func TestHeavyWorkWaitsLightWorkDoesNot(t *testing.T) {
	// the tile deadline is far beyond the test's patience: only the queue
	// wait can end the third render
	env := newPGEnv(t, admit.Config{Slots: 2, QueueWait: 50 * time.Millisecond}, func(c *Config, _ *StatsAPI, _ *IngestAPI) {
		c.TileTimeout = time.Hour
	})
	cached := env.ts.URL + tileURL("density", centreTile, "")
	res, want := fetch(t, cached, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 {
		t.Fatalf("tile from PostGIS: %d", res.StatusCode)
	}
	unlock := lockPresence(t, env.pool)
	blocked := make(chan int, 2)
	for _, hours := range []string{"9", "10"} {
		go func() {
			res, _ := fetch(t, env.ts.URL+tileURL("density", centreTile, "hours="+hours))
			blocked <- res.StatusCode
		}()
	}
	waitFor(t, "two renders to take both slots", func() bool { return env.heavy.InUse() == 2 })

	res, body := fetch(t, env.ts.URL+tileURL("flows", tiles.TileAt(10, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])), "hours=11"))
	m := jsonError(t, res, body, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" || !strings.Contains(m["error"], "busy") {
		t.Fatalf("queued past the wait: Retry-After %q, %s", res.Header.Get("Retry-After"), body)
	}
	if env.heavy.InUse() != 2 {
		t.Fatal("the renders holding the slots ended: the 503 came from elsewhere")
	}

	for _, path := range []string{"/healthz", "/readyz", "/tiles", "/tiles/density.json", "/tiles/flows.json?hours=12", "/tiles/origins.json?gender=f",
		"/styles/" + tiles.LayerDensity + ".json", "/ogc/collections/origins?hours=13"} {
		if res, body := fetch(t, env.ts.URL+path); res.StatusCode != 200 {
			t.Errorf("%s with every heavy slot taken: %d %s", path, res.StatusCode, body)
		}
	}
	res, got := fetch(t, cached, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || string(got) != string(want) {
		t.Errorf("cached tile with every heavy slot taken: %d", res.StatusCode)
	}
	res, body = fetch(t, env.ts.URL+"/metrics")
	for _, want := range []string{"flowtiles_heavy_slots_in_use 2", "flowtiles_heavy_slots 2", `flowtiles_heavy_rejected_total{reason="wait"} 1`,
		"flowtiles_heavy_queue_length 0", "flowtiles_heavy_wait_seconds_count", "flowtiles_heavy_admitted_total 3"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics (%d) lack %s", res.StatusCode, want)
		}
	}

	unlock()
	for range 2 {
		select {
		case status := <-blocked:
			if status != 200 {
				t.Errorf("a render that waited for the lock: %d", status)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the renders did not end after the lock was released")
		}
	}
}

// Stats and ingest against a database whose presence table is locked by
// another transaction answer 503 (JSON, Retry-After) once their deadline
// passes, and the ingest leaves nothing written: the same batch is stored
// whole once the table is free.
func TestStatsAndIngestDeadlines(t *testing.T) {
	env := newPGEnv(t, admit.Config{Slots: 2}, func(_ *Config, sa *StatsAPI, ia *IngestAPI) {
		sa.Timeout, ia.Timeout = 200*time.Millisecond, 200*time.Millisecond
	})
	ctx := context.Background()
	count := func(q string) int64 {
		var n int64
		if err := env.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// the same on a server with the default deadlines, for the requests
	// that must succeed (a short deadline would depend on speed there)
	patient := newPGServer(t, env.pool, admit.Config{Slots: 2}, nil)
	rows, batches := count("SELECT count(*) FROM presence"), count("SELECT count(*) FROM ingest_batch")
	const query = "/api/stats?zone=centro&from=2025-03-01&to=2025-03-31&by=hour"
	statsURL := env.ts.URL + query
	if res, body := fetch(t, patient.ts.URL+query); res.StatusCode != 200 {
		t.Fatalf("stats: %d %s", res.StatusCode, body)
	}
	body := ndjson("late", 20, sourcetest.Start.Add(36*time.Hour)) // a month that has its partition

	unlock := lockPresence(t, env.pool)
	res, b := fetch(t, statsURL)
	jsonError(t, res, b, http.StatusServiceUnavailable, "")
	if res.Header.Get("Retry-After") == "" {
		t.Error("stats 503 without Retry-After")
	}
	resp, out := post(t, env.ts.URL, "tok", "application/x-ndjson", body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || out["error"] == nil {
		t.Fatalf("ingest against a locked table: %d %v (Retry-After %q)", resp.StatusCode, out, resp.Header.Get("Retry-After"))
	}
	unlock()

	if n, m := count("SELECT count(*) FROM presence"), count("SELECT count(*) FROM ingest_batch"); n != rows || m != batches {
		t.Fatalf("after a timed-out ingest: %d rows (had %d), %d batches (had %d)", n, rows, m, batches)
	}
	resp, out = post(t, patient.ts.URL, "tok", "application/x-ndjson", body)
	if resp.StatusCode != http.StatusCreated || out["duplicate"] != false {
		t.Fatalf("the same batch once the table is free: %d %v", resp.StatusCode, out)
	}
	if n := count("SELECT count(*) FROM presence"); n != rows+20 {
		t.Fatalf("%d rows after the batch, want %d", n, rows+20)
	}
}

// The heavy queue is kept per client address as the server derives it
// (X-Forwarded-For from a trusted proxy): with the queue full of one
// client's requests, another client's request takes the place of the
// first client's newest, which gets 503 at once.
func TestHeavyQueueIsPerClientAddress(t *testing.T) {
	env := newPGEnv(t, admit.Config{Slots: 1, QueueWait: time.Hour, MaxQueue: 2}, func(c *Config, _ *StatsAPI, _ *IngestAPI) {
		c.TileTimeout = time.Hour
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	unlock := lockPresence(t, env.pool)
	type answer struct {
		name   string
		status int
		body   string
	}
	out := make(chan answer, 4)
	ask := func(name, client, hours string) {
		go func() {
			res, body := fetch(t, env.ts.URL+tileURL("density", centreTile, "hours="+hours), "X-Forwarded-For", client)
			out <- answer{name, res.StatusCode, string(body)}
		}()
	}
	ask("a1", "203.0.113.1", "8")
	waitFor(t, "a1 to take the slot", func() bool { return env.heavy.InUse() == 1 })
	ask("a2", "203.0.113.1", "9")
	waitFor(t, "a2 to queue", func() bool { return env.heavy.Queued() == 1 })
	ask("a3", "203.0.113.1", "10")
	waitFor(t, "a3 to queue", func() bool { return env.heavy.Queued() == 2 })
	ask("b1", "198.51.100.7", "11")
	select {
	case a := <-out:
		if a.name != "a3" || a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "busy") {
			t.Fatalf("first answer %s: %d %s, want a3 pushed out with 503", a.name, a.status, a.body)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("nobody was pushed out of the full queue")
	}
	unlock()
	for range 3 {
		select {
		case a := <-out:
			if a.status != 200 {
				t.Errorf("%s: %d %s", a.name, a.status, a.body)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the queued renders did not end after the lock was released")
		}
	}
}
