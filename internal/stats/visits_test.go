package stats

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
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
			es[i] = visitEntry{Visitor: c.id(), Key: rng.Uint32(), Dwell: rng.Int32N(86400)}
			g.push(es[i])
		}
		want := slices.Clone(es)
		byAll := func(a, b visitEntry) int {
			return cmp.Or(cmp.Compare(a.Visitor, b.Visitor), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Dwell, b.Dwell))
		}
		slices.SortFunc(want, byAll)
		got := g.byVisitor()
		if !slices.IsSortedFunc(got, func(a, b visitEntry) int { return cmp.Compare(a.Visitor, b.Visitor) }) {
			t.Errorf("%s: not sorted by visitor", c.name)
		}
		got = slices.Clone(got)
		slices.SortFunc(got, byAll)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the entries changed", c.name)
		}
	}
}

// TestMedian checks the selection (and, past minBucketSelect values, the
// buckets of the middle ones) against the median of a sorted copy.
func TestMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 4))
	for _, n := range []int{0, 1, 2, 3, 16, 17, 18, 1000, 1001, minBucketSelect - 1, minBucketSelect, minBucketSelect + 1, 100_000, 100_001} {
		for _, spread := range []int64{1, 3, 1000, 86400, 1 << 40} {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = rng.Int64N(spread)
				if spread == 3 && i%2 == 0 {
					xs[i] += 80000 // two clusters far apart, of half the values each: the middle ones in different buckets
				}
			}
			if spread == 86400 && n > 2 {
				xs[n/3] = -1 // outside a dwell time's range: selected as any values
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

// TestTallyRows checks the rows' tallies, and the total's made from them,
// against each group's own tally (sorted by itself): visitors each in one
// row, one visitor in two rows of a half or of both halves, and visitor
// ids too large for a bitset.
func TestTallyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 5))
	for _, c := range []struct {
		name  string
		twice func(rows int) (a, b int) // rows sharing a visitor (-1: none)
		wide  bool
	}{
		{"each in one row", func(int) (int, int) { return -1, -1 }, false},
		{"one in the first two rows", func(int) (int, int) { return 0, 1 }, false},
		{"one in the first and last rows", func(rows int) (int, int) { return 0, rows - 1 }, false},
		{"one in the last two rows", func(rows int) (int, int) { return rows - 2, rows - 1 }, false},
		{"wide ids", func(int) (int, int) { return -1, -1 }, true},
	} {
		for _, rows := range []int{2, 3, 40} {
			tl := &visitTally{rows: map[int64]*visitGroup{}}
			var all visitGroup
			a, b := c.twice(rows)
			next := uint64(2) // (1 is the visitor of two rows)
			for r := range rows {
				g := &visitGroup{}
				tl.rows[int64(r*7)] = g
				for range 1 + rng.IntN(60) {
					v := next
					if c.wide {
						v = rng.Uint64()
					}
					next++
					for range 1 + rng.IntN(3) {
						e := visitEntry{Visitor: v, Key: rng.Uint32(), Dwell: rng.Int32N(4 * 3600)}
						g.push(e)
						all.push(e)
					}
				}
				if r == a || r == b {
					e := visitEntry{Visitor: 1, Key: rng.Uint32(), Dwell: rng.Int32N(4 * 3600)}
					g.push(e)
					all.push(e)
				}
			}
			want := map[int64]tiles.VisitTally{}
			for k, g := range tl.rows {
				want[k] = g.tally()
			}
			tl.tallyRows()
			name := fmt.Sprintf("%s, %d rows", c.name, rows)
			for k, g := range tl.rows {
				if g.tallied == nil || *g.tallied != want[k] {
					t.Errorf("%s: row %d: %+v, want %+v", name, k, g.tallied, want[k])
				}
			}
			if got, want := tl.totalTally(), all.tally(); got != want {
				t.Errorf("%s: total %+v, want %+v", name, got, want)
			}
		}
	}
}
