package pgstore

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/tiles"
)

// The cell list of an area holds the cell of every point inside it, and
// only cells the area overlaps; wide areas get no list.
func TestCoveringCells(t *testing.T) {
	tile := func(z uint, x, y int64) tiles.Rect {
		s := int64(1) << (32 - z)
		return tiles.Rect{MinX: x * s, MinY: y * s, MaxX: (x + 1) * s, MaxY: (y + 1) * s}
	}
	if c := coveringCells(tile(16, 35028, 24085)); len(c) != 1 || c[0] != 24085*65536+35028 {
		t.Errorf("z16 tile: %v", c)
	}
	if c := coveringCells(tile(12, 2189, 1505)); len(c) != 256 {
		t.Errorf("z12 tile: %d cells", len(c))
	}
	if c := coveringCells(tile(11, 1094, 752)); len(c) != 1024 {
		t.Errorf("z11 tile: %d cells", len(c))
	}
	if c := coveringCells(tile(10, 547, 376)); c != nil {
		t.Errorf("z10 tile: %d cells, want none", len(c))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		x0, y0 := rng.Int64N(1<<32-1<<22), rng.Int64N(1<<32-1<<22)
		a := tiles.Rect{MinX: x0, MinY: y0, MaxX: x0 + 1 + rng.Int64N(1<<21), MaxY: y0 + 1 + rng.Int64N(1<<21)}
		cells := coveringCells(a)
		if cells == nil {
			if n := ((a.MaxX-1)>>16 - a.MinX>>16 + 1) * ((a.MaxY-1)>>16 - a.MinY>>16 + 1); n <= maxCells {
				t.Fatalf("area %+v: no cell list for %d cells", a, n)
			}
			continue
		}
		for range 20 {
			x, y := a.MinX+rng.Int64N(a.MaxX-a.MinX), a.MinY+rng.Int64N(a.MaxY-a.MinY)
			if c := (y>>16)*65536 + x>>16; !slices.Contains(cells, c) {
				t.Fatalf("area %+v: point (%d, %d) in cell %d, not in %v", a, x, y, c, cells)
			}
		}
		for _, c := range cells {
			cell := tiles.Rect{MinX: c % 65536 << 16, MinY: c / 65536 << 16, MaxX: (c%65536 + 1) << 16, MaxY: (c/65536 + 1) << 16}
			if !cell.Intersects(a) {
				t.Fatalf("area %+v: cell %d does not overlap it", a, c)
			}
		}
	}
}
