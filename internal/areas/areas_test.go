package areas

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

const fixtures = "../../testdata/deruta"

// shared is the real reference data next to the repository (tests that
// need it skip without it).
const shared = "../../../shared/data"

func fixture(name string) string { return filepath.Join(fixtures, name) }

func TestParseRecognisesKinds(t *testing.T) {
	for file, want := range map[string]Kind{
		"municipalities.geojson": Municipalities,
		"regions.geojson":        Regions,
		"countries.geojson":      Countries,
		"zones.geojson":          Zones,
	} {
		data, err := os.ReadFile(fixture(file))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(file, data, "")
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if f.Kind != want {
			t.Errorf("%s: kind %s, want %s", file, f.Kind, want)
		}
	}
	data, _ := os.ReadFile(fixture("municipalities.geojson"))
	f, _ := Parse("m", data, "")
	var deruta *Municipality
	for i := range f.Municipalities {
		if f.Municipalities[i].Code == "054017" {
			deruta = &f.Municipalities[i]
		}
	}
	if deruta == nil || deruta.Name != "Deruta" || deruta.ProvinceCode != "054" || deruta.Province != "PG" ||
		deruta.RegionCode != "10" || deruta.Population == nil || *deruta.Population != 9456 {
		t.Fatalf("Deruta: %+v", deruta)
	}
	// The shared ISTAT file uses other property names.
	if full, err := os.ReadFile(shared + "/istat/italy_municipalities.geojson"); err == nil {
		f, err := Parse("italy", full, "")
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind != Municipalities || len(f.Municipalities) != 7898 {
			t.Fatalf("italy: %s, %d", f.Kind, len(f.Municipalities))
		}
	}
	// Countries: France (ISO_A2 -99) and Kosovo are kept, N. Cyprus skipped.
	data, _ = os.ReadFile(fixture("countries.geojson"))
	f, _ = Parse("c", data, "")
	codes := map[string]string{}
	for _, c := range f.Countries {
		codes[c.ISOA2] = c.ISOA3
	}
	if codes["FR"] != "FRA" || codes["XK"] == "" || codes["IT"] != "ITA" || len(f.Countries) != 10 {
		t.Errorf("countries: %v", codes)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "N. Cyprus") {
		t.Errorf("warnings: %q", f.Warnings)
	}
}

const square = `{"type":"Polygon","coordinates":[[[12,42],[12.1,42],[12.1,42.1],[12,42.1],[12,42]]]}`

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, kind, body, want string
	}{
		{"not json", "", `{"type":`, "x.geojson: not a GeoJSON FeatureCollection"},
		{"unknown", "", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"foo":1},"geometry":` + square + `}]}`,
			"x.geojson: feature 1: cannot tell"},
		{"missing name", "", `{"type":"FeatureCollection","features":[
			{"type":"Feature","properties":{"istat_code":"054017","name":"Deruta","province":"PG","region_code":"10"},"geometry":` + square + `},
			{"type":"Feature","properties":{"istat_code":"054018","province":"PG","region_code":"10"},"geometry":` + square + `}]}`,
			"x.geojson: feature 2: name: missing"},
		{"bad code", "", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"istat_code":"54017","name":"D","province":"PG","region_code":"10"},"geometry":` + square + `}]}`,
			`x.geojson: feature 1: istat_code: "54017" is not a code of 6 digits`},
		{"wrong province", "", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"istat_code":"054017","province_code":"055","name":"D","province":"PG","region_code":"10"},"geometry":` + square + `}]}`,
			`x.geojson: feature 1: province_code: "055" is not the province of 054017`},
		{"bad population", "", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"com_istat_code":"054017","name":"D","prov_acr":"PG","reg_istat_code":"10","pop_2011":-3},"geometry":` + square + `}]}`,
			"x.geojson: feature 1: pop_2011: -3 is not a population"},
		{"point", "zones", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Point","coordinates":[12,42]}}]}`,
			"x.geojson: feature 1: geometry: a Point, want a Polygon or MultiPolygon"},
		{"open ring", "zones", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[12,42],[13,42],[13,43],[12,43]]]}}]}`,
			"x.geojson: feature 1: geometry: polygon 0 ring 0 is not closed"},
		{"duplicate zone", "zones", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":` + square + `},{"type":"Feature","properties":{"name":"A"},"geometry":` + square + `}]}`,
			`x.geojson: feature 2: name: "a" again (first in feature 1)`},
		{"bad label language", "zones", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a","label:English":"A"},"geometry":` + square + `}]}`,
			`x.geojson: feature 1: label:English: not a language code after label: (want e.g. label:en)`},
		{"empty label", "zones", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a","label":" "},"geometry":` + square + `}]}`,
			`x.geojson: feature 1: label: empty`},
		{"too many zones", "zones", `{"type":"FeatureCollection","features":[` + strings.Repeat(`{"type":"Feature","properties":{"name":"a"},"geometry":`+square+`},`, 16) +
			`{"type":"Feature","properties":{"name":"b"},"geometry":` + square + `}]}`, "x.geojson: 17 zones, at most 16"},
		{"regions as countries", "countries", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"reg_istat_code":"10","reg_name":"Umbria"},"geometry":` + square + `}]}`,
			"x.geojson: no usable features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.geojson", []byte(tc.body), Kind(tc.kind))
			var fe *FeatureError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FeatureError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q…", err, tc.want)
			}
		})
	}
}

func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// snapshot is every reference table as text, to compare before and after.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT string_agg(concat_ws('|', code, name, population, md5(ST_AsEWKB(geom)), ST_AsText(point)), E'\n' ORDER BY code) FROM region`,
		`SELECT string_agg(concat_ws('|', code, abbrev, region_code, population, md5(ST_AsEWKB(geom)), ST_AsText(point)), E'\n' ORDER BY code) FROM province`,
		`SELECT string_agg(concat_ws('|', istat_code, name, province_code, region_code, population, md5(ST_AsEWKB(geom)), ST_AsText(point)), E'\n' ORDER BY istat_code) FROM municipality`,
		`SELECT string_agg(concat_ws('|', iso_a2, iso_a3, name, population, md5(ST_AsEWKB(geom)), ST_AsText(point)), E'\n' ORDER BY iso_a2) FROM country`,
		`SELECT string_agg(concat_ws('|', id, name, md5(ST_AsEWKB(geom))), E'\n' ORDER BY id) FROM zone`,
	} {
		var s *string
		if err := pool.QueryRow(context.Background(), q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			b.WriteString(*s)
		}
		b.WriteString("\n--\n")
	}
	return b.String()
}

func importAll(t *testing.T, im *Importer) map[string]Result {
	t.Helper()
	out := map[string]Result{}
	for _, f := range []string{"regions.geojson", "municipalities.geojson", "countries.geojson", "zones.geojson"} {
		res, err := im.ImportFile(context.Background(), fixture(f), "")
		if err != nil {
			t.Fatal(err)
		}
		out[f] = res
	}
	return out
}

func TestImportDeruta(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	im := &Importer{Pool: pool}

	// Servers LISTEN for changed areas.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	res := importAll(t, im)
	t.Logf("imported the Deruta fixtures in %s", time.Since(start).Round(time.Millisecond))
	if r := res["municipalities.geojson"]; r.Areas != 14 || r.Provinces != 1 || r.Kind != Municipalities {
		t.Errorf("municipalities: %+v", r)
	}
	if r := res["countries.geojson"]; r.Areas != 10 || len(r.Warnings) != 1 {
		t.Errorf("countries: %+v", r)
	}
	for table, want := range map[string]int{"region": 1, "province": 1, "municipality": 14, "country": 10, "zone": 9} {
		if got := count(t, pool, table); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	var (
		name, prov, reg string
		pop             int64
		inside          bool
	)
	if err := pool.QueryRow(ctx, `SELECT name, province_code, region_code, population, ST_Intersects(point, geom)
		FROM municipality WHERE istat_code = '054017'`).Scan(&name, &prov, &reg, &pop, &inside); err != nil {
		t.Fatal(err)
	}
	if name != "Deruta" || prov != "054" || reg != "10" || pop != 9456 || !inside {
		t.Errorf("Deruta: %q %s %s %d point inside %v", name, prov, reg, pop, inside)
	}
	var abbrev string
	var ppop, rpop, sum int64
	if err := pool.QueryRow(ctx, `SELECT p.abbrev, p.population, r.population, (SELECT sum(population) FROM municipality)
		FROM province p, region r WHERE p.code = '054' AND r.code = '10'`).Scan(&abbrev, &ppop, &rpop, &sum); err != nil {
		t.Fatal(err)
	}
	if abbrev != "PG" || ppop != sum || rpop != sum || sum != 308691 {
		t.Errorf("province PG %q population %d, region %d, municipalities %d", abbrev, ppop, rpop, sum)
	}
	// The province is the union of its municipalities: same area, one piece.
	var parea, marea float64
	var parts int
	if err := pool.QueryRow(ctx, `SELECT ST_Area(p.geom), (SELECT sum(ST_Area(geom)) FROM municipality), ST_NumGeometries(p.geom)
		FROM province p`).Scan(&parea, &marea, &parts); err != nil {
		t.Fatal(err)
	}
	if parts != 1 || parea < marea*0.999 || parea > marea*1.001 {
		t.Errorf("province: %d parts, area %g, municipalities %g", parts, parea, marea)
	}
	var invalid int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM municipality WHERE NOT ST_IsValid(geom)) +
		(SELECT count(*) FROM province WHERE NOT ST_IsValid(geom)) + (SELECT count(*) FROM country WHERE NOT ST_IsValid(geom))`).Scan(&invalid); err != nil {
		t.Fatal(err)
	}
	if invalid != 0 {
		t.Errorf("%d invalid geometries", invalid)
	}

	// One notification per file, payload the kind.
	var kinds []string
	for range 4 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("notifications %v: %v", kinds, err)
		}
		kinds = append(kinds, n.Payload)
	}
	if strings.Join(kinds, ",") != "regions,municipalities,countries,zones" {
		t.Errorf("notifications: %v", kinds)
	}

	// Re-importing changes nothing.
	before := snapshot(t, pool)
	importAll(t, im)
	if after := snapshot(t, pool); after != before {
		t.Errorf("re-import changed the tables")
	}

	// The PostGIS store reads them back as the embedded data has them.
	places, err := pgstore.New(pool, refdata.Italy(), 0).Places(ctx)
	if err != nil {
		t.Fatal(err)
	}
	levels := map[tiles.Level]int{}
	for _, p := range places {
		levels[p.Level]++
	}
	if levels[tiles.LevelMunicipality] != 14 || levels[tiles.LevelProvince] != 1 || levels[tiles.LevelRegion] != 1 ||
		levels[tiles.LevelCountry] != 10 || levels[tiles.LevelZone] != 9 {
		t.Errorf("pgstore places per level: %v", levels)
	}
	g := tiles.NewGazetteer(places)
	emb, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	eg := tiles.NewGazetteer(emb)
	for _, want := range []struct {
		level tiles.Level
		key   int64
	}{
		{tiles.LevelMunicipality, 54017}, {tiles.LevelProvince, 54}, {tiles.LevelRegion, 10},
		{tiles.LevelCountry, int64(tiles.CountryIndex(tiles.Italy))},
		{tiles.LevelCountry, int64(tiles.CountryIndex(tiles.Country{'F', 'R'}))},
	} {
		p, ok := g.Place(want.level, want.key)
		if !ok {
			t.Errorf("PostGIS: no %s %d", want.level, want.key)
			continue
		}
		e, ok := eg.Place(want.level, want.key)
		if !ok {
			t.Errorf("embedded: no %s %d", want.level, want.key)
			continue
		}
		if p.Code != e.Code || p.Name != e.Name {
			t.Errorf("%s %d: PostGIS %s %q, embedded %s %q", want.level, want.key, p.Code, p.Name, e.Code, e.Name)
		}
		if !planar.MultiPolygonContains(p.Shape, p.Point) {
			t.Errorf("%s %s: PostGIS point outside its shape", want.level, p.Code)
		}
		if want.level == tiles.LevelMunicipality || want.level == tiles.LevelCountry {
			// Provinces and regions hold only the fixture's municipalities in PostGIS.
			if p.Population != e.Population {
				t.Errorf("%s %s: population PostGIS %d, embedded %d", want.level, p.Code, p.Population, e.Population)
			}
			if !planar.MultiPolygonContains(p.Shape, e.Point) || !planar.MultiPolygonContains(e.Shape, p.Point) {
				t.Errorf("%s %s: the points are not inside each other's shapes", want.level, p.Code)
			}
		}
	}
	d, _ := g.Place(tiles.LevelMunicipality, 54017)
	if d.Population != 9456 || d.Code != "054017" {
		t.Errorf("Deruta from pgstore: %+v", d)
	}
	z, ok := g.ByCode(tiles.LevelZone, "centro-storico")
	if !ok || z.Key != 0 || !planar.MultiPolygonContains(z.Shape, orb.Point{12.4177, 42.9826}) {
		t.Errorf("zone centro-storico: %v %+v", ok, z)
	}
}

// bowtie is a self-intersecting ring, as two real ISTAT municipalities have.
const bowtie = `{"type":"Polygon","coordinates":[[[12,42],[12.2,42.2],[12.2,42],[12,42.2],[12,42]]]}`

func TestImportRepairsGeometry(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	data := []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"istat_code":"054017","name":"Deruta","province":"PG","region_code":"10","population_2011":9456},"geometry":` + bowtie + `}]}`)
	f, err := Parse("bowtie.geojson", data, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Importer{Pool: pool}).Import(ctx, f); err != nil {
		t.Fatal(err)
	}
	var (
		valid, inside bool
		typ           string
		parts         int
		area          float64
	)
	if err := pool.QueryRow(ctx, `SELECT ST_IsValid(geom), GeometryType(geom), ST_NumGeometries(geom), ST_Area(geom), ST_Intersects(point, geom)
		FROM municipality`).Scan(&valid, &typ, &parts, &area, &inside); err != nil {
		t.Fatal(err)
	}
	if !valid || typ != "MULTIPOLYGON" || parts != 2 || area < 0.0199 || area > 0.0201 || !inside {
		t.Errorf("repaired: valid %v %s of %d parts, area %g, point inside %v", valid, typ, parts, area, inside)
	}
	if count(t, pool, "province") != 1 {
		t.Errorf("province not derived")
	}
}

func TestImportFailsWhole(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	im := &Importer{Pool: pool}
	// Feature 2 collapses to a line: nothing of the file is written.
	data := []byte(`{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"istat_code":"054017","name":"Deruta","province":"PG","region_code":"10"},"geometry":` + square + `},
		{"type":"Feature","properties":{"istat_code":"054018","name":"Flat","province":"PG","region_code":"10"},"geometry":{"type":"Polygon","coordinates":[[[12,42],[12.1,42.1],[12.2,42.2],[12,42]]]}}]}`)
	f, err := Parse("flat.geojson", data, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = im.Import(ctx, f)
	var fe *FeatureError
	if !errors.As(err, &fe) || fe.Feature != 2 || fe.Property != "geometry" || !strings.HasPrefix(err.Error(), "flat.geojson: feature 2: geometry: ") {
		t.Fatalf("got %v", err)
	}
	if n := count(t, pool, "municipality") + count(t, pool, "province"); n != 0 {
		t.Errorf("%d rows written by a failed import", n)
	}
	// A file that does not parse writes nothing either.
	bad := filepath.Join(t.TempDir(), "bad.geojson")
	if err := os.WriteFile(bad, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"a"},"geometry":{"type":"LineString","coordinates":[[12,42],[13,43]]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := im.ImportFile(ctx, bad, Zones); err == nil || !strings.Contains(err.Error(), "bad.geojson: feature 1: geometry: a LineString") {
		t.Fatalf("got %v", err)
	}
	if count(t, pool, "zone") != 0 {
		t.Error("zones written")
	}
	// A town named for reference areas (--town with a municipalities
	// file) is a mistake said, not ignored: nothing written.
	good := []byte(`{"type":"FeatureCollection","features":[
		{"type":"Feature","properties":{"istat_code":"054017","name":"Deruta","province":"PG","region_code":"10"},"geometry":` + square + `}]}`)
	f, err = Parse("deruta.geojson", good, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Importer{Pool: pool, Town: "deruta"}).Import(ctx, f)
	if err == nil || err.Error() != `deruta.geojson: the file holds municipalities, reference areas of every town: a town ("deruta") names whose zones a zone file replaces` {
		t.Fatalf("a town named for municipalities: %v", err)
	}
	if n := count(t, pool, "municipality"); n != 0 {
		t.Errorf("%d municipalities written with a town named", n)
	}
}

func TestImportZonesRecomputesMasks(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	im := &Importer{Pool: pool}
	data, err := os.ReadFile(fixture("zones.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse("zones.geojson", data, Zones)
	if err != nil {
		t.Fatal(err)
	}
	var zones []tiles.Place
	for _, z := range f.Zones {
		zones = append(zones, tiles.Place{Level: tiles.LevelZone, Key: int64(z.ID), Code: z.Name, Shape: z.Shape})
	}
	// Records in the centre (with a wrong mask), at its edge, and far away
	// with a stale mask.
	points := []orb.Point{{12.4177, 42.9826}, {12.41745, 42.9810}, {12.4178, 42.9849}, {12.39, 42.95}, {12.5, 43.1}}
	for i, p := range points {
		// one month each: several partitions
		ts := time.Date(2025, time.Month(1+i), 1, 10, 0, 0, 0, time.UTC)
		if _, err := pool.Exec(ctx, `SELECT presence_ensure_partition(0::smallint, $1)`, ts); err != nil {
			t.Fatal(err)
		}
		w := tiles.Project(p[0], p[1])
		if _, err := pool.Exec(ctx, `INSERT INTO presence (observed_at, geom, wx, wy, weight, zones, batch_id)
			VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326), $4, $5, 1, $6, 1)`,
			ts, p[0], p[1], int64(w.X), int64(w.Y), int32(1<<i)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := im.Import(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Areas != len(f.Zones) || res.Recoded == 0 {
		t.Errorf("zones: %+v", res)
	}
	check := func() {
		t.Helper()
		for _, p := range points {
			var got int32
			if err := pool.QueryRow(ctx, `SELECT zones FROM presence WHERE ST_X(geom) = $1 AND ST_Y(geom) = $2`, p[0], p[1]).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := int32(tiles.ZoneMask(zones, p)); got != want {
				t.Errorf("%v: zones %b, want %b", p, got, want)
			}
		}
	}
	check()
	if m := tiles.ZoneMask(zones, points[0]); m&1 == 0 {
		t.Errorf("the centre is not in centro-storico: %b", m)
	}
	// Re-import: the same zones, nothing to recompute.
	res, err = im.Import(ctx, f)
	if err != nil || res.Recoded != 0 {
		t.Errorf("re-import: %+v %v", res, err)
	}
	check()
	var ids []int16
	rows, _ := pool.Query(ctx, `SELECT id FROM zone ORDER BY id`)
	for rows.Next() {
		var id int16
		_ = rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != len(f.Zones) || ids[0] != 0 || int(ids[len(ids)-1]) != len(f.Zones)-1 {
		t.Errorf("zone ids %v", ids)
	}
}

// TestItalyAgreesWithEmbedded imports all of Italy (a few seconds) and
// checks that the embedded boundaries of the database-less mode describe
// the same places as PostGIS does.
func TestItalyAgreesWithEmbedded(t *testing.T) {
	files := []string{shared + "/istat/limits_IT_regions.geojson", shared + "/istat/italy_municipalities.geojson",
		shared + "/naturalearth/ne_110m_admin_0_countries.json"}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("shared reference data not here: %v", err)
		}
	}
	if testing.Short() {
		t.Skip("imports all of Italy")
	}
	pool := testdb.New(t)
	ctx := context.Background()
	im := &Importer{Pool: pool}
	start := time.Now()
	for _, f := range files {
		if _, err := im.ImportFile(ctx, f, ""); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("imported Italy in %s", time.Since(start).Round(time.Millisecond))
	pg, err := pgstore.New(pool, refdata.Italy(), 0).Places(ctx)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(emb) {
		t.Errorf("PostGIS has %d places, embedded %d", len(pg), len(emb))
	}
	eg := tiles.NewGazetteer(emb)
	outside := 0
	for _, p := range pg {
		e, ok := eg.Place(p.Level, p.Key)
		if !ok {
			t.Errorf("%s %s (%s): not embedded", p.Level, p.Code, p.Name)
			continue
		}
		if e.Code != p.Code || e.Name != p.Name || e.Population != p.Population {
			t.Errorf("%s %d: PostGIS %s %q %d, embedded %s %q %d", p.Level, p.Key, p.Code, p.Name, p.Population, e.Code, e.Name, e.Population)
		}
		if !planar.MultiPolygonContains(p.Shape, p.Point) {
			t.Errorf("%s %s: PostGIS point outside its shape", p.Level, p.Code)
		}
		if p.Level == tiles.LevelMunicipality && !planar.MultiPolygonContains(p.Shape, e.Point) {
			outside++
		}
	}
	if outside > 0 {
		t.Errorf("%d embedded municipality points outside the PostGIS shapes", outside)
	}
}
