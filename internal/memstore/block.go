package memstore

import (
	"slices"
	"sort"
	"sync/atomic"

	"github.com/flowtiles/flowtiles/tiles"
)

// Row is one presence record in the store's compact form.
type Row struct {
	T       uint32 // Unix seconds
	X, Y    uint32 // world coordinates (tiles.Project)
	Weight  uint32
	Key     uint32      // tiles.RecordKey
	Visitor int64       // presence.VisitorHash; 0 when absent
	Origin  uint16      // 1 + index in the municipality catalog; 0 when absent
	Nat     uint8       // tiles.CountryIndex; 0 when absent
	Attrs   tiles.Attrs // age, gender, spend
	Zones   uint16      // zone bit mask
}

// cellShift sets the spatial size of a block: 2^14 world units, about 110 m
// in central Italy. Blocks also split by UTC month.
const cellShift = 14

type blockKey struct {
	cx, cy uint32 // cell
	month  int32  // UTC year*12 + month-1
}

// block holds the records of one cell and month as columns, sorted by time.
// A block is immutable once published in a snapshot: writers build a new one.
// 26 bytes per record, 22 when every record weighs 1 (unitW).
type block struct {
	key              blockKey
	minX, minY       uint32 // bounding box of its records (inclusive)
	maxX, maxY       uint32
	minT, maxT       uint32
	t, w             []uint32
	x, y             []uint16 // a record's place in the cell: X - cx<<cellShift (at), Y - cy<<cellShift
	k                []uint32 // record key (tiles.RecordKey)
	v                []uint32 // dense visitor id, 0 when absent
	o                []uint16
	n                []uint8
	a                []tiles.Attrs
	z                []uint16
	hasZones, hasOrg bool
	unitW            bool // every weight is 1: w is shared (onesOf)
	// bins is its records' bins in the last grid a density scan asked
	// (blockbins.go): the only part of a block written once published.
	bins atomic.Pointer[blockBins]
}

func (b *block) len() int { return len(b.t) }

// corner is the world coordinates of the block's cell's corner, whence
// the x and y columns count.
func (b *block) corner() (x0, y0 uint32) { return b.key.cx << cellShift, b.key.cy << cellShift }

// at returns the world coordinates of record i.
func (b *block) at(i int) (x, y uint32) {
	x0, y0 := b.corner()
	return x0 + uint32(b.x[i]), y0 + uint32(b.y[i])
}

// append adds one record of the block's cell (and month); used only
// while building.
func (b *block) append(r *Row, visitor uint32) {
	x0, y0 := b.corner()
	b.t = append(b.t, r.T)
	b.x = append(b.x, uint16(r.X-x0))
	b.y = append(b.y, uint16(r.Y-y0))
	b.w = append(b.w, r.Weight)
	b.k = append(b.k, r.Key)
	b.v = append(b.v, visitor)
	b.o = append(b.o, r.Origin)
	b.n = append(b.n, r.Nat)
	b.a = append(b.a, r.Attrs)
	b.z = append(b.z, r.Zones)
}

// appendFrom copies record i of o, a block of the same cell.
func (b *block) appendFrom(o *block, i int) {
	b.t = append(b.t, o.t[i])
	b.x = append(b.x, o.x[i])
	b.y = append(b.y, o.y[i])
	b.w = append(b.w, o.w[i])
	b.k = append(b.k, o.k[i])
	b.v = append(b.v, o.v[i])
	b.o = append(b.o, o.o[i])
	b.n = append(b.n, o.n[i])
	b.a = append(b.a, o.a[i])
	b.z = append(b.z, o.z[i])
}

// seal sorts the block by time into exactly sized columns and computes its
// bounds. It returns a new block; b is left for the garbage collector.
// The columns of one element type share an allocation (four rather than
// ten), which the allocator rounds up once: sealed blocks are large, and
// an allocation over 32 KiB is rounded up to whole 8 KiB pages.
func (b *block) seal() *block {
	n := b.len()
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	if !sort.SliceIsSorted(b.t, func(i, j int) bool { return b.t[i] < b.t[j] }) {
		slices.SortStableFunc(perm, func(i, j int32) int {
			return int(int64(b.t[i]) - int64(b.t[j]))
		})
	}
	unit := !slices.ContainsFunc(b.w, func(w uint32) bool { return w != 1 })
	cols := 4
	if unit {
		cols = 3
	}
	w32, w16 := make([]uint32, cols*n), make([]uint16, 4*n)
	col32 := func(i int) []uint32 { return w32[i*n : (i+1)*n : (i+1)*n] }
	col16 := func(i int) []uint16 { return w16[i*n : (i+1)*n : (i+1)*n] }
	s := &block{
		key: b.key,
		t:   col32(0), k: col32(1), v: col32(2),
		x: col16(0), y: col16(1), o: col16(2), z: col16(3), n: make([]uint8, n), a: make([]tiles.Attrs, n),
		minT: ^uint32(0), unitW: unit,
	}
	if unit {
		s.w = onesOf(n)
	} else {
		s.w = col32(3)
		for i, p := range perm {
			s.w[i] = b.w[p]
		}
	}
	minX, minY, maxX, maxY := ^uint16(0), ^uint16(0), uint16(0), uint16(0)
	for i, p := range perm {
		s.t[i], s.x[i], s.y[i], s.k[i] = b.t[p], b.x[p], b.y[p], b.k[p]
		s.v[i], s.o[i], s.n[i], s.a[i], s.z[i] = b.v[p], b.o[p], b.n[p], b.a[p], b.z[p]
		minX, maxX = min(minX, s.x[i]), max(maxX, s.x[i])
		minY, maxY = min(minY, s.y[i]), max(maxY, s.y[i])
		s.hasZones = s.hasZones || s.z[i] != 0
		s.hasOrg = s.hasOrg || s.o[i] != 0
	}
	s.minX, s.minY = ^uint32(0), ^uint32(0)
	if n > 0 {
		x0, y0 := b.corner()
		s.minX, s.minY, s.maxX, s.maxY = x0+uint32(minX), y0+uint32(minY), x0+uint32(maxX), y0+uint32(maxY)
		s.minT, s.maxT = s.t[0], s.t[n-1]
	}
	return s
}

// bytes is the memory the block's columns hold (not the shared ones).
func (b *block) bytes() int64 {
	w := cap(b.w)
	if b.unitW {
		w = 0
	}
	return int64(cap(b.t)+w+cap(b.k)+cap(b.v))*4 +
		int64(cap(b.x)+cap(b.y)+cap(b.o)+cap(b.z))*2 + int64(cap(b.n)+cap(b.a))
}

// ones holds the weight column of the sealed blocks whose records all
// weigh 1, the data contract's default (one device each): they share it,
// read-only, instead of holding 4 bytes per record of ones, and scans read
// it as any weight column.
var ones atomic.Pointer[[]uint32]

// onesOf returns n ones, shared: no one may write to them. The shared
// column grows to the longest such block (at least doubling: the blocks of
// an older, shorter one keep it alive).
func onesOf(n int) []uint32 {
	p := ones.Load()
	if p == nil || len(*p) < n {
		c := 1024
		if p != nil {
			c = 2 * len(*p)
		}
		s := make([]uint32, max(n, c))
		for i := range s {
			s[i] = 1
		}
		p = &s
		ones.Store(p)
	}
	return (*p)[:n:n]
}

// timeRange returns the indexes [i, j) of the records with from ≤ t < to.
func (b *block) timeRange(from, to uint32) (int, int) {
	i, j := 0, b.len()
	if from > b.minT {
		i = sort.Search(j, func(k int) bool { return b.t[k] >= from })
	}
	if to <= b.maxT {
		j = sort.Search(j, func(k int) bool { return b.t[k] >= to })
	}
	return i, j
}
