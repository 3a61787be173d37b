package server

import (
	"context"
	"io"
	"log/slog"
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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

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
	testdb.Insert(t, direct, sourcetest.Records(sourcetest.Seed(t), 2000), zones)

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
	store := pgstore.New(pool, refdata.Italy(), 0)
	places := tiles.NewGazetteer(zones)
	reg := prometheus.NewRegistry()
	srv := New(Config{
		Engine:     tiles.NewEngine(store, places, tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}),
		Version:    func() uint64 { return 1 },
		Resolver:   statsResolver{places},
		Ready:      func(ctx context.Context) error { return pool.Ping(ctx) },
		Collectors: []prometheus.Collector{db.PoolCollector(pool)},
		Metrics:    reg,
		Log:        discardLog(),
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
	testdb.Insert(t, pool, sourcetest.Records(sourcetest.Seed(t), 500), zones)
	store := pgstore.New(pool, refdata.Italy(), 0)
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
