package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// zoneRow is a stored record's town, place and zone mask.
type zoneRow struct {
	town   int16
	at     time.Time
	lon    float64
	lat    float64
	zones  int32
	weight int32
}

func zoneRows(t *testing.T, pool *pgxpool.Pool) []zoneRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT town, observed_at, ST_X(geom), ST_Y(geom), zones, weight FROM presence
		ORDER BY town, observed_at, ST_X(geom), ST_Y(geom)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []zoneRow
	for rows.Next() {
		var r zoneRow
		if err := rows.Scan(&r.town, &r.at, &r.lon, &r.lat, &r.zones, &r.weight); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rollupOf is the rollup's rows of town, as text, in order.
func rollupOf(t *testing.T, pool *pgxpool.Pool, town int16) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(concat_ws('|', observed_at, wx, wy, zones, visitor, weight),
		E'\n' ORDER BY observed_at, wx, wy, zones, visitor, weight), '') FROM presence_rollup WHERE town = $1`, town).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Zones are per town (issue 17): Deruta and Torgiano each have their own
// zones, with the same names and ids (centro-storico is zone 0 of both).
// Every record, loaded from a file or posted, has the zone mask of its own
// town's zones; re-importing one town's zones changes no record and no
// rollup row of the other; a zone file is for one town, named when the
// database has several, and a zone outside the town is refused.
func TestZonesPerTown(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	ids := map[string]int16{}
	for _, tw := range []tiles.Town{{Code: "deruta", ISTAT: "054017"}, {Code: "torgiano", ISTAT: "054053"}} {
		added, err := towns.Add(ctx, pool, tw)
		if err != nil {
			t.Fatal(err)
		}
		ids[tw.Code] = added.ID
	}
	if err := towns.Remove(ctx, pool, "town"); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"deruta": "../../testdata/deruta/zones.geojson", "torgiano": "../../testdata/torgiano/zones.geojson"}

	// no --town while the database has two: an error naming them
	_, err := (&areas.Importer{Pool: pool}).ImportFile(ctx, files["deruta"], areas.Zones)
	var te *areas.TownError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "--town") || !strings.Contains(err.Error(), "deruta, torgiano") {
		t.Fatalf("zones without a town: %v", err)
	}
	// Deruta's zones are not Torgiano's
	_, err = (&areas.Importer{Pool: pool, Town: "torgiano"}).ImportFile(ctx, files["deruta"], areas.Zones)
	var fe *areas.FeatureError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "zone centro-storico lies outside town torgiano") {
		t.Fatalf("Deruta's zones as Torgiano's: %v", err)
	}
	if _, err := (&areas.Importer{Pool: pool, Town: "nowhere"}).ImportFile(ctx, files["deruta"], areas.Zones); !errors.As(err, &te) ||
		!strings.Contains(err.Error(), "no town nowhere") {
		t.Fatalf("zones of no town: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM zone`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d zones after refused imports (%v)", n, err)
	}
	for _, code := range []string{"deruta", "torgiano"} {
		res, err := (&areas.Importer{Pool: pool, Town: code}).ImportFile(ctx, files[code], areas.Zones)
		if err != nil || res.Town != code || res.Areas < 2 {
			t.Fatalf("%s's zones: %+v %v", code, res, err)
		}
	}
	cat := refdata.Italy()
	zones := map[int16][]tiles.Place{}
	for code, id := range ids {
		zs, err := pgstore.New(pool, cat, id).Zones(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(zs) == 0 || zs[0].Key != 0 || zs[0].Code != "centro-storico" {
			t.Fatalf("%s's zones: %+v", code, zs)
		}
		zones[id] = zs
	}

	// people on a grid around each centre: half from a file, half posted
	centres := map[string]orb.Point{"deruta": {12.4177, 42.9826}, "torgiano": {12.4345, 43.0257}}
	start := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	var (
		csv    strings.Builder
		posted []presence.Record
		i      int
	)
	csv.WriteString("observed_at,lon,lat,weight\n")
	for _, code := range []string{"deruta", "torgiano"} {
		c := centres[code]
		for dx := -6; dx <= 6; dx++ {
			for dy := -6; dy <= 6; dy++ {
				r := presence.Record{ObservedAt: start.Add(time.Duration(i) * time.Minute), Lon: c[0] + float64(dx)*0.0007, Lat: c[1] + float64(dy)*0.0007, Weight: uint32(1 + i%3)}
				i++
				if i%2 == 0 {
					posted = append(posted, r)
					continue
				}
				fmt.Fprintf(&csv, "%s,%.6f,%.6f,%d\n", r.ObservedAt.Format(time.RFC3339), r.Lon, r.Lat, r.Weight)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "two-towns.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Loader{Pool: pool}).LoadFile(ctx, file, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "two-towns"}, posted); err != nil {
		t.Fatal(err)
	}
	checkMasks := func(when string) []zoneRow {
		t.Helper()
		rows := zoneRows(t, pool)
		inCentre := map[int16]int{}
		for _, r := range rows {
			want := int32(tiles.ZoneMask(zones[r.town], orb.Point{r.lon, r.lat}))
			if r.zones != want {
				t.Errorf("%s: a record of town %d at %.6f,%.6f: zones %b, want %b (its town's)", when, r.town, r.lon, r.lat, r.zones, want)
			}
			if r.zones&1 != 0 {
				inCentre[r.town]++
			}
		}
		for code, id := range ids {
			if inCentre[id] == 0 {
				t.Errorf("%s: no record of %s in its centro-storico: the test checks nothing", when, code)
			}
		}
		if len(rows) != i {
			t.Fatalf("%s: %d records, want %d", when, len(rows), i)
		}
		return rows
	}
	before := checkMasks("loaded")
	torgianoRollup := rollupOf(t, pool, ids["torgiano"])

	// Deruta's zones again, renumbered: its records move, Torgiano's not
	data, err := os.ReadFile(files["deruta"])
	if err != nil {
		t.Fatal(err)
	}
	f, err := areas.Parse("deruta-reversed.geojson", data, areas.Zones)
	if err != nil {
		t.Fatal(err)
	}
	for k := range f.Zones {
		f.Zones[k].ID = len(f.Zones) - 1 - k
	}
	res, err := (&areas.Importer{Pool: pool, Town: "deruta"}).Import(ctx, f)
	if err != nil || res.Recoded == 0 {
		t.Fatalf("Deruta's zones renumbered moved no record: %+v %v", res, err)
	}
	if zones[ids["deruta"]], err = pgstore.New(pool, cat, ids["deruta"]).Zones(ctx); err != nil {
		t.Fatal(err)
	}
	after := zoneRowsOf(t, pool, ids["torgiano"])
	if want := zoneRowsIn(before, ids["torgiano"]); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Errorf("Torgiano's records changed with Deruta's zones")
	}
	if got := rollupOf(t, pool, ids["torgiano"]); got != torgianoRollup {
		t.Errorf("Torgiano's rollup changed with Deruta's zones")
	}
	// Deruta's records follow its new zones (centro-storico is its last
	// zone now)
	for _, r := range zoneRows(t, pool) {
		if r.town != ids["deruta"] {
			continue
		}
		if want := int32(tiles.ZoneMask(zones[r.town], orb.Point{r.lon, r.lat})); r.zones != want {
			t.Fatalf("a record of Deruta at %.6f,%.6f: zones %b, want %b", r.lon, r.lat, r.zones, want)
		}
	}
	if n, err := pgstore.VerifyRollup(ctx, pool); err != nil || n != 0 {
		t.Fatalf("the rollup differs from the records in %d keys (%v)", n, err)
	}
}

func zoneRowsOf(t *testing.T, pool *pgxpool.Pool, town int16) []zoneRow {
	t.Helper()
	return zoneRowsIn(zoneRows(t, pool), town)
}

func zoneRowsIn(rows []zoneRow, town int16) []zoneRow {
	var out []zoneRow
	for _, r := range rows {
		if r.town == town {
			out = append(out, r)
		}
	}
	return out
}
