package memstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// Concurrent scans, parallel or not, of every kind (aggregates by zone and
// by origin, visits) never run more goroutines at once than the scan
// processors, and give the answers they give alone.
func TestScanProcessors(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 20000)
	s := load(t, records, sourcetest.Zones(), 2)
	queries := []tiles.Query{
		{By: []tiles.Dim{tiles.DimZone}, Loc: time.UTC},
		{By: []tiles.Dim{tiles.DimMunicipality, tiles.DimZone}, Loc: time.UTC, WithRest: true,
			Filter: tiles.Filter{Genders: 0b10, Hours: 0xffff00}},
		{Loc: time.UTC},
	}
	answer := func(q tiles.Query) (map[[2]int64]tiles.Group, int) {
		groups := map[[2]int64]tiles.Group{}
		if err := s.Aggregate(context.Background(), q, func(g tiles.Group) error { groups[g.Key] = g; return nil }); err != nil {
			t.Error(err)
		}
		visits := 0
		if err := s.Visits(context.Background(), q, func(tiles.Visit) error { visits++; return nil }); err != nil {
			t.Error(err)
		}
		return groups, visits
	}
	type result struct {
		groups map[[2]int64]tiles.Group
		visits int
	}
	alone := make([]result, len(queries))
	for i, q := range queries {
		alone[i].groups, alone[i].visits = answer(q)
	}
	for _, procs := range []int{1, 2} {
		forceParallel(t) // 3 workers a scan...
		SetScanProcessors(procs)
		limit := scanProcs.Load()
		var wg sync.WaitGroup
		for range 4 {
			for i, q := range queries {
				wg.Go(func() {
					groups, visits := answer(q)
					if len(groups) != len(alone[i].groups) || visits != alone[i].visits {
						t.Errorf("query %d: %d groups and %d visits, alone %d and %d", i, len(groups), visits, len(alone[i].groups), alone[i].visits)
					}
					for k, g := range groups {
						if g != alone[i].groups[k] {
							t.Errorf("query %d, group %v: %+v, alone %+v", i, k, g, alone[i].groups[k])
						}
					}
				})
			}
		}
		wg.Wait()
		if peak := limit.peak.Load(); peak > int32(procs) || peak < 1 {
			t.Errorf("%d scan processors: %d goroutines scanned at once", procs, peak)
		}
	}
}

// A scan waits for a processor until its context ends, and says so.
func TestScanProcessorWait(t *testing.T) {
	defer SetScanProcessors(ScanProcessors())
	SetScanProcessors(1)
	s := load(t, sourcetest.Records(sourcetest.Seed(t), 2000), sourcetest.Zones(), 1)
	held := scanProcs.Load()
	if err := held.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Aggregate(ctx, tiles.Query{Loc: time.UTC}, func(tiles.Group) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("aggregate with every processor taken: %v, want the deadline", err)
	}
	err = s.Visits(ctx, tiles.Query{Loc: time.UTC}, func(tiles.Visit) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("visits with every processor taken: %v, want the deadline", err)
	}
	held.release()
	if err := s.Aggregate(context.Background(), tiles.Query{Loc: time.UTC}, func(tiles.Group) error { return nil }); err != nil {
		t.Errorf("aggregate once the processor is free: %v", err)
	}
}

// A scan counts its distinct visitors while it holds a scan processor,
// sequential or split: that CPU-bound work leaves the spare processor to
// light requests too.
func TestDistinctHoldsProcessor(t *testing.T) {
	s := load(t, sourcetest.Records(sourcetest.Seed(t), 5000), sourcetest.Zones(), 2)
	defer func(f func()) { onDistinct = f }(onDistinct)
	var calls, outside atomic.Int32
	onDistinct = func() {
		calls.Add(1)
		if scanProcs.Load().active.Load() < 1 {
			outside.Add(1)
		}
	}
	q := tiles.Query{By: []tiles.Dim{tiles.DimZone}, Loc: time.UTC}
	for _, split := range []bool{false, true} {
		if split {
			forceParallel(t)
		}
		calls.Store(0)
		outside.Store(0)
		if err := s.Aggregate(context.Background(), q, func(tiles.Group) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if calls.Load() != 1 || outside.Load() != 0 {
			t.Errorf("split %v: %d counts of distinct visitors, %d of them without a scan processor", split, calls.Load(), outside.Load())
		}
	}
}

// spread calls fn once with each index, on the caller and on a goroutine
// for each processor free at the time (the processors it took: the
// limit's peak), never on more goroutines than processors; with none
// free, on the caller alone. Nothing here waits for a goroutine to start.
func TestSpread(t *testing.T) {
	for _, c := range []struct{ procs, taken, n, extra int }{
		{3, 1, 10, 2}, {3, 1, 2, 1}, {2, 2, 5, 0}, {1, 1, 4, 0}, {4, 1, 1, 0}, {3, 1, 0, 0},
	} {
		l := &procLimit{slots: make(chan struct{}, c.procs)}
		for range c.taken { // the caller's, and any other scan's
			if err := l.acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		calls := make([]atomic.Int32, c.n)
		var now, most, worst atomic.Int32
		l.spread(c.n, func(i, worker int) {
			n := now.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			for w := worst.Load(); int32(worker) > w && !worst.CompareAndSwap(w, int32(worker)); w = worst.Load() {
			}
			calls[i].Add(1)
			now.Add(-1)
		})
		for i := range calls {
			if calls[i].Load() != 1 {
				t.Errorf("%+v: index %d called %d times", c, i, calls[i].Load())
			}
		}
		if got := int(l.peak.Load()) - c.taken; got != c.extra {
			t.Errorf("%+v: %d processors more taken, want %d", c, got, c.extra)
		}
		if int(most.Load()) > 1+c.extra || int(worst.Load()) > c.extra {
			t.Errorf("%+v: %d calls at once, worker %d, with %d goroutines", c, most.Load(), worst.Load(), 1+c.extra)
		}
		if got := int(l.active.Load()); got != c.taken {
			t.Errorf("%+v: %d processors taken after, want %d", c, got, c.taken)
		}
	}
}
