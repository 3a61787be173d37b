package memstore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// A sealed block holds its rows sorted by time in columns of exactly their
// length, the columns of one element type in one allocation: six
// allocations in all with the block and the sort's permutation.
func TestSeal(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 5))
	cx, cy := rng.Uint32()>>cellShift, rng.Uint32()>>cellShift
	b := &block{key: blockKey{cx: cx, cy: cy}}
	var rows []Row
	for i := range 5000 {
		r := Row{T: rng.Uint32N(1 << 20), X: cx<<cellShift | rng.Uint32N(1<<cellShift), Y: cy<<cellShift | rng.Uint32N(1<<cellShift), Weight: rng.Uint32(), Key: uint32(i),
			Origin: uint16(rng.Uint32()), Nat: uint8(rng.Uint32()), Attrs: tiles.Attrs(rng.Uint32()), Zones: uint16(rng.Uint32())}
		rows = append(rows, r)
		b.append(&r, rng.Uint32())
	}
	s := b.seal()
	n := len(rows)
	for _, c := range []int{len(s.t), cap(s.t), cap(s.x), cap(s.y), cap(s.w), cap(s.k), cap(s.v), cap(s.o), cap(s.z), cap(s.n), cap(s.a), len(s.a)} {
		if c != n {
			t.Fatalf("a column of length or capacity %d, want %d", c, n)
		}
	}
	if s.bytes() != int64(n)*26 {
		t.Fatalf("bytes %d, want %d", s.bytes(), n*26)
	}
	slices.SortStableFunc(rows, func(p, q Row) int { return int(int64(p.T) - int64(q.T)) })
	for i, r := range rows {
		if x, y := s.at(i); s.t[i] != r.T || x != r.X || y != r.Y || s.w[i] != r.Weight || s.k[i] != r.Key || s.v[i] != b.v[r.Key] ||
			s.o[i] != r.Origin || s.n[i] != r.Nat || s.a[i] != r.Attrs || s.z[i] != r.Zones {
			t.Fatalf("row %d differs", i)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { b.seal() }); allocs > 6 {
		t.Fatalf("%v allocations to seal a block, want 6", allocs)
	}
}

// A block whose records all weigh 1 (the data contract's default) holds no
// weight column of its own: it shares one of ones, and takes 22 bytes per
// record.
func TestSealUnitWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 6))
	build := func(n int, weight func(i int) uint32) *block {
		b := &block{}
		for i := range n {
			r := Row{T: rng.Uint32N(1 << 20), X: rng.Uint32N(1 << cellShift), Weight: weight(i), Key: uint32(i)}
			b.append(&r, 0)
		}
		return b.seal()
	}
	one := func(int) uint32 { return 1 }
	a, b := build(3000, one), build(5000, one)
	if a.bytes() != 3000*22 || b.bytes() != 5000*22 {
		t.Fatalf("bytes %d and %d, want %d and %d", a.bytes(), b.bytes(), 3000*22, 5000*22)
	}
	if len(a.w) != 3000 || cap(a.w) != 3000 || len(b.w) != 5000 || slices.ContainsFunc(b.w, func(w uint32) bool { return w != 1 }) {
		t.Fatalf("weights of length %d (cap %d) and %d, want ones", len(a.w), cap(a.w), len(b.w))
	}
	if &b.w[0] != &onesOf(1)[0] {
		t.Fatal("the weights of a block of ones are not the shared ones")
	}
	// one record of another weight, anywhere, keeps the block's own column
	c := build(4000, func(i int) uint32 { return 1 + uint32(i/3999) })
	if c.bytes() != 4000*26 || c.unitW || &c.w[0] == &onesOf(1)[0] {
		t.Fatalf("bytes %d, want %d, in a column of its own", c.bytes(), 4000*26)
	}
	var sum uint32
	for _, w := range c.w {
		sum += w
	}
	if sum != 4001 {
		t.Fatalf("weights sum to %d, want 4001", sum)
	}
}
