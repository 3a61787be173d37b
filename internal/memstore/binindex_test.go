package memstore

import (
	"math/rand/v2"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// binIndex puts every point in the bin tiles.Grid.BinOf does, for both
// shapes and zooms from 0 to 19, points near bin edges and corners among
// them.
func TestBinIndexAsBinOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 6))
	for _, shape := range []tiles.Shape{tiles.Hexagon, tiles.Square} {
		for z := uint8(0); z <= 19; z++ {
			g := tiles.NewGrid(shape, z)
			area := tiles.Rect{MinX: 1<<31 - 1<<22, MinY: 1<<30 + 12345, MaxX: 1<<31 + 1<<21, MaxY: 1<<30 + 1<<22}
			bi := newBinIndex(g, area)
			for range 20000 {
				x := area.MinX + rng.Int64N(area.MaxX-area.MinX)
				y := area.MinY + rng.Int64N(area.MaxY-area.MinY)
				if rng.IntN(4) == 0 { // on a row's or a column's edge
					y -= y % g.H
				}
				if rng.IntN(4) == 0 {
					x -= x % (g.W / 2)
				}
				b := g.BinOf(tiles.World{X: uint32(x), Y: uint32(y)})
				want := int((b.Row-bi.r0)*bi.cols + b.Col - bi.c0)
				if got := bi.index(uint32(x), uint32(y)); got != want {
					t.Fatalf("%v z%d: (%d, %d) at %d, BinOf's bin %v at %d", shape, z, x, y, got, b, want)
				}
			}
		}
	}
}

func BenchmarkBinIndex(b *testing.B) {
	g := tiles.NewGrid(tiles.Hexagon, 14)
	area := tiles.Rect{MinX: 1 << 31, MinY: 1 << 30, MaxX: 1<<31 + 1<<22, MaxY: 1<<30 + 1<<22}
	bi := newBinIndex(g, area)
	rng := rand.New(rand.NewPCG(1, 2))
	xs, ys := make([]uint32, 1<<16), make([]uint32, 1<<16)
	for i := range xs {
		xs[i], ys[i] = uint32(area.MinX+rng.Int64N(1<<22)), uint32(area.MinY+rng.Int64N(1<<22))
	}
	b.ResetTimer()
	s := 0
	for b.Loop() {
		for i, x := range xs {
			s += bi.index(x, ys[i])
		}
	}
	if s == 42 {
		b.Log(s)
	}
}
