package tiles

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// testSeed returns the seed of a reproducible random test: FLOWTILES_SEED
// when set, else a fresh one, logged so a failure can be replayed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("FLOWTILES_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FLOWTILES_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with FLOWTILES_SEED=%d", seed)
		}
	})
	return seed
}

func TestHexBinIsNearestCentre(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	for z := uint8(0); z <= MaxZoom; z++ {
		g := NewGrid(Hexagon, z)
		for i := 0; i < 2000; i++ {
			w := World{X: rng.Uint32(), Y: rng.Uint32()}
			b := g.BinOf(w)
			cx, cy := g.Centre(b)
			d := sq(int64(w.X)-cx) + sq(int64(w.Y)-cy)
			// brute force over the neighbourhood
			for dr := int64(-2); dr <= 2; dr++ {
				for dc := int64(-2); dc <= 2; dc++ {
					o := Bin{b.Row + dr, b.Col + dc}
					if o.Row < 0 || o.Col < 0 {
						continue
					}
					ox, oy := g.Centre(o)
					if od := sq(int64(w.X)-ox) + sq(int64(w.Y)-oy); od < d {
						t.Fatalf("z%d %v: bin %v at distance² %d, but %v is at %d", z, w, b, d, o, od)
					}
				}
			}
		}
	}
}

func sq(v int64) int64 { return v * v }

func TestSquareBinContainsPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 2))
	for z := uint8(0); z <= MaxZoom; z++ {
		g := NewGrid(Square, z)
		for i := 0; i < 1000; i++ {
			w := World{X: rng.Uint32(), Y: rng.Uint32()}
			ring := g.Ring(g.BinOf(w))
			if int64(w.X) < ring[0][0] || int64(w.X) >= ring[2][0] || int64(w.Y) < ring[0][1] || int64(w.Y) >= ring[2][1] {
				t.Fatalf("z%d: %v outside its square %v", z, w, ring)
			}
		}
	}
}

// Neighbouring hexagons share their vertices exactly, in world and in tile
// coordinates, so a map shows no seams between bins or between tiles.
func TestHexVerticesShared(t *testing.T) {
	for _, z := range []uint8{3, 12, 17, MaxZoom} {
		g := NewGrid(Hexagon, z)
		for _, b := range []Bin{{100, 100}, {101, 100}, {4000, 7}} {
			ring := g.Ring(b)
			count := map[[2]int64]int{}
			for dr := int64(-1); dr <= 1; dr++ {
				for dc := int64(-1); dc <= 1; dc++ {
					if dr == 0 && dc == 0 {
						continue
					}
					for _, v := range g.Ring(Bin{b.Row + dr, b.Col + dc}) {
						count[v]++
					}
				}
			}
			for _, v := range ring {
				if count[v] != 2 {
					t.Errorf("z%d bin %v: vertex %v shared by %d neighbours, want 2", z, b, v, count[v])
				}
			}
		}
	}
}

func TestGridIDUniqueAndSafeForJavaScript(t *testing.T) {
	for _, shape := range []Shape{Hexagon, Square} {
		g := NewGrid(shape, MaxZoom)
		last := g.BinOf(World{X: ^uint32(0), Y: ^uint32(0)})
		last.Row++
		last.Col++
		if id := g.ID(last); id >= 1<<53 {
			t.Errorf("%v: largest id %d is not exact in JavaScript", shape, id)
		}
		a, b := g.ID(Bin{5, 0}), g.ID(Bin{4, WorldSize/g.W + 1})
		if a == b {
			t.Errorf("%v: ids collide across rows", shape)
		}
	}
}

func TestBinsCoverTile(t *testing.T) {
	tile := TileID{Z: 14, X: 8757, Y: 6023}
	for _, shape := range []Shape{Hexagon, Square} {
		g := NewGrid(shape, tile.Z)
		seen := map[Bin]bool{}
		g.Bins(tile.Rect(), func(b Bin) { seen[b] = true })
		rng := rand.New(rand.NewPCG(testSeed(t), 3))
		r := tile.Rect()
		for i := 0; i < 5000; i++ {
			w := World{X: uint32(r.MinX + rng.Int64N(r.MaxX-r.MinX)), Y: uint32(r.MinY + rng.Int64N(r.MaxY-r.MinY))}
			if b := g.BinOf(w); !seen[b] {
				t.Fatalf("%v: point %v of the tile is in bin %v, which Bins did not list", shape, w, b)
			}
		}
		if shape == Square && len(seen) != BinsPerTile*BinsPerTile {
			t.Errorf("square bins in a tile: %d, want %d", len(seen), BinsPerTile*BinsPerTile)
		}
	}
}
