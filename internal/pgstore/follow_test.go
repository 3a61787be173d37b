package pgstore

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
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
	insert(t, pool, records[:1000], zones)

	s := New(pool, refdata.Italy())
	mem := memstore.New(refdata.Italy())
	m := s.NewMirror(mem, time.Time{})
	if _, err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
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
	insert(t, pool, records[1000:], zones)
	deadline := time.Now().Add(10 * time.Second)
	for total(mem) != want {
		if time.Now().After(deadline) {
			t.Fatalf("memory holds %d people after the second batch, want %d", total(mem), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pool.Exec(context.Background(), "NOTIFY flowtiles_areas"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-areas:
	case <-time.After(10 * time.Second):
		t.Fatal("no call after NOTIFY flowtiles_areas")
	}

	tiered := NewTiered(mem, s, sourcetest.Start.AddDate(0, 0, 10))
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
