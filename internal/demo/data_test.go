package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// small is a quick data set: two months at a small size.
var small = Config{Seed: 7, Records: 60_000, Months: 2}

func digest(t *testing.T, cfg Config) ([32]byte, int) {
	t.Helper()
	h := sha256.New()
	n, err := Write(h, cfg, "csv")
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, n
}

func TestDeterministic(t *testing.T) {
	a, n := digest(t, small)
	b, m := digest(t, small)
	if a != b || n != m {
		t.Fatalf("two runs with seed %d differ: %x (%d records) and %x (%d)", small.Seed, a, n, b, m)
	}
	other := small
	other.Seed++
	if c, _ := digest(t, other); c == a {
		t.Fatalf("seeds %d and %d give the same data", small.Seed, other.Seed)
	}
}

func TestRecordsValid(t *testing.T) {
	for _, town := range Towns(TimeZone) {
		t.Run(town.Town.Code, func(t *testing.T) {
			cfg := small
			cfg.Town = town.Town.Code
			checkRecords(t, cfg, town.Zones())
		})
	}
}

// checkRecords checks the records of cfg: in the period, in time order,
// with all their attributes, inside the town's centre (zones[0]); and that
// every zone has some.
func checkRecords(t *testing.T, small Config, zones []tiles.Place) {
	cat := refdata.Italy()
	var all orb.Bound
	for i, z := range zones {
		if i == 0 {
			all = z.Shape.Bound()
		}
		all = all.Union(z.Shape.Bound())
	}
	rome, err := time.LoadLocation(TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, rome)
	to := from.AddDate(0, small.Months, 0)
	var prev time.Time
	n, bad, inZone := 0, 0, map[int]int{}
	err = GenerateWithIDs(small, func(r *presence.Record, id string) error {
		n++
		p := orb.Point{r.Lon, r.Lat}
		fail := func(format string, args ...any) {
			t.Helper()
			if bad++; bad <= 10 {
				t.Errorf("record %d (%v): "+format, append([]any{n, *r}, args...)...)
			}
		}
		switch {
		case r.ObservedAt.Before(from) || !r.ObservedAt.Before(to):
			fail("time outside the period")
		case r.ObservedAt.Before(prev):
			fail("out of time order")
		case r.ObservedAt.Nanosecond() != 0:
			fail("not whole seconds")
		case r.Weight < 1:
			fail("weight %d", r.Weight)
		case r.Visitor == 0 || presence.VisitorHash(id) != r.Visitor:
			fail("visitor %d is not the hash of id %q", r.Visitor, id)
		case r.Age == tiles.AgeUnknown || r.Gender == tiles.GenderUnknown || r.Spend == tiles.SpendUnknown:
			fail("missing attributes")
		case r.Nationality == tiles.Italy && !cat.Known(r.Origin):
			fail("Italian without a known origin")
		case r.Nationality != tiles.Italy && (r.Origin != "" || tiles.CountryIndex(r.Nationality) == 0):
			fail("foreign with origin %q or unknown nationality", r.Origin)
		case !planar.MultiPolygonContains(zones[0].Shape, p) || !all.Contains(p):
			fail("outside the centre")
		case r.Lon != round6(r.Lon) || r.Lat != round6(r.Lat):
			fail("coordinates with more than 6 decimals")
		}
		if r.ObservedAt.Location().String() != TimeZone {
			fail("time zone %s", r.ObservedAt.Location())
		}
		prev = r.ObservedAt
		for i := 1; i < len(zones); i++ {
			if planar.MultiPolygonContains(zones[i].Shape, p) {
				inZone[i]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(zones); i++ {
		t.Logf("zone %-20s %6d records (%.1f%%)", zones[i].Code, inZone[i], 100*float64(inZone[i])/float64(n))
		if inZone[i] == 0 {
			t.Errorf("no record in zone %s", zones[i].Code)
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	cfg := Config{Seed: 3, Records: 5000, Months: 1}
	n, err := Write(&buf, cfg, "csv")
	if err != nil {
		t.Fatal(err)
	}
	var want []presence.Record
	if err := Generate(cfg, func(r presence.Record) error { want = append(want, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("wrote %d records, generated %d", n, len(want))
	}
	cr := csv.NewReader(&buf)
	head, err := cr.Read()
	if err != nil || strings.Join(head, ",") != CSVHeader {
		t.Fatalf("header %q, %v", head, err)
	}
	for i := 0; ; i++ {
		row, err := cr.Read()
		if err == io.EOF {
			if i != n {
				t.Fatalf("%d rows, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseRow(row)
		if err != nil {
			t.Fatalf("row %d %q: %v", i+2, row, err)
		}
		w := want[i]
		if !got.ObservedAt.Equal(w.ObservedAt) || got.Lon != w.Lon || got.Lat != w.Lat || got.Weight != w.Weight ||
			got.Visitor != w.Visitor || got.Age != w.Age || got.Gender != w.Gender || got.Nationality != w.Nationality ||
			got.Origin != w.Origin || got.Spend != w.Spend {
			t.Fatalf("row %d reads %+v, generated %+v", i+2, got, w)
		}
	}
}

// parseRow reads a CSV row as the data contract says.
func parseRow(row []string) (presence.Record, error) {
	var r presence.Record
	var err error
	if r.ObservedAt, err = time.Parse(time.RFC3339, row[0]); err != nil {
		return r, err
	}
	if r.Lon, err = strconv.ParseFloat(row[1], 64); err != nil {
		return r, err
	}
	if r.Lat, err = strconv.ParseFloat(row[2], 64); err != nil {
		return r, err
	}
	w, err := strconv.ParseUint(row[3], 10, 32)
	if err != nil {
		return r, err
	}
	r.Weight = uint32(w)
	r.Visitor = presence.VisitorHash(row[4])
	if r.Age, err = tiles.ParseAgeBand(row[5]); err != nil {
		return r, err
	}
	if r.Gender, err = tiles.ParseGender(row[6]); err != nil {
		return r, err
	}
	if r.Nationality, err = tiles.ParseCountry(row[7]); err != nil {
		return r, err
	}
	r.Origin = row[8]
	if r.Spend, err = tiles.ParseSpend(row[9]); err != nil {
		return r, err
	}
	return r, nil
}

func TestNDJSON(t *testing.T) {
	var buf bytes.Buffer
	cfg := Config{Seed: 3, Records: 2000, Months: 1}
	if _, err := Write(&buf, cfg, "ndjson"); err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	if _, err := Write(&csvBuf, cfg, "csv"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	rows := strings.Split(strings.TrimSpace(csvBuf.String()), "\n")[1:]
	if len(lines) != len(rows) {
		t.Fatalf("%d NDJSON lines, %d CSV rows", len(lines), len(rows))
	}
	for i := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d %s: %v", i+1, lines[i], err)
		}
		f := strings.Split(rows[i], ",")
		if m["observed_at"] != f[0] || m["visitor_id"] != f[4] || m["age_band"] != f[5] || strconv.FormatFloat(m["lon"].(float64), 'f', -1, 64) != f[1] {
			t.Fatalf("line %d %s differs from CSV row %s", i+1, lines[i], rows[i])
		}
	}
}

func TestZones(t *testing.T) {
	if !bytes.Equal(ZonesGeoJSON(), Towns(TimeZone)[0].ZonesGeoJSON()) {
		t.Error("ZonesGeoJSON is not Deruta's")
	}
	checkZones(t, Towns(TimeZone)[0], "internal/demo/zones.geojson", "corso", "piazza-dei-consoli", "parcheggio-nord")
	// a fresh slice each call
	zones := Zones()
	zones[0].Code = "x"
	if Zones()[0].Code != "centro-storico" {
		t.Error("Zones returns a shared slice")
	}
}

// checkZones checks a town's zones: the embedded file is testdata's, zone
// 0 is the centre and holds the town's centre and every other zone, keys
// are indexes, the named zones are there.
func checkZones(t *testing.T, town DemoTown, embedded string, want ...string) {
	t.Helper()
	code := town.Town.Code
	tb, err := os.ReadFile("../../testdata/" + code + "/zones.geojson")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tb, town.ZonesGeoJSON()) {
		t.Fatalf("testdata/%s/zones.geojson differs from %s: copy it over", code, embedded)
	}
	zones := town.Zones()
	centre := town.Town.Center
	if len(zones) < 2 || len(zones) > tiles.MaxZones {
		t.Fatalf("%d zones", len(zones))
	}
	if zones[0].Code != "centro-storico" {
		t.Errorf("zone 0 is %q, want centro-storico", zones[0].Code)
	}
	if !planar.MultiPolygonContains(zones[0].Shape, centre) {
		t.Errorf("the town %v is not in the centre", centre)
	}
	names := map[string]bool{}
	for i, z := range zones {
		if z.Level != tiles.LevelZone || z.Key != int64(i) || z.Code == "" || names[z.Code] {
			t.Errorf("zone %d: level %s key %d code %q", i, z.Level, z.Key, z.Code)
		}
		names[z.Code] = true
		if !planar.MultiPolygonContains(z.Shape, z.Point) {
			t.Errorf("zone %s: point %v not inside", z.Code, z.Point)
		}
		for _, q := range z.Shape[0][0] {
			// the centre contains every zone (vertices on its border count)
			if !planar.MultiPolygonContains(zones[0].Shape, q) && i != 0 {
				t.Errorf("zone %s: vertex %v outside the centre", z.Code, q)
			}
		}
		if i > 0 && tiles.ZoneMask(zones, z.Point)&1 == 0 {
			t.Errorf("zone %s: mask of its point lacks the centre", z.Code)
		}
	}
	for _, n := range want {
		if !names[n] {
			t.Errorf("no zone %s", n)
		}
	}
}

func TestFestivalAndMarket(t *testing.T) {
	rome, _ := time.LoadLocation(TimeZone)
	days := plan(deruta, time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 8)
	if len(days) != 243 {
		t.Fatalf("%d days from January to August 2025, want 243", len(days))
	}
	var fest []string
	markets := 0
	for _, d := range days {
		if d.festival {
			fest = append(fest, d.start.Format(time.DateOnly))
		}
		if d.market {
			markets++
			if d.start.Weekday() != time.Tuesday {
				t.Errorf("market on %s", d.start.Format("Mon 2006-01-02"))
			}
		}
	}
	if strings.Join(fest, " ") != "2025-05-17 2025-05-18" {
		t.Errorf("festival days %v, want the weekend of 17-18 May 2025", fest)
	}
	if markets < 33 || markets > 35 {
		t.Errorf("%d market days", markets)
	}
	if !isHoliday(time.Date(2025, 4, 21, 0, 0, 0, 0, rome)) {
		t.Error("Easter Monday 2025 (21 April) is not a holiday")
	}
	// the festival brings crowds: its Saturday is busier than the one before
	counts := map[string]int{}
	cfg := Config{Seed: 1, Start: time.Date(2025, 5, 10, 0, 0, 0, 0, rome), Months: 1, Records: 100_000}
	if err := Generate(cfg, func(r presence.Record) error {
		counts[r.ObservedAt.Format(time.DateOnly)]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts["2025-05-17"] < 2*counts["2025-05-10"] {
		t.Errorf("festival Saturday %d records, the Saturday before %d", counts["2025-05-17"], counts["2025-05-10"])
	}
}
