package pgstore

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"testing"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// places are small squares around real municipalities' points, their
// province and region, and the test zones: enough for every layer.
func places() []tiles.Place {
	cat := refdata.Italy()
	sq := func(c orb.Point, r float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{c[0] - r, c[1] - r}, {c[0] + r, c[1] - r}, {c[0] + r, c[1] + r}, {c[0] - r, c[1] + r}, {c[0] - r, c[1] - r}}}}
	}
	var ps []tiles.Place
	seen := map[string]bool{}
	for _, code := range []string{"054017", "054039", "054052", "054001", "058091", "001272", "054053"} {
		m, _ := cat.Municipality(code)
		pt := orb.Point{m.Lon, m.Lat}
		k, _ := strconv.ParseInt(code, 10, 64)
		ps = append(ps, tiles.Place{Level: tiles.LevelMunicipality, Code: code, Key: k, Name: m.Name, Population: m.Population, Shape: sq(pt, 0.01), Point: pt})
		if !seen[m.ProvinceCode] {
			seen[m.ProvinceCode] = true
			k, _ := strconv.ParseInt(m.ProvinceCode, 10, 64)
			ps = append(ps, tiles.Place{Level: tiles.LevelProvince, Code: m.ProvinceCode, Key: k, Name: m.Province, Population: 600000, Shape: sq(pt, 0.2), Point: pt})
		}
		if !seen["r"+m.RegionCode] {
			seen["r"+m.RegionCode] = true
			k, _ := strconv.ParseInt(m.RegionCode, 10, 64)
			ps = append(ps, tiles.Place{Level: tiles.LevelRegion, Code: m.RegionCode, Key: k, Name: m.Region, Population: 1000000, Shape: sq(pt, 0.5), Point: pt})
		}
	}
	return append(ps, sourcetest.Zones()...)
}

// The promise: memory and PostGIS sources give identical tiles on
// identical data — compared here byte for byte, every layer, several zooms
// and filters.
func TestMemoryAndPostGISGiveIdenticalTiles(t *testing.T) {
	pool := testdb.New(t)
	records := sourcetest.Records(sourcetest.Seed(t), 5000)
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, records, zones)

	mem := memstore.New(refdata.Italy())
	if err := mem.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	gaz := tiles.NewGazetteer(places())
	// perturbed figures: both stores must give every group the same keys
	cfg := tiles.Config{Privacy: sourcetest.Privacy(t, 5), Loc: sourcetest.Rome, Town: sourcetest.Centre}
	fromMem := tiles.NewEngine(mem, gaz, cfg)
	fromDB := tiles.NewEngine(New(pool, refdata.Italy(), 0), gaz, cfg)

	filters := []string{"", "age=35-44,45-54&hours=8-12", "days=sat,sun&gender=f", "zone=piazza", "origin=054", "from=2025-03-05&to=2025-03-20"}
	ctx := context.Background()
	compared, nonEmpty := 0, 0
	for _, layer := range tiles.LayerNames() {
		for z := 9; z <= 17; z += 2 {
			tl := tiles.TileAt(uint8(z), tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
			for _, fq := range filters {
				v, _ := url.ParseQuery(fq)
				f, err := tiles.ParseFilter(v, sourcetest.Rome, resolver{mem: zones})
				if err != nil {
					t.Fatal(fq, err)
				}
				req := tiles.Request{Layer: layer, Tile: tl, Filter: f}
				a, err := fromMem.Tile(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				bb, err := fromDB.Tile(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				compared++
				if len(a) > 0 {
					nonEmpty++
				}
				if !bytes.Equal(a, bb) {
					t.Errorf("%s %v %q: memory %d bytes, PostGIS %d bytes differ", layer, tl, fq, len(a), len(bb))
				}
			}
		}
	}
	if nonEmpty < compared/2 {
		t.Fatalf("only %d of %d tiles had features: the comparison says little", nonEmpty, compared)
	}
}

type resolver struct{ mem []tiles.Place }

func (resolver) ResolveOrigin(code string) ([]string, bool) {
	return refdata.Italy().ResolveOrigin(code)
}
func (r resolver) ZoneID(name string) (int, bool) {
	for _, z := range r.mem {
		if z.Code == name {
			return int(z.Key), true
		}
	}
	return 0, false
}
