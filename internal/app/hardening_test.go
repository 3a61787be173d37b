package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/testdb"
)

// newPostGISApp builds an app on a fresh database without starting its
// background work (the mirror's LISTEN would hold a pool connection).
func newPostGISApp(t *testing.T, url string, cfg Config) (*App, *httptest.Server) {
	t.Helper()
	cfg.DatabaseURL = url
	if cfg.TimeZone == "" {
		cfg.TimeZone = "Europe/Rome"
	}
	a, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		a.Close()
	})
	return a, srv
}

// /readyz checks the database on a connection of its own: a pool whose
// every connection is busy is not an outage.
func TestReadyWhilePoolBusy(t *testing.T) {
	_, url := testdb.Create(t)
	a, srv := newPostGISApp(t, url, Config{})
	if code, body := get(t, srv.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	ctx := context.Background()
	var held []*pgxpool.Conn
	for range a.b.pool.Stat().MaxConns() {
		c, err := a.b.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range 3 {
		if code, body := get(t, srv.URL+"/readyz"); code != 200 {
			t.Fatalf("readyz with every pool connection busy: %d %s", code, body)
		}
	}
}

func postCSV(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	body := "observed_at,lon,lat\n" + time.Now().UTC().Format(time.RFC3339) + ",12.4172,42.9812\n"
	req, _ := http.NewRequest(http.MethodPost, url+"/api/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// A read-only database: ingest answers 503 with Retry-After, /readyz says
// so (briefly), and both recover when the database takes writes again.
func TestReadOnlyDatabase(t *testing.T) {
	name, url := testdb.Create(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	_, srv := newPostGISApp(t, url, Config{NoMigrate: true, IngestToken: []string{"secret"}})
	code, body := get(t, srv.URL+"/readyz")
	if code != 503 || string(body) != `{"error":"database is read-only"}`+"\n" {
		t.Errorf("readyz on a read-only database: %d %s", code, body)
	}
	code, h, b := postCSV(t, srv.URL)
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(b, "read-only") {
		t.Errorf("ingest into a read-only database: %d Retry-After %q %s", code, h.Get("Retry-After"), b)
	}
	// writable again (new sessions take the setting)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" SET default_transaction_read_only = off"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, _ := get(t, srv.URL+"/readyz")
		pc, _, pb := postCSV(t, srv.URL)
		if rc == 200 && pc == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: readyz %d, ingest %d %s", rc, pc, pb)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --metrics-listen: /metrics on a listener of its own and not on the main
// one; "main" keeps it on the main listener.
func TestMetricsListen(t *testing.T) {
	serve := func(cfg Config) (mainURL, metricsURL string) {
		t.Helper()
		cfg.TimeZone, cfg.DemoRecords, cfg.DemoStart = "Europe/Rome", 5000, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		a, err := New(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mln net.Listener
		if cfg.MetricsListen != "" && cfg.MetricsListen != MetricsOnMain {
			if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
				t.Fatal(err)
			}
			metricsURL = "http://" + mln.Addr().String()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx, ln, mln) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		return "http://" + ln.Addr().String(), metricsURL
	}
	main, metrics := serve(Config{MetricsListen: "127.0.0.1:0"})
	if code, _ := get(t, main+"/healthz"); code != 200 {
		t.Fatal(code)
	}
	if code, _ := get(t, main+"/metrics"); code != 404 {
		t.Errorf("/metrics on the main listener: %d", code)
	}
	code, body := get(t, metrics+"/metrics")
	if code != 200 || !strings.Contains(string(body), "flowtiles_http_requests_total") {
		t.Errorf("/metrics on its listener: %d %.200s", code, body)
	}
	if code, _ := get(t, metrics+"/tiles"); code == 200 {
		t.Error("the metrics listener serves tiles")
	}
	main, _ = serve(Config{MetricsListen: MetricsOnMain})
	if code, _ := get(t, main+"/metrics"); code != 200 {
		t.Errorf("/metrics with --metrics-listen main: %d", code)
	}
	main, _ = serve(Config{})
	if code, _ := get(t, main+"/metrics"); code != 404 {
		t.Errorf("/metrics by default: %d", code)
	}
}

// The serving pool is sized for the heavy slots and carries the configured
// statement_timeout.
func TestPoolSizedForHeavySlots(t *testing.T) {
	_, url := testdb.Create(t)
	a, _ := newPostGISApp(t, url, Config{HeavySlots: 3, StatementTimeout: 7 * time.Second})
	if got, want := a.b.pool.Config().MaxConns, poolSize(3); got != want || want <= 3 {
		t.Errorf("pool of %d connections for 3 heavy slots, want %d", got, want)
	}
	var st string
	if err := a.b.pool.QueryRow(context.Background(), "SHOW statement_timeout").Scan(&st); err != nil || st != "7s" {
		t.Errorf("statement_timeout %s (%v), want 7s", st, err)
	}
}
