package stats

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// TestByVisitor checks the radix sort of a group's chunks against a
// comparison sort: the same entries, each visitor's together in visitor
// order, for dense ids, ids over all 64 bits, one visitor, and groups too
// small for the radix.
func TestByVisitor(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 3))
	for _, c := range []struct {
		name string
		n    int
		id   func() uint64
	}{
		{"dense", 50_000, func() uint64 { return uint64(rng.IntN(20_000) + 1) }},
		{"wide", 20_000, func() uint64 { return rng.Uint64() >> uint(rng.IntN(64)) }},
		{"one byte", 5_000, func() uint64 { return uint64(rng.IntN(200)) << 16 }},
		{"one visitor", 1_000, func() uint64 { return 1 << 40 }},
		{"short", 200, func() uint64 { return uint64(rng.IntN(50)) }},
	} {
		es := make([]visitEntry, c.n)
		var g visitGroup
		for i := range es {
			es[i] = visitEntry{visitor: c.id(), key: rng.Uint32(), dwell: rng.Int32N(86400)}
			g.push(es[i])
		}
		want := slices.Clone(es)
		byAll := func(a, b visitEntry) int {
			return cmp.Or(cmp.Compare(a.visitor, b.visitor), cmp.Compare(a.key, b.key), cmp.Compare(a.dwell, b.dwell))
		}
		slices.SortFunc(want, byAll)
		got := g.byVisitor()
		if !slices.IsSortedFunc(got, func(a, b visitEntry) int { return cmp.Compare(a.visitor, b.visitor) }) {
			t.Errorf("%s: not sorted by visitor", c.name)
		}
		got = slices.Clone(got)
		slices.SortFunc(got, byAll)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the entries changed", c.name)
		}
	}
}

// TestMedian checks the selection against the median of a sorted copy.
func TestMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 4))
	for _, n := range []int{0, 1, 2, 3, 16, 17, 18, 1000, 1001, 100_000} {
		for _, spread := range []int64{1, 3, 1000, 86400} {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = rng.Int64N(spread)
			}
			if spread == 1000 && n > 1 {
				slices.Sort(xs) // sorted input: the worst case of a naive pivot
				if n%2 == 0 {
					slices.Reverse(xs)
				}
			}
			s := slices.Clone(xs)
			slices.Sort(s)
			var want float64
			if n > 0 {
				want = float64(s[n/2])
				if n%2 == 0 {
					want = float64(s[n/2-1]+s[n/2]) / 2
				}
			}
			if got := median(xs); got != want {
				t.Errorf("n=%d, spread %d: median %v, want %v", n, spread, got, want)
			}
		}
	}
}

// TestDenseTally checks the tally made as the visits come (denseTally)
// against the tally of the same visits sorted by visitor: for dense
// numbers, numbers past the dense range (from the first visit, or after
// some: the tally falls back to the sort), and with the pooled state of an
// earlier tally reused.
func TestDenseTally(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 5))
	for _, c := range []struct {
		name string
		n    int
		id   func(i int) uint64
	}{
		{"dense", 50_000, func(int) uint64 { return uint64(rng.IntN(20_000)) }},
		{"dense again", 30_000, func(int) uint64 { return uint64(rng.IntN(300_000)) }},
		{"few visitors", 5_000, func(int) uint64 { return uint64(rng.IntN(10)) }},
		{"wide", 2_000, func(int) uint64 { return rng.Uint64() }},
		{"wide later", 20_000, func(i int) uint64 {
			if i == 15_000 {
				return maxDense
			}
			return uint64(rng.IntN(5_000))
		}},
		{"one", 1, func(int) uint64 { return 7 }},
	} {
		dense, sorted := visitGroup{dense: getDense()}, visitGroup{}
		for i := range c.n {
			// dwell times on each side of the bands' bounds
			dwell := []int64{0, band30 - 1, band30, band120 - 1, band120, rng.Int64N(86400)}[rng.IntN(6)]
			v := tiles.Visit{Visitor: c.id(i), Key: rng.Uint32(), Day: rng.Int64N(30), First: 1000, Last: 1000 + dwell}
			dense.add(&v)
			sorted.add(&v)
		}
		wide := strings.HasPrefix(c.name, "wide")
		if (dense.dense == nil) != wide {
			t.Errorf("%s: tallied densely: %v", c.name, dense.dense != nil)
		}
		if got, want := dense.tally(), sorted.tally(); got != want {
			t.Errorf("%s: tally %+v, want %+v", c.name, got, want)
		}
		if dense.dense != nil {
			t.Errorf("%s: the dense state was kept after the tally", c.name)
		}
	}
}
