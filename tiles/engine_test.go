package tiles_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

var update = flag.Bool("update", false, "rewrite the golden tiles in testdata/golden")

// testPlaces returns small square origin areas around the catalog points of
// the municipalities sourcetest uses, their provinces and regions, a few
// countries, and the sourcetest zones.
func testPlaces() []tiles.Place {
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
	for _, c := range []struct {
		code string
		pt   orb.Point
	}{{"DE", orb.Point{10, 51}}, {"FR", orb.Point{2, 47}}, {"US", orb.Point{-100, 40}}, {"IT", orb.Point{12.5, 42.5}}} {
		cc, _ := tiles.ParseCountry(c.code)
		ps = append(ps, tiles.Place{Level: tiles.LevelCountry, Code: c.code, Key: int64(tiles.CountryIndex(cc)), Name: c.code, Population: 50000000, Shape: sq(c.pt, 3), Point: c.pt})
	}
	return append(ps, sourcetest.Zones()...)
}

// newEngine returns an engine over records that publishes exact figures
// (threshold and suppression rules only), to compare with brute force.
func newEngine(t testing.TB, records []presence.Record, k int64) *tiles.Engine {
	t.Helper()
	return newEngineWith(t, records, sourcetest.Zones(), tiles.Config{Privacy: tiles.UnperturbedForTests(k), Loc: sourcetest.Rome, Town: sourcetest.Centre})
}

// newPerturbed returns an engine that publishes as a server does: perturbed.
func newPerturbed(t testing.TB, records []presence.Record, k int64) *tiles.Engine {
	t.Helper()
	return newEngineWith(t, records, sourcetest.Zones(), tiles.Config{Privacy: sourcetest.Privacy(t, k), Loc: sourcetest.Rome, Town: sourcetest.Centre})
}

// newEngineWith is newEngine with its zones and configuration.
func newEngineWith(t testing.TB, records []presence.Record, zones []tiles.Place, cfg tiles.Config) *tiles.Engine {
	t.Helper()
	s := memstore.New(refdata.Italy())
	if err := s.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	return tiles.NewEngine(s, tiles.NewGazetteer(testPlaces()), cfg)
}

func decode(t testing.TB, b []byte) map[string]*mvt.Layer {
	t.Helper()
	out := map[string]*mvt.Layer{}
	if b == nil {
		return out
	}
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("decoding tile: %v", err)
	}
	for _, l := range ls {
		if l.Extent != tiles.Extent || l.Version != 2 {
			t.Fatalf("layer %s: extent %d version %d", l.Name, l.Extent, l.Version)
		}
		out[l.Name] = l
	}
	return out
}

func num(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	case uint64:
		return int64(n)
	}
	panic(fmt.Sprintf("not a number: %T %v", v, v))
}

// tilesOver lists the tiles of zoom z covering the records.
func tilesOver(records []presence.Record, z uint8) []tiles.TileID {
	set := map[tiles.TileID]bool{}
	for i := range records {
		t := tiles.TileAt(z, records[i].World())
		for dx := -1; dx <= 1; dx++ { // neighbours draw overlapping bins
			for dy := -1; dy <= 1; dy++ {
				set[tiles.TileID{Z: z, X: uint32(int(t.X) + dx), Y: uint32(int(t.Y) + dy)}] = true
			}
		}
	}
	out := make([]tiles.TileID, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Every record is counted exactly once across the tiles of a zoom: the
// points layer sums to the filtered total, and a bin drawn by several tiles
// carries the same id and figures in each.
func TestDensityTilesPartitionTheRecords(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 3000)
	e := newEngine(t, records, 1)
	ctx := context.Background()
	f := tiles.Filter{}
	f.From = sourcetest.Start.AddDate(0, 0, 10).UTC()
	f.To = sourcetest.Start.AddDate(0, 0, 40).UTC()
	var want int64
	for _, r := range records {
		if !r.ObservedAt.Before(f.From) && r.ObservedAt.Before(f.To) {
			want += int64(r.Weight)
		}
	}
	for _, shape := range []tiles.Shape{tiles.Hexagon, tiles.Square} {
		for _, z := range []uint8{12, 14, 16, 17, 18} {
			var sum int64
			bins := map[uint64]int64{}
			for _, tid := range tilesOver(records, z) {
				b, err := e.Tile(ctx, tiles.Request{Layer: tiles.LayerDensity, Tile: tid, Filter: f, Shape: shape})
				if err != nil {
					t.Fatal(err)
				}
				ls := decode(t, b)
				if l := ls[tiles.LayerDensityPoints]; l != nil {
					for _, ft := range l.Features {
						sum += num(ft.Properties["count"])
						p := ft.Geometry.(orb.Point)
						if p[0] < 0 || p[0] >= tiles.Extent || p[1] < 0 || p[1] >= tiles.Extent {
							t.Fatalf("%v: bin centre %v outside the tile", tid, p)
						}
					}
				}
				if l := ls[tiles.LayerDensity]; l != nil {
					for _, ft := range l.Features {
						id := num(ft.ID)
						c := num(ft.Properties["count"])
						if prev, ok := bins[uint64(id)]; ok && prev != c {
							t.Fatalf("%v z%d: bin %d has count %d here and %d in another tile", shape, z, id, c, prev)
						}
						bins[uint64(id)] = c
					}
				}
			}
			var polySum int64
			for _, c := range bins {
				polySum += c
			}
			if sum != want || polySum != want {
				t.Errorf("%v z%d: points sum to %d, distinct bins to %d; want %d", shape, z, sum, polySum, want)
			}
		}
	}
}

func TestTilesAreByteStable(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 4000)
	rev := slices.Clone(records)
	slices.Reverse(rev)
	e1, e2 := newPerturbed(t, records, 5), newPerturbed(t, rev, 5)
	ctx := context.Background()
	for _, layer := range tiles.LayerNames() {
		for _, z := range []uint8{9, 13, 16} {
			tid := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
			r := tiles.Request{Layer: layer, Tile: tid, Filter: tiles.Filter{}}
			a, err := e1.Tile(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := e2.Tile(ctx, r)
			c, _ := e1.Tile(ctx, r)
			if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
				t.Errorf("%s %v: tiles differ between runs", layer, tid)
			}
			if a == nil && layer == tiles.LayerDensity {
				t.Errorf("%s %v: empty tile", layer, tid)
			}
		}
	}
}

// A filter gives the same tile as no filter over just the records that pass
// it: it changes what it should and nothing else.
func TestEveryFilterSelectsExactlyItsRecords(t *testing.T) {
	records := sourcetest.Records(sourcetest.Seed(t), 4000)
	e := newEngine(t, records, 1)
	cat := refdata.Italy()
	ctx := context.Background()
	res := resolver{cat}
	for _, q := range []string{
		"from=2025-03-15&to=2025-04-10", "from=2025-03-20T10:00:00%2B01:00", "hours=8-12,18", "hours=22-2",
		"days=sat,sun", "age=35-44,45-54", "gender=f", "nationality=DE,FR", "origin=054", "origin=054017",
		"origin=10", "spend=high", "zone=piazza", "age=18-24&gender=m&hours=9-17&days=mon,tue,wed",
	} {
		vals, _ := url.ParseQuery(q)
		f, err := tiles.ParseFilter(vals, sourcetest.Rome, res)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var kept []presence.Record
		zones := sourcetest.Zones()
		for _, r := range records {
			if matches(f, r, zones) {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 || len(kept) == len(records) {
			t.Fatalf("%s: the filter keeps %d of %d records: not a useful test", q, len(kept), len(records))
		}
		ref := newEngine(t, kept, 1)
		for _, layer := range tiles.LayerNames() {
			for _, z := range []uint8{8, 12, 15, 17} {
				tid := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
				got, err := e.Tile(ctx, tiles.Request{Layer: layer, Tile: tid, Filter: f})
				if err != nil {
					t.Fatal(err)
				}
				nf := tiles.Filter{}
				if layer == tiles.LayerFlows && f.Zones != 0 {
					nf.Zone, nf.Zones = f.Zone, f.Zones // flows end at the filtered zone
				}
				want, _ := ref.Tile(ctx, tiles.Request{Layer: layer, Tile: tid, Filter: nf})
				if layer == tiles.LayerOrigins || layer == tiles.LayerZones || layer == tiles.LayerFlows {
					// the same features and figures; shares may differ in their
					// denominator only if the kept set differs, which it does not
					if !bytes.Equal(got, want) {
						t.Errorf("%s: %s %v differs from the unfiltered tile of the kept records", q, layer, tid)
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %s %v differs from the unfiltered tile of the kept records", q, layer, tid)
				}
			}
		}
	}
}

type resolver struct{ cat *refdata.Catalog }

func (r resolver) ResolveOrigin(code string) ([]string, bool) { return r.cat.ResolveOrigin(code) }
func (r resolver) ZoneID(name string) (int, bool) {
	for _, z := range sourcetest.Zones() {
		if z.Name == name {
			return int(z.Key), true
		}
	}
	return 0, false
}

func matches(f tiles.Filter, r presence.Record, zones []tiles.Place) bool {
	if !f.From.IsZero() && r.ObservedAt.Before(f.From) || !f.To.IsZero() && !r.ObservedAt.Before(f.To) {
		return false
	}
	lt := r.ObservedAt.In(sourcetest.Rome)
	if f.Hours != 0 && f.Hours&(1<<lt.Hour()) == 0 || f.Days != 0 && f.Days&(1<<lt.Weekday()) == 0 {
		return false
	}
	if !f.MatchAttrs(tiles.PackAttrs(r.Age, r.Gender, r.Spend)) {
		return false
	}
	if len(f.Nationalities) > 0 && !slices.Contains(f.Nationalities, r.Nationality) {
		return false
	}
	if len(f.Origins) > 0 && !slices.Contains(f.Origins, r.Origin) {
		return false
	}
	if f.Zones != 0 && tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})&f.Zones == 0 {
		return false
	}
	return true
}

// numbers returns every number a tile publishes about people.
func numbers(ls map[string]*mvt.Layer) []int64 {
	var out []int64
	for _, l := range ls {
		for _, f := range l.Features {
			for _, k := range []string{"count", "visitors"} {
				if v, ok := f.Properties[k]; ok {
					out = append(out, num(v))
				}
			}
		}
	}
	return out
}

// Adversarial data: single visitors in tiny cells, narrow filters, and a
// filter whose complement is a small group. No published number is below k.
func TestNoFigureBelowK(t *testing.T) {
	const k = 15
	base := time.Date(2025, 5, 10, 10, 0, 0, 0, sourcetest.Rome)
	var records []presence.Record
	add := func(n int, lon, lat float64, nat string, age tiles.AgeBand, id string) {
		c, _ := tiles.ParseCountry(nat)
		for i := 0; i < n; i++ {
			records = append(records, presence.Record{
				ObservedAt: base.Add(time.Duration(len(records)) * time.Minute), Lon: lon, Lat: lat, Weight: 1,
				Visitor: presence.VisitorHash(fmt.Sprintf("%s-%d", id, i)), Nationality: c, Age: age,
				Origin: map[bool]string{true: "054039"}[nat == "IT"],
			})
		}
	}
	c := sourcetest.Centre
	add(1, c[0]+0.004, c[1], "DE", tiles.Age65plus, "lonely") // a single visitor alone in a cell
	add(18, c[0], c[1], "IT", tiles.Age35to44, "it")          // a crowd of Italians...
	add(2, c[0], c[1], "DE", tiles.Age35to44, "de")           // ...and two Germans in the same cell
	add(14, c[0]-0.004, c[1], "IT", tiles.Age18to24, "few")   // just under k
	// the same visitor seen many times is still one person
	for i := 0; i < 40; i++ {
		records = append(records, presence.Record{ObservedAt: base.Add(time.Duration(i) * time.Minute), Lon: c[0] + 0.008, Lat: c[1], Weight: 1, Visitor: presence.VisitorHash("repeat")})
	}
	e := newEngine(t, records, k)
	ctx := context.Background()
	res := resolver{refdata.Italy()}
	for _, e := range []*tiles.Engine{e, newPerturbed(t, records, k)} {
		for _, q := range []string{"", "nationality=IT", "nationality=DE", "age=35-44", "age=65%2B", "origin=054039", "hours=10", "days=sat"} {
			vals, _ := url.ParseQuery(q)
			f, err := tiles.ParseFilter(vals, sourcetest.Rome, res)
			if err != nil {
				t.Fatal(err)
			}
			for _, layer := range tiles.LayerNames() {
				for z := uint8(6); z <= 19; z++ {
					tid := tiles.TileAt(z, tiles.Project(c[0], c[1]))
					b, err := e.Tile(ctx, tiles.Request{Layer: layer, Tile: tid, Filter: f})
					if err != nil {
						t.Fatal(err)
					}
					for _, n := range numbers(decode(t, b)) {
						if n < k {
							t.Errorf("%q %s %v: published %d < k=%d", q, layer, tid, n, k)
						}
					}
				}
			}
		}
	}
	// The 20-person cell is published unfiltered; filtered to Italians it
	// would reveal the 2 Germans by difference, so it is suppressed.
	tid := tiles.TileAt(18, tiles.Project(c[0], c[1]))
	cell := func(q string) *geojson.Feature {
		vals, _ := url.ParseQuery(q)
		f, _ := tiles.ParseFilter(vals, sourcetest.Rome, res)
		b, _ := e.Tile(ctx, tiles.Request{Layer: tiles.LayerDensity, Tile: tid, Filter: f})
		g := tiles.NewGrid(tiles.Hexagon, 18)
		id := g.ID(g.BinOf(tiles.Project(c[0], c[1])))
		for _, ft := range decode(t, b)[tiles.LayerDensity].Features {
			if uint64(num(ft.ID)) == id {
				return ft
			}
		}
		t.Fatalf("%q: the crowded bin is missing", q)
		return nil
	}
	if ft := cell(""); num(ft.Properties["visitors"]) != 20 {
		t.Errorf("unfiltered crowded bin: %v, want 20 visitors", ft.Properties)
	}
	for _, q := range []string{"nationality=IT", "origin=054039", "nationality=DE"} {
		if ft := cell(q); ft.Properties["suppressed"] != true || ft.Properties["count"] != nil {
			t.Errorf("%q: crowded bin %v, want suppressed without counts", q, ft.Properties)
		}
	}
	// Age 35-44 covers all 20: nothing is isolated, so it is published.
	if ft := cell("age=35-44"); num(ft.Properties["visitors"]) != 20 {
		t.Errorf("age=35-44: crowded bin %v, want 20 visitors", ft.Properties)
	}
}

func TestGoldenTiles(t *testing.T) {
	records := sourcetest.Records(42, 3000)
	e := newPerturbed(t, records, 5)
	ctx := context.Background()
	dir := filepath.Join("testdata", "golden")
	for _, c := range []struct {
		layer string
		z     uint8
		query string
	}{
		{tiles.LayerDensity, 16, ""}, {tiles.LayerDensity, 14, "bins=square"}, {tiles.LayerDensity, 17, "age=35-44,45-54"},
		{tiles.LayerOrigins, 9, ""}, {tiles.LayerOrigins, 5, "days=sat,sun"}, {tiles.LayerFlows, 9, ""}, {tiles.LayerZones, 16, ""},
	} {
		vals, _ := url.ParseQuery(c.query)
		shape, _ := tiles.ParseShape(vals.Get("bins"))
		f, err := tiles.ParseFilter(vals, sourcetest.Rome, resolver{refdata.Italy()})
		if err != nil {
			t.Fatal(err)
		}
		tid := tiles.TileAt(c.z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
		b, err := e.Tile(ctx, tiles.Request{Layer: c.layer, Tile: tid, Filter: f, Shape: shape})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s-%d-%d-%d", c.layer, tid.Z, tid.X, tid.Y)
		if c.query != "" {
			name += "-" + url.PathEscape(c.query)
		}
		js := decodedJSON(t, b)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name+".mvt"), b, 0o644)
			os.WriteFile(filepath.Join(dir, name+".json"), js, 0o644)
			continue
		}
		wantMVT, err := os.ReadFile(filepath.Join(dir, name+".mvt"))
		if err != nil {
			t.Fatalf("%v (run go test ./tiles -run Golden -update)", err)
		}
		wantJSON, _ := os.ReadFile(filepath.Join(dir, name+".json"))
		if !bytes.Equal(js, wantJSON) {
			t.Errorf("%s: decoded tile differs from %s.json", name, name)
		}
		if !bytes.Equal(b, wantMVT) {
			t.Errorf("%s: tile bytes differ from %s.mvt", name, name)
		}
	}
}

// decodedJSON renders a tile's layers as GeoJSON (tile coordinates), one
// FeatureCollection per layer, for reading diffs of golden files.
func decodedJSON(t *testing.T, b []byte) []byte {
	ls := decode(t, b)
	names := make([]string, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.WriteString("{\n")
	for i, n := range names {
		fc := geojson.NewFeatureCollection()
		fc.Features = ls[n].Features
		j, err := fc.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&buf, "%q: %s", n, j)
		if i < len(names)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("}\n")
	return buf.Bytes()
}

func TestParseTileErrors(t *testing.T) {
	for _, c := range [][3]string{{"23", "0", "0"}, {"-1", "0", "0"}, {"x", "0", "0"}, {"3", "8", "0"}, {"3", "0", "8"}, {"3", "a", "1"}, {"3", "1", "1.5"}, {"", "0", "0"}} {
		t.Run(strings.Join(c[:], "/"), func(t *testing.T) {
			_, err := tiles.ParseTile(c[0], c[1], c[2])
			var te *tiles.TileError
			if err == nil || !asTileError(err, &te) {
				t.Errorf("ParseTile%v: %v, want a *TileError", c, err)
			}
		})
	}
	if id, err := tiles.ParseTile("14", "8757", "6023"); err != nil || id != (tiles.TileID{Z: 14, X: 8757, Y: 6023}) {
		t.Errorf("valid tile: %v %v", id, err)
	}
	_ = math.Pi
}

func asTileError(err error, te **tiles.TileError) bool {
	e, ok := err.(*tiles.TileError)
	*te = e
	return ok
}
