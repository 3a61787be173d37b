package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A client's Idempotency-Key that equals a file's checksum does not make
// that file "already loaded": keys and checksums live apart.
func TestKeyNeverCollidesWithFileChecksum(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	file := fixture(t, "good.csv")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	posted := sourcetest.Records(sourcetest.Seed(t), 20)
	id := presence.BatchID{Checksum: sha256Hex([]byte("the posted body")), Scope: "token:feed", Key: sha256Hex(raw)}
	if dup, err := NewPGSink(pool, nil).Store(ctx, id, posted); err != nil || dup {
		t.Fatalf("post: %v %v", dup, err)
	}
	res, err := (&Loader{Pool: pool}).LoadFile(ctx, file, Options{})
	if err != nil || res.Duplicate || res.Loaded != 6 {
		t.Fatalf("the file after a post keyed with its checksum: %+v, %v", res, err)
	}
	if got := count(t, pool); got.rows != 26 || got.committed != 2 {
		t.Fatalf("%+v, want 20 posted + 6 loaded rows in 2 batches", got)
	}
	// The same bytes posted (any key) are the file's batch: not stored again.
	if dup, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: res.Checksum, Scope: "token:feed", Key: "other"}, posted[:6]); err != nil || !dup {
		t.Fatalf("the file's bytes posted: %v %v", dup, err)
	}
}

// A key is bound to the body of its first use, within its scope; a key
// never lets the same body in twice.
func TestKeyBoundToBody(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	s := NewPGSink(pool, nil)
	a, b := sourcetest.Records(1, 30), sourcetest.Records(2, 40)
	sumA, sumB := sha256Hex([]byte("A")), sha256Hex([]byte("B"))
	if dup, err := s.Store(ctx, presence.BatchID{Checksum: sumA, Scope: "token:1", Key: "k"}, a); err != nil || dup {
		t.Fatal(dup, err)
	}
	var ke *presence.KeyConflictError
	if _, err := s.Store(ctx, presence.BatchID{Checksum: sumB, Scope: "token:1", Key: "k"}, b); !errors.As(err, &ke) {
		t.Fatalf("same key, other body: %v", err)
	}
	if dup, err := s.Store(ctx, presence.BatchID{Checksum: sumA, Scope: "token:1", Key: "k"}, a); err != nil || !dup {
		t.Fatalf("retry: %v %v", dup, err)
	}
	for _, key := range []string{"k2", "k3", ""} {
		if dup, err := s.Store(ctx, presence.BatchID{Checksum: sumA, Scope: "token:1", Key: key}, a); err != nil || !dup {
			t.Fatalf("body A under key %q: %v %v", key, dup, err)
		}
	}
	// another token's "k" is its own
	if dup, err := s.Store(ctx, presence.BatchID{Checksum: sumB, Scope: "token:2", Key: "k"}, b); err != nil || dup {
		t.Fatalf("another scope: %v %v", dup, err)
	}
	if got := count(t, pool); got.rows != 70 || got.committed != 2 {
		t.Fatalf("%+v, want 30+40 rows in 2 batches", got)
	}
	// The same new key with different bodies at once: one is stored, the
	// others conflict.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			recs := sourcetest.Records(uint64(10+i), 5)
			_, errs[i] = NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: sha256Hex(fmt.Append(nil, i)), Scope: "token:3", Key: "race"}, recs)
		})
	}
	wg.Wait()
	stored := 0
	for _, err := range errs {
		switch {
		case err == nil:
			stored++
		case !errors.As(err, &ke):
			t.Fatal(err)
		}
	}
	if got := count(t, pool); stored != 1 || got.rows != 75 {
		t.Fatalf("concurrent first uses of one key: %d stored, %+v", stored, got)
	}
}

// writeMonthFile writes n records of November 2026 (a month without a
// partition) as CSV; seed varies the content.
func writeMonthFile(t *testing.T, dir, name string, seed, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("observed_at,lon,lat,visitor_id\n")
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "%s,%.5f,%.5f,v%d-%d\n", at.Add(time.Duration(i)*time.Minute).Format(time.RFC3339),
			sourcetest.Centre[0], sourcetest.Centre[1], seed, i)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Loads that open the same new month at once all succeed. A reader holding
// presence makes the partition's creation wait, so that every load has
// checked for the partition before the first creates it.
func TestConcurrentLoadsOpenOneMonth(t *testing.T) {
	_, url := testdb.Create(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dir := t.TempDir()
	f1 := writeMonthFile(t, dir, "one.csv", 1, 50)
	f2 := writeMonthFile(t, dir, "two.csv", 2, 70)

	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, "LOCK TABLE presence IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	files := []string{f1, f2, f1}
	results := make([]*Result, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { results[i], errs[i] = (&Loader{Pool: pool}).LoadFile(ctx, f, Options{}) })
	}
	// every load waits (for the reader, or for the one creating the month)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= len(files) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d loads waiting, want %d", waiting, len(files))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	loaded := map[string]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("load %d of %s: %v", i, files[i], err)
		}
		if !results[i].Duplicate {
			loaded[filepath.Base(files[i])]++
		}
	}
	if loaded["one.csv"] != 1 || loaded["two.csv"] != 1 {
		t.Fatalf("loaded %v, want each file once", loaded)
	}
	if got := count(t, pool); got.rows != 120 {
		t.Fatalf("%+v, want 120 rows", got)
	}
}

// A line of several megabytes gives a bounded error, a bounded message in
// ingest_batch and bounded memory (it is never gathered whole).
func TestHugeBadLineIsBounded(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	// the row is 64 times the cap; what reading it allocates is bounded by
	// the cap, not by the row
	const huge = 64 * presence.MaxRowBytes
	loader := &Loader{Pool: pool, Validator: presence.NewValidator()} // reference data loaded before measuring
	for _, c := range []struct{ name, content string }{
		{"field.csv", "observed_at,lon,lat\n" + strings.Repeat("x", huge) + ",12,42\n2024-05-01T09:30:00Z,12,42\n"},
		{"quote.csv", "observed_at,lon,lat\n2024-05-01T09:30:00Z,12,42\n\"" + strings.Repeat("y,", huge/2) + "\n"},
		{"value.ndjson", `{"observed_at":"` + strings.Repeat("z", huge) + `","lon":12,"lat":42}` + "\n"},
		{"line.ndjson", `{"observed_at":"2024-05-01T09:30:00Z","lon":12,"lat":42,"junk":"` + strings.Repeat("w", huge) + `"}` + "\n"},
		{"feature.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[12,42]},"properties":{"observed_at":"` +
			strings.Repeat("v", huge) + `"}}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name)
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := loader.LoadFile(ctx, path, Options{})
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("loaded")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24*presence.MaxRowBytes {
				t.Errorf("allocated %d bytes reading a %d-byte row", alloc, huge)
			}
			t.Logf("allocated %d", after.TotalAlloc-before.TotalAlloc)
			if n := len(err.Error()); n > 1000 {
				t.Errorf("error of %d bytes: %.300s", n, err)
			}
			var inv *InvalidError
			if errors.As(err, &inv) {
				for _, e := range inv.Errors {
					if n := len(e.Error()); n > 1000 {
						t.Errorf("row error of %d bytes: %.300s", n, e)
					}
				}
			}
			var msg string
			if err := pool.QueryRow(ctx, `SELECT message FROM ingest_batch WHERE id = $1`, res.Batch).Scan(&msg); err != nil {
				t.Fatal(err)
			}
			if len(msg) > 2000 || msg == "" {
				t.Errorf("stored message of %d bytes: %.300s", len(msg), msg)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
}

// gzip files are read through gzip; their checksum is their content's, so
// the same data compressed or not is one batch.
func TestGzipFile(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	for _, name := range []string{"good.csv", "good.ndjson", "good.geojson"} {
		plain := fixture(t, name)
		raw, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		gz := plain + ".gz"
		if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := (&Loader{Pool: pool}).LoadFile(ctx, gz, Options{})
		if err != nil || res.Duplicate || res.Loaded == 0 || res.Checksum != sha256Hex(raw) {
			t.Fatalf("%s.gz: %+v, %v", name, res, err)
		}
		res, err = (&Loader{Pool: pool}).LoadFile(ctx, plain, Options{})
		if err != nil || !res.Duplicate {
			t.Fatalf("%s after its .gz: %+v, %v", name, res, err)
		}
	}
	// a bad row of a gzip file is reported at its line
	path := filepath.Join(t.TempDir(), "bad.csv.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("observed_at,lon,lat\n2024-05-01T09:30:00Z,12,42\n2024-05-01T09:30:00Z,12,420\n"))
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
	_, err := (&Loader{Pool: pool}).LoadFile(ctx, path, Options{})
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Errors) != 1 || !strings.HasPrefix(inv.Errors[0].Error(), path+":3: lat: ") {
		t.Fatalf("%v", err)
	}
}
