package server

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// pgInsert loads records into the presence table as one committed batch
// (as internal/pgstore's tests do).
func pgInsert(t testing.TB, pool *pgxpool.Pool, records []presence.Record, zones []tiles.Place) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var batch int64
	if err := tx.QueryRow(ctx, `INSERT INTO ingest_batch (source, checksum, status, started_at, rows_loaded)
		VALUES ('test', md5(random()::text), 'committed', now(), $1) RETURNING id`, len(records)).Scan(&batch); err != nil {
		t.Fatal(err)
	}
	months := map[string]bool{}
	for _, r := range records {
		if m := r.ObservedAt.UTC().Format("2006-01"); !months[m] {
			months[m] = true
			if _, err := tx.Exec(ctx, "SELECT presence_ensure_partition($1)", r.ObservedAt); err != nil {
				t.Fatal(err)
			}
		}
	}
	text := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	rows := make([][]any, len(records))
	for i, r := range records {
		w := r.World()
		var visitor any
		if r.Visitor != 0 {
			visitor = r.Visitor
		}
		pt := make([]byte, 0, 25)
		pt = append(pt, 1)
		pt = binary.LittleEndian.AppendUint32(pt, 0x20000001) // point with SRID
		pt = binary.LittleEndian.AppendUint32(pt, 4326)
		pt = binary.LittleEndian.AppendUint64(pt, math.Float64bits(r.Lon))
		pt = binary.LittleEndian.AppendUint64(pt, math.Float64bits(r.Lat))
		rows[i] = []any{r.ObservedAt, pt, int64(w.X), int64(w.Y), int32(r.Weight), visitor,
			text(r.Age.String()), text(r.Gender.String()), text(r.Nationality.String()), text(r.Origin), text(r.Spend.String()),
			int32(tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})), batch, int32(tiles.RecordKey(r.ObservedAt.Unix(), w, r.Weight, r.Visitor))}
	}
	cols := []string{"observed_at", "geom", "wx", "wy", "weight", "visitor", "age_band", "gender", "nationality", "origin_code", "spend_class", "zones", "batch_id", "rkey"}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"presence"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// tcpProxy forwards connections to a database server; stopping it closes
// the listener and every connection, as a database going down does, and
// starting it listens again on the same address.
type tcpProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	p := &tcpProxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close(); c.Close() }()
	io.Copy(c, up)
	c.Close()
	up.Close()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// The database goes down and comes back while the server runs: cached
// tiles keep being served, uncached ones get 503 with Retry-After, /readyz
// fails, and everything recovers without a restart.
func TestPostGISOutage(t *testing.T) {
	_, dbURL := testdb.Create(t)
	ctx := context.Background()
	direct, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	zones := sourcetest.Zones()
	pgInsert(t, direct, sourcetest.Records(sourcetest.Seed(t), 2000), zones)

	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))))
	u, _ := url.Parse(dbURL)
	u.Host = proxy.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(pool, refdata.Italy())
	places := tiles.NewGazetteer(zones)
	reg := prometheus.NewRegistry()
	srv := New(Config{
		Engine:   tiles.NewEngine(store, places, tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}),
		Version:  store.Version,
		Resolver: statsResolver{places},
		Ready:    func(ctx context.Context) error { return pool.Ping(ctx) },
		DBStats:  pool.Stat,
		Metrics:  reg,
		Log:      discardLog(),
		// the old behaviour, asked for
		MetricsOnMain: true,
	})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	cached := ts.URL + tileURL("density", centreTile, "")
	uncached := ts.URL + tileURL("density", centreTile, "hours=9-17")
	res, want := fetch(t, cached, "Accept-Encoding", "gzip")
	if res.StatusCode != 200 {
		t.Fatalf("tile from PostGIS: %d", res.StatusCode)
	}
	if res, _ := fetch(t, ts.URL+"/readyz"); res.StatusCode != 200 {
		t.Fatalf("readyz: %d", res.StatusCode)
	}

	proxy.stop() // the database goes away
	for range 3 {
		res, body := fetch(t, cached, "Accept-Encoding", "gzip")
		if res.StatusCode != 200 || string(body) != string(want) {
			t.Fatalf("cached tile during the outage: %d", res.StatusCode)
		}
	}
	for range 3 { // pooled connections that died, then refused connections
		res, body := fetch(t, uncached)
		m := jsonError(t, res, body, http.StatusServiceUnavailable, "")
		if res.Header.Get("Retry-After") == "" || strings.Contains(m["error"], "127.0.0.1") {
			t.Fatalf("uncached tile during the outage: Retry-After %q, %s", res.Header.Get("Retry-After"), body)
		}
	}
	if res, body := fetch(t, ts.URL+"/readyz"); res.StatusCode != 503 || !strings.Contains(string(body), "error") ||
		strings.Contains(string(body), proxy.addr) || strings.Contains(string(body), "postgres") || strings.Contains(string(body), u.Path[1:]) {
		t.Fatalf("readyz during the outage: %d %s", res.StatusCode, body)
	}
	if res, _ := fetch(t, ts.URL+"/healthz"); res.StatusCode != 200 {
		t.Fatalf("healthz during the outage: %d", res.StatusCode)
	}

	proxy.start(t) // and comes back
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, _ := fetch(t, uncached)
		if res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the database came back: %d", res.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res, _ := fetch(t, ts.URL+"/readyz"); res.StatusCode != 200 {
		t.Fatalf("readyz after recovery: %d", res.StatusCode)
	}
	_, body := fetch(t, ts.URL+"/metrics")
	for _, want := range []string{"flowtiles_db_pool_connections", "flowtiles_db_pool_acquires_total", `status="503"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A database that refuses connections (ALLOW_CONNECTIONS false, backends
// terminated) is an outage too, not an internal error.
func TestPostGISRefusesConnections(t *testing.T) {
	name, dbURL := testdb.Create(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	zones := sourcetest.Zones()
	pgInsert(t, pool, sourcetest.Records(sourcetest.Seed(t), 500), zones)
	store := pgstore.New(pool, refdata.Italy())
	places := tiles.NewGazetteer(zones)
	srv := New(Config{
		Engine:   tiles.NewEngine(store, places, tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}),
		Resolver: statsResolver{places},
		Metrics:  prometheus.NewRegistry(),
		Log:      discardLog(),
	})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if res, _ := fetch(t, ts.URL+tileURL("density", centreTile, "")); res.StatusCode != 200 {
		t.Fatalf("tile: %d", res.StatusCode)
	}
	admin, err := pgx.Connect(ctx, testdb.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true") })
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
	for _, hours := range []string{"8", "9", "10"} {
		res, body := fetch(t, ts.URL+tileURL("density", centreTile, "hours="+hours))
		jsonError(t, res, body, http.StatusServiceUnavailable, "")
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	res, _ := fetch(t, ts.URL+tileURL("density", centreTile, "hours=11"))
	if res.StatusCode != 200 {
		t.Fatalf("after reopening: %d", res.StatusCode)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
