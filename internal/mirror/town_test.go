package mirror

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// A mirror of two towns of a database of three: each town's records in its
// own store (the conformance suite of two towns, in memory and tiered over
// PostGIS), the third town's never loaded nor counted in the memory
// budget; a new batch's rows reach their towns' stores, and a batch of the
// third town changes no served town's figures.
func TestMirrorTowns(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	addTowns(t, pool, "second", "third")
	seed := sourcetest.Seed(t)
	all, byTown := sourcetest.SplitTowns(sourcetest.Records(seed, 6000))
	third := inTown(sourcetest.Records(seed+1, 3000), 2)
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, all[:4000], zones)
	testdb.Insert(t, pool, third, zones)
	testdb.Insert(t, pool, all[4000:], zones)
	cat := refdata.Italy()

	// the budget of the served towns' records holds them all; with the
	// third town's, it would not
	since, err := BudgetSince(ctx, pool, []int16{0, 1}, int64(len(all))*40, 40)
	if err != nil || !since.IsZero() {
		t.Fatalf("a budget of the served towns' records: since %v (%v), want everything", since, err)
	}
	if since, err := BudgetSince(ctx, pool, []int16{0, 1, 2}, int64(len(all))*40, 40); err != nil || since.IsZero() {
		t.Fatalf("the same budget for the three towns: since %v (%v), want some months only", since, err)
	}

	mems := map[int16]*memstore.Store{0: memstore.New(cat), 1: memstore.New(cat)}
	m := New(pool, cat, mems, time.Time{})
	n, err := m.Load(ctx)
	if err != nil || n != int64(len(all)) {
		t.Fatalf("loaded %d rows (%v), want the served towns' %d", n, err, len(all))
	}
	if !slices.Equal(m.Towns(), []int16{0, 1}) {
		t.Fatalf("towns %v", m.Towns())
	}
	sources := func(m *Mirror) map[int16]tiles.Source {
		out := map[int16]tiles.Source{}
		for _, town := range m.Towns() {
			src, err := m.Source(town, pgstore.New(pool, cat, town))
			if err != nil {
				t.Fatal(err)
			}
			out[town] = src
		}
		return out
	}
	t.Run("memory", func(t *testing.T) {
		sourcetest.CheckTowns(t, map[int16]tiles.Source{0: mems[0], 1: mems[1]}, byTown, zones)
	})
	// memory from the tenth day: windows before it are PostGIS's
	part := New(pool, cat, map[int16]*memstore.Store{0: memstore.New(cat), 1: memstore.New(cat)}, sourcetest.Start.AddDate(0, 0, 10))
	if _, err := part.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("tiered", func(t *testing.T) { sourcetest.CheckTowns(t, sources(part), byTown, zones) })

	if _, err := m.Source(2, pgstore.New(pool, cat, 2)); err == nil || !strings.Contains(err.Error(), "town 2 is not mirrored") {
		t.Errorf("a source of a town not mirrored: %v", err)
	}
	if _, err := m.Source(0, pgstore.New(pool, cat, 1)); err == nil {
		t.Error("a source of town 0 over a store of town 1")
	}

	// a batch of the third town: the version may move, the figures not
	srcs := sources(m)
	before := map[int16]int64{0: total(t, srcs[0]), 1: total(t, srcs[1])}
	testdb.Insert(t, pool, inTown(sourcetest.Records(seed+2, 500), 2), zones)
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for town, want := range before {
		if got := total(t, srcs[town]); got != want {
			t.Errorf("town %d: %d people after a batch of another town, want %d", town, got, want)
		}
	}
	// a batch of both served towns: each its own rows
	more, moreByTown := sourcetest.SplitTowns(sourcetest.Records(seed+3, 900))
	v := m.Version()
	testdb.Insert(t, pool, more, zones)
	if err := m.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Version() == v {
		t.Error("the data version did not move with a batch of served towns")
	}
	for town, want := range before {
		for _, r := range moreByTown[town] {
			want += int64(r.Weight)
		}
		if got := total(t, srcs[town]); got != want {
			t.Errorf("town %d: %d people after a batch of both towns, want %d", town, got, want)
		}
	}
	byTown[0] = append(byTown[0], moreByTown[0]...)
	byTown[1] = append(byTown[1], moreByTown[1]...)
	t.Run("caught up", func(t *testing.T) { sourcetest.CheckTowns(t, srcs, byTown, zones) })
}

// addTowns adds towns without a perimeter (IDs 1, 2, ... after town 0).
func addTowns(t *testing.T, pool *pgxpool.Pool, codes ...string) {
	t.Helper()
	for _, code := range codes {
		if _, err := towns.Add(context.Background(), pool, tiles.Town{Code: code, Name: code}); err != nil {
			t.Fatal(err)
		}
	}
}

// inTown puts records in town.
func inTown(records []presence.Record, town int16) []presence.Record {
	for i := range records {
		records[i].Town = town
	}
	return records
}

// total is the people of every record src answers for.
func total(t *testing.T, src tiles.Source) int64 {
	t.Helper()
	var n int64
	if err := src.Aggregate(context.Background(), tiles.Query{}, func(g tiles.Group) error { n += g.Count; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A mirror reads its towns' partitions of presence only (00010): with
// another town's partition locked by a transaction, the memory budget, the
// start and the catching up of a group of two towns never wait for it (a
// statement that touched it would fail on the lock timeout).
func TestMirrorReadsOnlyItsTowns(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	addTowns(t, pool, "second", "third")
	seed := sourcetest.Seed(t)
	all, _ := sourcetest.SplitTowns(sourcetest.Records(seed, 3000))
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, all, zones)
	testdb.Insert(t, pool, inTown(sourcetest.Records(seed+1, 2000), 2), zones)

	cfg, err := pgxpool.ParseConfig(pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "30s"
	group, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	lock, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) // (error ignored)
	if _, err := lock.Exec(ctx, "LOCK TABLE presence_t2 IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	if _, err := BudgetSince(ctx, group, []int16{0, 1}, 1<<20, 40); err != nil {
		t.Fatalf("the budget of two towns: %v", err)
	}
	cat := refdata.Italy()
	mems := map[int16]*memstore.Store{0: memstore.New(cat), 1: memstore.New(cat)}
	m := New(group, cat, mems, time.Time{})
	if n, err := m.Load(ctx); err != nil || n != int64(len(all)) {
		t.Fatalf("loaded %d rows (%v), want %d", n, err, len(all))
	}
	more := sourcetest.Records(seed+2, 300)
	testdb.Insert(t, group, more, zones) // town 0's
	if err := m.CatchUp(ctx); err != nil {
		t.Fatalf("catching up: %v", err)
	}
	var want int64
	for _, r := range append(all, more...) {
		if r.Town == 0 {
			want += int64(r.Weight)
		}
	}
	if got := total(t, mems[0]); got != want {
		t.Fatalf("town 0: %d people, want %d", got, want)
	}
}
