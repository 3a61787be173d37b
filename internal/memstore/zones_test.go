package memstore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
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
