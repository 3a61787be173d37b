// Package db opens the PostGIS connection pool and applies the embedded
// schema (migrations/) with goose.
package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jackc/puddle/v2"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/flowtiles/flowtiles/migrations"
	"github.com/flowtiles/flowtiles/tiles"
)

// Open connects to url and checks the connection within timeout, for the
// subcommands (migrate, ingest, areas): no statement timeout, pgx's pool
// size. The pool belongs to the caller, who closes it.
func Open(ctx context.Context, url string, timeout time.Duration) (*pgxpool.Pool, error) {
	return OpenPool(ctx, url, PoolConfig{ConnectTimeout: timeout, StatementTimeout: -1})
}

// DefaultStatementTimeout is the statement_timeout of the serving pool's
// connections: as long as the longest request deadline (stats, ingest),
// so that a statement whose client gave up (a lost connection, a deadline)
// does not run on, or hold its locks, for longer.
const DefaultStatementTimeout = 30 * time.Second

// PoolConfig tunes a pool (OpenPool). Settings given in the URL
// (statement_timeout in options or as a parameter, pool_max_conns) win.
type PoolConfig struct {
	// ConnectTimeout bounds the first connection (10 s when 0).
	ConnectTimeout time.Duration
	// StatementTimeout is the statement_timeout of every pooled
	// connection (DefaultStatementTimeout when 0; negative: the
	// server's). Work that must run longer sets its own with SET LOCAL.
	StatementTimeout time.Duration
	// MaxConns is the pool's size (pgx's default, 4 or the number of
	// CPUs, when 0).
	MaxConns int32
}

// OpenPool connects to url with cfg and checks the connection. The pool
// belongs to the caller, who closes it.
func OpenPool(ctx context.Context, url string, pc PoolConfig) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "flowtiles"
	st := pc.StatementTimeout
	if st == 0 {
		st = DefaultStatementTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; st > 0 && !set && !strings.Contains(cfg.ConnConfig.RuntimeParams["options"], "statement_timeout") {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(st.Milliseconds(), 10)
	}
	if pc.MaxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = pc.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	timeout := pc.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// Connect opens a connection of its own to the pool's database, outside
// the pool, named name (application_name) and without the pool's
// statement timeout: for a session that waits (LISTEN). The connection
// belongs to the caller, who closes it.
func Connect(ctx context.Context, pool *pgxpool.Pool, name string) (*pgx.Conn, error) {
	cfg := pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = name
	delete(cfg.RuntimeParams, "statement_timeout")
	return pgx.ConnectConfig(ctx, cfg)
}

// Result is one applied migration.
type Result struct {
	Version  int64
	Name     string
	Duration time.Duration
}

// Migrate applies every pending migration, holding a PostgreSQL advisory
// lock so that several servers starting at once apply each step once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]Result, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	out := make([]Result, 0, len(res))
	for _, r := range res {
		out = append(out, Result{Version: r.Source.Version, Name: r.Source.Path, Duration: r.Duration})
	}
	return out, nil
}

// Version is the schema version the database is at (0: none applied).
func Version(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// PrivacySecret reads the secret that keys the noise of published figures
// (migration 00003). It belongs to the caller and is never shown.
func PrivacySecret(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	var secret []byte
	if err := pool.QueryRow(ctx, `SELECT secret FROM privacy_secret`).Scan(&secret); err != nil {
		return nil, fmt.Errorf("reading the privacy secret: %w", SchemaError(err))
	}
	return secret, nil
}

// SchemaError explains err when it comes from a database without the
// flowtiles schema (a table that does not exist), and returns any other
// err as it is.
func SchemaError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return fmt.Errorf("the database has no flowtiles schema (run flowtiles migrate): %w", err)
	}
	return err
}

// ReadOnly reports whether err comes from a database that does not take
// writes (SQLSTATE 25006: a standby, or default_transaction_read_only).
func ReadOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "25006" // read_only_sql_transaction
}

// UniqueViolation reports whether err is a unique constraint's (SQLSTATE
// 23505): a second row with the same key.
func UniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Unavailable reports whether err is an outage rather than a fault of the
// statement: it is the one place that knows SQLSTATE classes. Outages are
// failed connections (whatever the server said while connecting, such as
// "the database system is starting up"), lost ones (network errors, an
// unexpected end of the stream, a closed pool, a statement not sent on a
// closed connection), and the classes 08
// (connection exception), 53 (insufficient resources), 57 (operator
// intervention: shutdown, a statement timeout), 25006 (read-only) and
// 55000 (object not in prerequisite state: a standby refusing LISTEN or
// writes). Any other SQL error is a bug of ours.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		c := pe.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57") || c == "25006" || c == "55000"
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, puddle.ErrClosedPool) || pgconn.Timeout(err) || unsent(err)
}

// unsent reports whether err is a statement that pgx never sent because
// its connection was already closed (lost: a pooled connection that died
// under a transaction's BEGIN), not because its context ended.
func unsent(err error) bool {
	return pgconn.SafeToRetry(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Wrap classifies a database error for the stores: nil stays nil; the
// request's own end (ctx) stays ctx.Err(); an outage wraps
// tiles.ErrUnavailable (tiles.ErrReadOnly for a read-only database); any
// other error is wrapped as it is, a bug to log. what says what was being
// done; no SQL text reaches a client either way (the server answers 500 or
// 503 with words of its own).
func Wrap(ctx context.Context, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case ReadOnly(err):
		return fmt.Errorf("%s: %w: %w", what, tiles.ErrReadOnly, err)
	case Unavailable(err):
		return fmt.Errorf("%s: %w: %w", what, tiles.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
