package memstore

import (
	"context"
	"errors"
	"sync"
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
	var calls, outside int
	onDistinct = func() {
		calls++
		if scanProcs.Load().active.Load() < 1 {
			outside++
		}
	}
	q := tiles.Query{By: []tiles.Dim{tiles.DimZone}, Loc: time.UTC}
	for _, split := range []bool{false, true} {
		if split {
			forceParallel(t)
		}
		calls, outside = 0, 0
		if err := s.Aggregate(context.Background(), q, func(tiles.Group) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if calls != 1 || outside != 0 {
			t.Errorf("split %v: %d counts of distinct visitors, %d of them without a scan processor", split, calls, outside)
		}
	}
}
