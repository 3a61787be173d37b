package tiles

import (
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
)

// ZoneIndex is only a faster ZoneMask: same answers everywhere, including
// on vertices and edges (which count as inside) and in holes.
func TestZoneIndexAgreesWithZoneMask(t *testing.T) {
	sq := func(x0, y0, x1, y1 float64) orb.Ring {
		return orb.Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
	}
	zones := []Place{
		{Level: LevelZone, Key: 0, Shape: orb.MultiPolygon{{sq(0, 0, 10, 10), sq(4, 4, 6, 6)}}},
		{Level: LevelZone, Key: 3, Shape: orb.MultiPolygon{{sq(5, 5, 8, 8)}, {sq(20, 20, 21, 21)}}},
		{Level: LevelZone, Key: 15, Shape: orb.MultiPolygon{{orb.Ring{{0, 0}, {10, 0}, {0, 10}, {0, 0}}}}},
	}
	zi := NewZoneIndex(zones)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		p := orb.Point{float64(rng.IntN(44)) / 2, float64(rng.IntN(44)) / 2} // on the grid: hits edges and corners
		if i%2 == 1 {
			p = orb.Point{rng.Float64() * 22, rng.Float64() * 22}
		}
		if got, want := zi.Mask(p), ZoneMask(zones, p); got != want {
			t.Fatalf("%v: index %b, ZoneMask %b", p, got, want)
		}
	}
	if zi.Mask(orb.Point{5, 5}) != 1<<3|1<<15 || zi.Mask(orb.Point{1, 1}) != 1|1<<15 {
		t.Errorf("masks: %b %b", zi.Mask(orb.Point{5, 5}), zi.Mask(orb.Point{1, 1}))
	}
}
