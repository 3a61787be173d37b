package memstore

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// A scan's runs, its own and its workers', come out of radixByVisitor
// sorted by visitor, none lost or repeated, whatever the number of
// visitors (one pass of 11 bits, two, three), in one goroutine and split
// between two.
func TestRadixByVisitor(t *testing.T) {
	t.Run("sequential", testRadixByVisitor)
	t.Run("parallel", func(t *testing.T) {
		forceParallel(t)
		testRadixByVisitor(t)
	})
}

func testRadixByVisitor(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 9))
	for _, visitors := range []uint32{1, 2000, 3_000_000, 1<<31 + 5} {
		sc := &scan{sn: &snapshot{visitors: visitors}, bufs: &scanBufs{}}
		var all []uint64
		for l := range 3 {
			var ps []uint64
			for range 500 + rng.IntN(3000) {
				p := run(rng.IntN(runCodeLimit), rng.Uint32N(1<<runMaskBits), 1+rng.Uint32N(visitors))
				ps = append(ps, p)
			}
			all = append(all, ps...)
			if l == 0 {
				sc.pairs = ps
			} else {
				sc.more = append(sc.more, ps)
			}
		}
		got := slices.Clone(sc.radixByVisitor())
		if !slices.IsSortedFunc(got, func(a, b uint64) int { return int(uint32(a)) - int(uint32(b)) }) {
			t.Errorf("%d visitors: runs not sorted by visitor", visitors)
		}
		slices.Sort(got)
		slices.Sort(all)
		if !slices.Equal(got, all) {
			t.Errorf("%d visitors: %d runs out of %d, not the same", visitors, len(got), len(all))
		}
	}
}

// A grouping by zone has groups up to the highest zone the snapshot's
// records are in (snapshot.zoneSet), and counts every zone of the
// records: a zone first met in a later batch widens the later snapshots'
// groupings, not the earlier's.
func TestZoneSet(t *testing.T) {
	zones := sourcetest.Zones()
	zones[1].Key = 5 // a town's zones need not be numbered from 0 up
	zi := tiles.NewZoneIndex(zones)
	var inner, outer []presence.Record // in zone 0 alone, and the others
	want := map[int64]int64{}          // records per zone key (-1: none)
	for _, r := range sourcetest.Records(sourcetest.Seed(t), 6000) {
		m := zi.Mask(orb.Point{r.Lon, r.Lat})
		if m == 1 {
			inner = append(inner, r)
		} else {
			outer = append(outer, r)
		}
		if m == 0 {
			want[-1] += int64(r.Weight)
		}
		for z := range tiles.MaxZones {
			if m&(1<<z) != 0 {
				want[int64(z)] += int64(r.Weight)
			}
		}
	}
	if len(inner) == 0 || want[5] == 0 {
		t.Fatalf("no records in zone 0 alone (%d) or in zone 5 (%d)", len(inner), want[5])
	}
	var s *Store
	for _, order := range []struct {
		batches [2][]presence.Record
		want    [2]int // groups by zone after each
	}{{[2][]presence.Record{inner, outer}, [2]int{2, 7}}, {[2][]presence.Record{outer, inner}, [2]int{7, 7}}} {
		s = New(refdata.Italy())
		for i, batch := range order.batches {
			if err := s.Add(batch, zi); err != nil {
				t.Fatal(err)
			}
			sn := s.snap.Load()
			d, err := (&scan{sn: sn}).dim(s, tiles.DimZone)
			if err != nil {
				t.Fatal(err)
			}
			if d.n != order.want[i] {
				t.Errorf("zone set %b: %d groups by zone, want %d", sn.zoneSet, d.n, order.want[i])
			}
		}
	}
	got := map[int64]int64{}
	err := s.Aggregate(context.Background(), tiles.Query{By: []tiles.Dim{tiles.DimZone}, Loc: sourcetest.Rome}, func(g tiles.Group) error {
		got[g.Key[0]] = g.Count
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("records by zone %v, want %v", got, want)
	}
}
