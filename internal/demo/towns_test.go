package demo

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/presence"
)

func TestTowns(t *testing.T) {
	towns := Towns("Europe/Rome")
	if len(towns) != 2 {
		t.Fatalf("%d demo towns, want Deruta and Torgiano", len(towns))
	}
	for i, want := range []struct {
		code, istat, name, title string
	}{
		{Deruta, "054017", "Deruta", "Centro storico di Deruta"},
		{Torgiano, "054053", "Torgiano", "Torgiano, il borgo del vino"},
	} {
		town := towns[i].Town
		if int(town.ID) != i || town.Code != want.code || town.ISTAT != want.istat || town.Name != want.name ||
			town.TimeZone != "Europe/Rome" || town.Kiosk.Title["it"] != want.title || town.Kiosk.Title["en"] == "" ||
			town.Zoom == 0 || town.Population == 0 {
			t.Errorf("town %d: %+v", i, town)
		}
		if err := town.Validate(); err != nil {
			t.Errorf("%s: %v", town.Code, err)
		}
		got, ok := LookupTown(want.code, "UTC")
		if !ok || got.Town.Code != want.code || got.Town.TimeZone != "UTC" {
			t.Errorf("LookupTown(%q): %+v, %v", want.code, got.Town, ok)
		}
		// the centre is in the historic centre, near the middle of the walk
		if z := towns[i].Zones(); !planar.MultiPolygonContains(z[0].Shape, town.Center) {
			t.Errorf("%s: centre %v outside zone %s", town.Code, town.Center, z[0].Code)
		}
	}
	if towns[1].Town.Population >= towns[0].Town.Population {
		t.Errorf("Torgiano's population %d, Deruta's %d", towns[1].Town.Population, towns[0].Town.Population)
	}
	for _, code := range []string{"perugia", ""} {
		if _, ok := LookupTown(code, "UTC"); ok {
			t.Errorf("LookupTown found %q, no demo town", code)
		}
	}
	// Deruta's old functions are the first town's
	d := DerutaTown("Europe/Rome")
	if d.Code != towns[0].Town.Code || d.Center != towns[0].Town.Center || d.Zoom != towns[0].Town.Zoom ||
		!maps.Equal(d.Kiosk.Title, towns[0].Town.Kiosk.Title) || Town() != d.Center {
		t.Errorf("DerutaTown %+v, Towns()[0] %+v", d, towns[0].Town)
	}
	// values are the caller's
	towns[1].Town.Kiosk.Title["it"] = "x"
	towns[1].Town.Names = map[string]string{"en": "y"}
	if again := Towns("Europe/Rome"); again[1].Town.Kiosk.Title["it"] == "x" || again[1].Town.Names != nil {
		t.Error("Towns returns shared maps")
	}
	if _, err := Days(Config{Town: "perugia"}); err == nil || !strings.Contains(err.Error(), "perugia") {
		t.Errorf("an unknown town: %v", err)
	}
	if err := Generate(Config{Town: "perugia"}, func(presence.Record) error { return nil }); err == nil {
		t.Error("Generate of an unknown town: no error")
	}
}

func TestTorgianoZones(t *testing.T) {
	torgiano, _ := LookupTown(Torgiano, TimeZone)
	checkZones(t, torgiano, "internal/demo/zones_torgiano.geojson",
		"corso", "piazza-baglioni", "museo-del-vino", "torre-baglioni", "museo-olivo-olio", "parcheggio-torre", "parcheggio-sud", "parcheggio-est")
	zones := torgiano.Zones()
	zones[0].Code = "x"
	if torgiano.Zones()[0].Code != "centro-storico" {
		t.Error("Zones returns a shared slice")
	}
	// the centre is Piazza Baglioni, a few hundred metres from the tower
	for _, z := range torgiano.Zones() {
		switch z.Code {
		case "piazza-baglioni":
			if !planar.MultiPolygonContains(z.Shape, torgiano.Town.Center) {
				t.Errorf("the centre %v is not on Piazza Baglioni", torgiano.Town.Center)
			}
		case "torre-baglioni":
			if d := 1000 * distKm(z.Point[0], z.Point[1], torgiano.Town.Center[0], torgiano.Town.Center[1]); d > 300 {
				t.Errorf("the tower is %.0f m from the centre", d)
			}
		}
	}
}

func TestTownsDeterministic(t *testing.T) {
	cfg := small
	cfg.Town = Torgiano
	a, n := digest(t, cfg)
	b, m := digest(t, cfg)
	if a != b || n != m {
		t.Fatalf("two runs of Torgiano with seed %d differ: %x (%d records) and %x (%d)", cfg.Seed, a, n, b, m)
	}
	other := cfg
	other.Seed++
	if c, _ := digest(t, other); c == a {
		t.Fatalf("seeds %d and %d give the same data", cfg.Seed, other.Seed)
	}
	if c, _ := digest(t, small); c == a {
		t.Fatal("Deruta and Torgiano give the same data")
	}
	// "" is Deruta
	named := small
	named.Town = Deruta
	if c, _ := digest(t, named); c != mustDigest(t, small) {
		t.Fatal(`Config.Town "deruta" differs from ""`)
	}
}

func mustDigest(t *testing.T, cfg Config) [32]byte {
	t.Helper()
	d, _ := digest(t, cfg)
	return d
}

// visitsOf counts a data set's visits (a visitor on a local day) and
// records, and collects its visitors.
func visitsOf(t *testing.T, cfg Config) (visits, records int, people map[int64]bool) {
	t.Helper()
	type visit struct {
		day     string
		visitor int64
	}
	people = map[int64]bool{}
	seen := map[visit]bool{}
	err := Generate(cfg, func(r presence.Record) error {
		records++
		people[r.Visitor] = true
		key := visit{r.ObservedAt.Format(time.DateOnly), r.Visitor}
		if !seen[key] {
			seen[key] = true
			visits++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return visits, records, people
}

// Torgiano, at its default size, has fewer visitors than Deruta, and other
// people: no visitor of one town is a visitor of the other.
func TestTorgianoSmallerAndOthers(t *testing.T) {
	start := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	dv, _, dp := visitsOf(t, Config{Seed: 1, Start: start, Months: 2})
	tv, _, tp := visitsOf(t, Config{Town: Torgiano, Seed: 1, Start: start, Months: 2})
	t.Logf("April-May 2025: Deruta %d visits by %d visitors, Torgiano %d by %d", dv, len(dp), tv, len(tp))
	if tv >= dv*6/10 || tv < dv/5 {
		t.Errorf("Torgiano %d visits, Deruta %d: want fewer, about two fifths", tv, dv)
	}
	torgiano, _ := LookupTown(Torgiano, TimeZone)
	if want := 2 * DefaultVisits / 5; torgiano.DefaultVisits() != want {
		t.Errorf("Torgiano's default size %d visits, want %d", torgiano.DefaultVisits(), want)
	}
	both := 0
	for v := range tp {
		if dp[v] {
			both++
		}
	}
	if both > 0 {
		t.Errorf("%d visitors in both towns", both)
	}
}

func TestTorgianoEvents(t *testing.T) {
	rome, _ := time.LoadLocation(TimeZone)
	torgiano, _ := LookupTown(Torgiano, TimeZone)
	evs := torgiano.Events(time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 12)
	var got []string
	for _, e := range evs {
		got = append(got, e.Name+" "+e.From.Format(time.DateOnly)+" "+e.To.Format(time.DateOnly)+" "+e.Names["en"])
	}
	want := []string{
		"Cantine aperte 2025-05-24 2025-05-25 Open cellars",
		"Festa della vendemmia 2025-09-27 2025-09-28 Grape harvest festival",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Torgiano's events of 2025:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// the demo's default eight months hold the May weekend only, and Deruta
	// keeps its festival
	if evs := torgiano.Events(time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 8); len(evs) != 1 || evs[0].Name != "Cantine aperte" {
		t.Errorf("January-August 2025: %+v", evs)
	}
	if evs := Events(time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 8); len(evs) != 1 || evs[0].Name != "Festa della ceramica" ||
		evs[0].From.Format(time.DateOnly) != "2025-05-17" || evs[0].To.Format(time.DateOnly) != "2025-05-18" {
		t.Errorf("Deruta's events: %+v", evs)
	}
	if d := Towns(TimeZone)[0].Events(time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 8); len(d) != 1 || d[0].Name != "Festa della ceramica" {
		t.Errorf("Deruta's events by its DemoTown: %+v", d)
	}
	// no market in Torgiano; its festival days are busy
	for _, d := range plan(torgiano.spec, time.Date(2025, 1, 1, 0, 0, 0, 0, rome), 12) {
		if d.market {
			t.Fatalf("a market in Torgiano on %s", d.start.Format(time.DateOnly))
		}
	}
	counts := map[string]int{}
	cfg := Config{Town: Torgiano, Seed: 1, Start: time.Date(2025, 9, 13, 0, 0, 0, 0, rome), Months: 1, Records: 60_000}
	if err := Generate(cfg, func(r presence.Record) error {
		counts[r.ObservedAt.Format(time.DateOnly)]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts["2025-09-27"] < 2*counts["2025-09-20"] {
		t.Errorf("harvest festival Saturday %d records, the Saturday before %d", counts["2025-09-27"], counts["2025-09-20"])
	}
}
