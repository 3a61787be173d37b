package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/testdb"
)

// The serving pool's connections carry a statement_timeout (the default,
// or the configured one; the subcommands' pool none), and a statement
// beyond it is an outage (503), not a bug; a connection of its own
// (LISTEN) has none.
func TestPoolStatementTimeout(t *testing.T) {
	_, url := testdb.Create(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cfg  db.PoolConfig
		want string
	}{
		{"default", db.PoolConfig{}, "30s"},
		{"configured", db.PoolConfig{StatementTimeout: 1500 * time.Millisecond, MaxConns: 3}, "1500ms"},
		{"none", db.PoolConfig{StatementTimeout: -1}, "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool, err := db.OpenPool(ctx, url, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			var got string
			if err := pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("statement_timeout %s, want %s", got, c.want)
			}
			if c.cfg.MaxConns > 0 && pool.Config().MaxConns != c.cfg.MaxConns {
				t.Errorf("pool size %d, want %d", pool.Config().MaxConns, c.cfg.MaxConns)
			}
			conn, err := db.Connect(ctx, pool, "flowtiles test")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if err := conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&got); err != nil || got != "0" {
				t.Errorf("a connection of its own: statement_timeout %s (%v), want 0", got, err)
			}
		})
	}
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var got string
	if err := pool.QueryRow(ctx, "SHOW statement_timeout").Scan(&got); err != nil || got != "0" {
		t.Errorf("the subcommands' pool: statement_timeout %s (%v), want 0", got, err)
	}

	short, err := db.OpenPool(ctx, url, db.PoolConfig{StatementTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	// far longer than the timeout: only the timeout ends it
	_, err = short.Exec(ctx, "SELECT pg_sleep(600)")
	if err == nil || !db.Unavailable(err) {
		t.Fatalf("a statement past statement_timeout: %v, want an outage", err)
	}
}

// A statement on a connection already closed (a pooled connection lost
// before a transaction's BEGIN) is an outage, like the loss itself.
func TestClosedConnectionIsAnOutage(t *testing.T) {
	_, url := testdb.Create(t)
	ctx := context.Background()
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := db.Connect(ctx, pool, "flowtiles test")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Begin(ctx); err == nil || !db.Unavailable(err) {
		t.Fatalf("BEGIN on a closed connection: %v, want an outage", err)
	}
}
