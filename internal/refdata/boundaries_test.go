package refdata

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"testing"

	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/tiles"
)

func TestPlaces(t *testing.T) {
	ps, err := Places()
	if err != nil {
		t.Fatal(err)
	}
	byLevel := map[tiles.Level][]tiles.Place{}
	keys := map[tiles.Level]map[int64]bool{}
	for _, p := range ps {
		byLevel[p.Level] = append(byLevel[p.Level], p)
		if keys[p.Level] == nil {
			keys[p.Level] = map[int64]bool{}
		}
		if keys[p.Level][p.Key] {
			t.Errorf("%s %s: duplicate key %d", p.Level, p.Code, p.Key)
		}
		keys[p.Level][p.Key] = true
		if len(p.Shape) == 0 {
			t.Errorf("%s %s: no shape", p.Level, p.Code)
			continue
		}
		if !planar.MultiPolygonContains(p.Shape, p.Point) {
			t.Errorf("%s %s (%s): point %v outside its shape", p.Level, p.Code, p.Name, p.Point)
		}
	}
	for l, want := range map[tiles.Level]int{
		tiles.LevelRegion: 20, tiles.LevelProvince: 107, tiles.LevelMunicipality: 7898, tiles.LevelCountry: 175,
	} {
		if got := len(byLevel[l]); got != want {
			t.Errorf("%s: %d places, want %d", l, got, want)
		}
	}
	g := tiles.NewGazetteer(ps)
	d, ok := g.ByCode(tiles.LevelMunicipality, "054017")
	if !ok || d.Name != "Deruta" || d.Key != 54017 || d.Population != 9456 {
		t.Fatalf("Deruta: %+v", d)
	}
	if m, _ := Italy().Municipality("054017"); math.Abs(m.Lon-d.Point[0]) > 1e-6 || math.Abs(m.Lat-d.Point[1]) > 1e-6 {
		t.Errorf("Deruta point %v, catalog %v %v", d.Point, m.Lon, m.Lat)
	}
	pg, ok := g.Place(tiles.LevelProvince, 54)
	if !ok || pg.Code != "054" || pg.Name != "PG" {
		t.Fatalf("province 054: %+v", pg)
	}
	umbria, ok := g.Place(tiles.LevelRegion, 10)
	if !ok || umbria.Name != "Umbria" || umbria.Population != 884268 {
		t.Fatalf("Umbria: %v %q %d", ok, umbria.Name, umbria.Population)
	}
	it, ok := g.ByCode(tiles.LevelCountry, "IT")
	if !ok || it.Key != int64(tiles.CountryIndex(tiles.Italy)) || it.Name != "Italy" {
		t.Fatalf("Italy: %+v", it)
	}
	for _, c := range []string{"FR", "NO", "XK", "DE"} {
		if _, ok := g.ByCode(tiles.LevelCountry, c); !ok {
			t.Errorf("country %s missing", c)
		}
	}

	// The levels nest: every municipality's point lies in its province and
	// region, and a province's area is the sum of its municipalities'.
	cat := Italy()
	area := map[string]float64{}
	pop := map[string]int64{}
	rarea := map[string]float64{}
	rpop := map[string]int64{}
	for _, m := range byLevel[tiles.LevelMunicipality] {
		cm, ok := cat.Municipality(m.Code)
		if !ok || cm.Name != m.Name || cm.Population != m.Population {
			t.Errorf("municipality %s: %q %d; catalog %+v", m.Code, m.Name, m.Population, cm)
		}
		prov, _ := g.ByCode(tiles.LevelProvince, cm.ProvinceCode)
		reg, _ := g.ByCode(tiles.LevelRegion, cm.RegionCode)
		if prov == nil || !planar.MultiPolygonContains(prov.Shape, m.Point) {
			t.Errorf("municipality %s: point outside province %s", m.Code, cm.ProvinceCode)
		}
		if reg == nil || !planar.MultiPolygonContains(reg.Shape, m.Point) {
			t.Errorf("municipality %s: point outside region %s", m.Code, cm.RegionCode)
		}
		area[cm.ProvinceCode] += planar.Area(m.Shape)
		pop[cm.ProvinceCode] += m.Population
		rarea[cm.RegionCode] += planar.Area(m.Shape)
		rpop[cm.RegionCode] += m.Population
	}
	for _, r := range byLevel[tiles.LevelRegion] {
		if a := planar.Area(r.Shape); math.Abs(a-rarea[r.Code]) > 1e-6*rarea[r.Code]+1e-9 {
			t.Errorf("region %s: area %g, its municipalities %g", r.Code, a, rarea[r.Code])
		}
		if r.Population != rpop[r.Code] {
			t.Errorf("region %s: population %d, its municipalities %d", r.Code, r.Population, rpop[r.Code])
		}
	}
	for _, p := range byLevel[tiles.LevelProvince] {
		if a := planar.Area(p.Shape); math.Abs(a-area[p.Code]) > 1e-6*area[p.Code]+1e-9 {
			t.Errorf("province %s: area %g, its municipalities %g", p.Code, a, area[p.Code])
		}
		if p.Population != pop[p.Code] {
			t.Errorf("province %s: population %d, its municipalities %d", p.Code, p.Population, pop[p.Code])
		}
	}
}

func BenchmarkDecodePlaces(b *testing.B) {
	raw, err := files.ReadFile(placesFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := decodePlaces(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlacesGazetteer is the embedded mode's start: decode the
// boundaries and index them.
func BenchmarkPlacesGazetteer(b *testing.B) {
	raw, err := files.ReadFile(placesFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ps, err := decodePlaces(raw)
		if err != nil {
			b.Fatal(err)
		}
		tiles.NewGazetteer(ps)
	}
}

func TestDecodePlacesRejectsDamage(t *testing.T) {
	gz, err := files.ReadFile(placesFile)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 5, len(placesMagic) + 1, len(raw) / 3, len(raw) - 1} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw[:cut]) // (error ignored) bytes.Buffer
		zw.Close()          // (error ignored) bytes.Buffer
		if _, err := decodePlaces(buf.Bytes()); err == nil {
			t.Errorf("cut at %d of %d: no error", cut, len(raw))
		}
	}
}
