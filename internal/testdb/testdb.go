// Package testdb gives each test its own freshly migrated PostGIS database,
// cloned from a template that is migrated once per `go test` run.
//
// The template is kept between runs. Its name carries a digest of the
// migrations (flowtiles_test_template_<digest>), so an edited migration or a
// checkout with other migrations (a second worktree) gets a template of its
// own instead of sharing one migrated by different SQL.
//
// The server is FLOWTILES_TEST_DATABASE_URL or DATABASE_URL when set, else
// the local PostgreSQL (postgres://postgres@127.0.0.1:5432/postgres). Without a reachable server
// with PostGIS the tests skip, unless FLOWTILES_TEST_STRICT=1 (scripts/test
// sets it), in which case they fail: CI never passes by skipping.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/migrations"
)

// AdminURL is the server's maintenance database: FLOWTILES_TEST_DATABASE_URL
// when set (tests on another server than the one DATABASE_URL names), else
// DATABASE_URL, else the local PostgreSQL.
func AdminURL() string {
	for _, env := range []string{"FLOWTILES_TEST_DATABASE_URL", "DATABASE_URL"} {
		if u := os.Getenv(env); u != "" {
			return u
		}
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// template is the name of the migrated template database: its suffix is a
// digest of the embedded migrations.
var template = func() string {
	h := sha256.New()
	files, _ := fs.Glob(migrations.FS, "*.sql")
	for _, f := range files {
		b, _ := fs.ReadFile(migrations.FS, f)
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return "flowtiles_test_template_" + hex.EncodeToString(h.Sum(nil))[:12]
}()

var (
	once    sync.Once
	onceErr error
)

// URLFor is the admin URL with the database name replaced.
func URLFor(name string) (string, error) {
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		return "", err
	}
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	return u, nil
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("FLOWTILES_TEST_STRICT") == "1" {
		t.Fatalf("PostGIS needed (run scripts/test, which installs it): %v", err)
	}
	t.Skipf("no PostGIS (set FLOWTILES_TEST_STRICT=1 to fail instead): %v", err)
}

func prepare(ctx context.Context) error {
	if os.Getenv("FLOWTILES_NO_DB") == "1" {
		return errors.New("FLOWTILES_NO_DB=1 (scripts/check): tests that need PostGIS are skipped")
	}
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	var ok bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')`).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the postgis extension is not installed on the server")
	}
	// Several test binaries run at once: serialise template creation.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(884422)`); err != nil {
		return err
	}
	defer admin.Exec(ctx, `SELECT pg_advisory_unlock(884422)`)
	// The template is made once per server and brought up to date with
	// the migrations (a no-op when current): dropping and recreating it
	// for every test binary would cost a checkpoint each time.
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, template).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{template}.Sanitize()); err != nil {
			return err
		}
	}
	url, err := URLFor(template)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, url, 10*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = db.Migrate(ctx, pool)
	return err
}

// Create makes a new migrated database and returns its name and URL; it is
// dropped when the test ends.
func Create(t testing.TB) (name, url string) {
	t.Helper()
	ctx := context.Background()
	once.Do(func() { onceErr = prepare(ctx) })
	if onceErr != nil {
		unavailable(t, onceErr)
	}
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		unavailable(t, err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name = "flowtiles_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(884422)`); err != nil {
		t.Fatal(err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
	admin.Exec(ctx, `SELECT pg_advisory_unlock(884422)`)
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), AdminURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	url, err = URLFor(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, url
}

// New returns a pool on a new migrated database, closed and dropped when the
// test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, url := Create(t)
	pool, err := db.Open(context.Background(), url, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
