package memstore

// A density scan bins every record of its window (binIndex.index: a
// seventh of a planner's view), and a planner's next view, with another
// filter, bins the same records again at the same zoom. A block keeps the
// bins of its records in the last grid a scan asked of it: one byte per
// record, the bin's place in the few bins the block's bounding box can
// reach (blockBins). A scan turns those places into its own bin indexes
// with a table per block (binTable), built from the block's origin in the
// grid. Grids whose bins are too small for a byte (zoom 18 and beyond,
// where a block of 2^14 world units reaches more than 256 bins) are binned
// record by record, as before.
//
// The bins are of the block's records, which never change (a block is
// immutable once published), so they are right whatever the query: a scan
// that asks another grid (a kiosk's zoom beside a planner's) builds that
// grid's and replaces the block's. They take at most a byte per record
// (36.5 + 1 at 10 M records) once a density view has read every block.

import "github.com/flowtiles/flowtiles/tiles"

// blockBins is the bins of a block's records in one grid: idx[i] is
// record i's place among the bins of rows × cols from (r0, c0) in the
// grid's rows and columns, row-major.
type blockBins struct {
	shape        tiles.Shape
	w            int64 // the grid's bin width: a grid is its shape and width (its height follows)
	r0, c0, cols int64
	places       int64 // rows × cols
	idx          []uint8
}

// maxPlaces is the most bins a blockBins tells apart: a byte.
const maxPlaces = 256

// binTable is a scan's view of a block's blockBins: tab[p] is its bin
// index of place p.
type binTable struct {
	idx []uint8
	tab [maxPlaces]int32
}

// blockTable returns b's bins as sc.bin's indexes, building b's blockBins
// for sc's grid when b keeps another's (or none), or nil when the grid's
// bins are too small for a byte.
func (sc *scan) blockTable(b *block) *binTable {
	bi := sc.bin
	bb := b.bins.Load()
	if bb == nil || bb.shape != bi.shape() || bb.w != bi.w {
		if bb = newBlockBins(bi, b); bb == nil {
			return nil
		}
		b.bins.Store(bb)
	}
	if sc.btab == nil {
		sc.btab = new(binTable)
	}
	bt := sc.btab
	bt.idx = bb.idx
	for p := range bb.places {
		row, col := p/bb.cols+bb.r0, p%bb.cols+bb.c0
		bt.tab[p] = int32((row-bi.r0)*bi.cols + col - bi.c0)
	}
	return bt
}

// newBlockBins bins the records of b in bi's grid, or returns nil when
// b's bounding box reaches more than maxPlaces of its bins.
func newBlockBins(bi *binIndex, b *block) *blockBins {
	// b's own binIndex: its records' bins lie in rows and columns from
	// (r0, c0), fewer than rows and cols of them (as for a scan's area)
	lb := *bi
	lb.r0, lb.c0 = int64(b.minY)/bi.h, int64(b.minX)/bi.w
	lb.rows = (int64(b.maxY)-int64(b.minY))/bi.h + 3
	lb.cols = (int64(b.maxX)-int64(b.minX))/bi.w + 3
	if lb.rows*lb.cols > maxPlaces {
		return nil
	}
	bb := &blockBins{shape: bi.shape(), w: bi.w, r0: lb.r0, c0: lb.c0, cols: lb.cols, places: lb.rows * lb.cols,
		idx: make([]uint8, b.len())}
	xs, ys := b.x, b.y[:len(b.x)]
	x0, y0 := b.corner()
	for i, x := range xs {
		bb.idx[i] = uint8(lb.index(x0+uint32(x), y0+uint32(ys[i])))
	}
	return bb
}
