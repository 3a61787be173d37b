package mirror

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// A batch committed by another process reaches a following mirror through
// LISTEN/NOTIFY, and the tiered source answers from memory for windows the
// mirror holds and from PostGIS for older ones, identically.
func TestMirrorFollowsNewBatches(t *testing.T) {
	pool := testdb.New(t)
	records := sourcetest.Records(sourcetest.Seed(t), 3000)
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, records[:1000], zones)

	s := pgstore.New(pool, refdata.Italy(), 0)
	mem := memstore.New(refdata.Italy())
	m := New(pool, refdata.Italy(), map[int16]*memstore.Store{0: mem}, time.Time{})
	if _, err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	v0 := m.Version()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	areas := make(chan struct{}, 1)
	go m.Follow(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { areas <- struct{}{} })

	total := func(src tiles.Source) int64 {
		var n int64
		err := src.Aggregate(context.Background(), tiles.Query{Filter: tiles.Filter{}}, func(g tiles.Group) error { n += g.Count; return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var want int64
	for _, r := range records {
		want += int64(r.Weight)
	}
	testdb.Insert(t, pool, records[1000:], zones)
	deadline := time.Now().Add(10 * time.Second)
	for total(mem) != want {
		if time.Now().After(deadline) {
			t.Fatalf("memory holds %d people after the second batch, want %d", total(mem), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m.Version() == v0 {
		t.Error("the data version did not change with the batch")
	}
	// LISTEN holds a connection of its own, none of the pool's
	for deadline := time.Now().Add(30 * time.Second); pool.Stat().AcquiredConns() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("following holds %d of the pool's connections", pool.Stat().AcquiredConns())
		}
	}
	var listening int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'flowtiles listen'`).Scan(&listening); err != nil || listening != 1 {
		t.Fatalf("%d connections named flowtiles listen (%v), want 1", listening, err)
	}
	if _, err := pool.Exec(context.Background(), "NOTIFY flowtiles_areas"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-areas:
	case <-time.After(10 * time.Second):
		t.Fatal("no call after NOTIFY flowtiles_areas")
	}

	// memory holding only the records from the tenth day on
	part := New(pool, refdata.Italy(), map[int16]*memstore.Store{0: memstore.New(refdata.Italy())}, sourcetest.Start.AddDate(0, 0, 10))
	if _, err := part.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	tiered, err := part.Source(0, s)
	if err != nil {
		t.Fatal(err)
	}
	if tiered.Version() != part.Version() {
		t.Error("the tiered source's version is not the mirror's")
	}
	recent := tiles.Filter{}
	recent.From = sourcetest.Start.AddDate(0, 0, 12)
	for _, f := range []tiles.Filter{tiles.Filter{}, recent} {
		var a, b int64
		q := tiles.Query{Filter: f}
		tiered.Aggregate(context.Background(), q, func(g tiles.Group) error { a += g.Count; return nil })
		s.Aggregate(context.Background(), q, func(g tiles.Group) error { b += g.Count; return nil })
		if a != b || a == 0 {
			t.Errorf("filter %+v: tiered %d, PostGIS %d", f, a, b)
		}
	}
}

// Loaded into memory, the data of PostGIS answers exactly as PostGIS does
// (the conformance suite of tiles.Source, on both).
func TestMirrorConformance(t *testing.T) {
	pool := testdb.New(t)
	records := sourcetest.Records(sourcetest.Seed(t), 6000)
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, records[:4000], zones)
	testdb.Insert(t, pool, records[4000:], zones)
	mem := memstore.New(refdata.Italy())
	n, err := New(pool, refdata.Italy(), map[int16]*memstore.Store{0: mem}, time.Time{}).Load(context.Background())
	if err != nil || n != int64(len(records)) {
		t.Fatalf("mirror load: %d rows, %v", n, err)
	}
	sourcetest.Check(t, mem, records, zones)
}
