package memstore

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// A block's bins (blockTable) are the bins binIndex gives its records, in
// every grid from zoom 0 to 17 of both shapes, asked in turns of the same
// block (each grid replaces the last's); from zoom 18 a block reaches too
// many bins for a byte and is binned record by record.
func TestBlockBinsAsBinIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(sourcetest.Seed(t), 7))
	// a block of a cell (2^cellShift world units) whose records lie near
	// its edges and corners as well as inside
	cx, cy := uint32(1<<31-1<<22)>>cellShift+3, uint32(1<<30+1<<21)>>cellShift
	b := &block{key: blockKey{cx: cx, cy: cy}}
	for range 3000 {
		x := cx<<cellShift + uint32(rng.IntN(1<<cellShift))
		y := cy<<cellShift + uint32(rng.IntN(1<<cellShift))
		switch rng.IntN(4) {
		case 0:
			x = cx<<cellShift + uint32(rng.IntN(2))*(1<<cellShift-1)
		case 1:
			y = cy<<cellShift + uint32(rng.IntN(2))*(1<<cellShift-1)
		}
		b.append(&Row{X: x, Y: y, Weight: 1}, 0)
	}
	b = b.seal()
	area := tiles.Rect{MinX: 1<<31 - 1<<23, MinY: 1<<30 + 12345, MaxX: 1<<31 + 1<<21, MaxY: 1<<30 + 1<<23}
	var grids []tiles.Grid
	for z := uint8(0); z <= 19; z++ {
		grids = append(grids, tiles.NewGrid(tiles.Hexagon, z), tiles.NewGrid(tiles.Square, z))
	}
	for round := range 2 {
		for _, g := range grids {
			sc := &scan{bin: newBinIndex(g, area)}
			bt := sc.blockTable(b)
			if g.Zoom >= 18 {
				if bt != nil {
					t.Fatalf("%v z%d: a table for bins too small for a byte", g.Shape, g.Zoom)
				}
				continue
			}
			if bt == nil {
				t.Fatalf("%v z%d (round %d): no table", g.Shape, g.Zoom, round)
			}
			for i := range b.len() {
				x, y := b.at(i)
				if got, want := int(bt.tab[bt.idx[i]]), sc.bin.index(x, y); got != want {
					t.Fatalf("%v z%d (round %d): record %d at (%d, %d): bin %d, binIndex's %d", g.Shape, g.Zoom, round, i, x, y, got, want)
				}
			}
		}
	}
}

// A density under each narrowing filter alone, and two together, counts
// the records that pass in their bins and the others in the rest's (or
// drops them), as the reference does: over blocks inside the area, binned
// from their coordinates (zoom 18) and from the bins they keep (zoom 15,
// asked twice: the second time from the bins the first kept).
func TestDensityNarrowed(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := sourcetest.Records(seed, 4000)
	zones := sourcetest.Zones()
	s := New(refdata.Italy())
	if err := s.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	c := tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])
	area := tiles.Rect{MinX: int64(c.X) - 1<<19, MinY: int64(c.Y) - 1<<19, MaxX: int64(c.X) + 1<<19, MaxY: int64(c.Y) + 1<<19}
	filters := map[string]tiles.Filter{
		"zone":        {Zones: tiles.ZoneBit(0)},
		"origins":     {Origins: []string{"054017"}},
		"hours":       {Hours: 1<<9 | 1<<10 | 1<<17},
		"days":        {Days: 1<<time.Saturday | 1<<time.Sunday},
		"ages":        {Ages: 1 << tiles.Age25to34},
		"nationality": {Nationalities: []tiles.Country{tiles.Italy}},
		"ages+days":   {Ages: 1<<tiles.Age25to34 | 1<<tiles.Age35to44, Days: 1 << time.Monday},
	}
	for name, f := range filters {
		for _, z := range []uint8{18, 15, 15} {
			for _, rest := range []bool{false, true} {
				q := tiles.Query{Filter: f, By: []tiles.Dim{tiles.DimBin}, Grid: tiles.NewGrid(tiles.Hexagon, z), Area: area, Loc: sourcetest.Rome, WithRest: rest}
				got, err := sourcetest.Collect(context.Background(), s, q)
				if err != nil {
					t.Fatal(err)
				}
				if want := sourcetest.Reference(records, zones, q); !slices.Equal(got, want) || len(want) == 0 {
					t.Errorf("%s z%d rest %v: %d bins, want %d", name, z, rest, len(got), len(want))
					sourcetest.LogFirstDiff(t, got, want)
				}
			}
		}
	}
}
