package tiles_test

import (
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

func square(lon, lat, side float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{lon, lat}, {lon + side, lat}, {lon + side, lat + side}, {lon, lat + side}, {lon, lat}}}}
}

// A record belongs to the town whose perimeter holds it, else to the
// nearest whose buffer reaches it, else to a town without a perimeter;
// else to none.
func TestTownIndexLocate(t *testing.T) {
	// two towns side by side along the 43rd parallel, 0.01° (about 800 m) apart
	a := tiles.Town{Code: "a", Name: "A", Perimeter: square(12.40, 43.0, 0.02), Buffer: 300}
	b := tiles.Town{Code: "b", Name: "B", Perimeter: square(12.43, 43.0, 0.02)}
	ix := tiles.NewTownIndex([]tiles.Town{a, b})
	for name, tc := range map[string]struct {
		p    orb.Point
		want int
		ok   bool
	}{
		"inside a":               {orb.Point{12.41, 43.01}, 0, true},
		"inside b":               {orb.Point{12.44, 43.01}, 1, true},
		"200 m east of a":        {orb.Point{12.42 + 200/81_400.0, 43.01}, 0, true},
		"200 m west of b":        {orb.Point{12.43 - 200/81_400.0, 43.01}, 0, false},
		"400 m east of a":        {orb.Point{12.42 + 400/81_400.0, 43.01}, 0, false},
		"far away":               {orb.Point{11.0, 44.0}, 0, false},
		"on a's corner, outside": {orb.Point{12.3999, 42.9999}, 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := ix.Locate(tc.p)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("Locate(%v) = %d, %v; want %d, %v", tc.p, got, ok, tc.want, tc.ok)
			}
		})
	}
	// a town without a perimeter takes what no other town holds
	all := tiles.NewTownIndex([]tiles.Town{a, {Code: "rest", Name: "Rest"}, b})
	if got, ok := all.Locate(orb.Point{11.0, 44.0}); !ok || got != 1 {
		t.Fatalf("catch-all: %d %v", got, ok)
	}
	if got, ok := all.Locate(orb.Point{12.44, 43.01}); !ok || got != 2 {
		t.Fatalf("a perimeter before the catch-all: %d %v", got, ok)
	}
	if ix.Names() != "a, b" {
		t.Fatal(ix.Names())
	}
}

// BenchmarkTownIndexLocate places points of Deruta's bounding box among
// Deruta and its neighbours (real perimeters, as ingest places records).
func BenchmarkTownIndexLocate(b *testing.B) {
	var ts []tiles.Town
	for _, istat := range []string{"054017", "054053", "054039", "054051", "054044", "054018"} { // Deruta, Torgiano, Perugia, Todi, Marsciano, Collazzone
		p, ok, err := towns.EmbeddedMunicipality(istat)
		if err != nil || !ok {
			b.Fatalf("%s: %v %v", istat, ok, err)
		}
		ts = append(ts, tiles.Town{Code: istat, Name: istat, Perimeter: p})
	}
	ix := tiles.NewTownIndex(ts)
	bd := ts[0].Perimeter.Bound()
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([]orb.Point, 4096)
	for i := range pts {
		pts[i] = orb.Point{bd.Min[0] + rng.Float64()*(bd.Max[0]-bd.Min[0]), bd.Min[1] + rng.Float64()*(bd.Max[1]-bd.Min[1])}
	}
	b.ResetTimer()
	for i := range b.N {
		ix.Locate(pts[i%len(pts)])
	}
}
