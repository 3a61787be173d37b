package redteam

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/app"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// Days of the tests below (after the families' days).
const (
	ratesDay     = 200 // rates of a tiny municipality, days 200-209
	averagingDay = 215 // the averaging attack, days 215-220
	averagings   = 6
)

// tiny is a municipality of 42 residents (Moncenisio, TO): a rate per
// 1,000 residents of it is its visitors times 23.8.
const tiny = "001157"

var ageBands = []tiles.AgeBand{tiles.Age18to24, tiles.Age25to34, tiles.Age35to44, tiles.Age45to54, tiles.Age55to64, tiles.Age65plus}

func init() {
	planters = append(planters, func(w *world) {
		_, corso := w.zone("corso")
		for i := range 10 {
			w.crowd(crowdSize(i), at(ratesDay+i, 3, 10), corso, origin(tiny))
		}
		// The averaging attack's days: a crowd in every age band but 0-17,
		// and a small group of 0-17.
		_, piazza := w.zone("piazza-dei-consoli")
		for i := range averagings {
			n := averagingDay + i
			for j, a := range ageBands {
				w.crowd(crowdSize(n+j), at(n, 3, 5+j), piazza, age(a))
			}
			w.crowd(1+(i*5)%14, at(n, 3, 40), piazza, age(tiles.Age0to17))
		}
	})
}

// A rate per 1,000 residents of a municipality of 42 people multiplies its
// visitors by 23.8 with two decimals: it must be the published (perturbed)
// visitors', never the true ones.
func TestRatesCarryThePublishedFigure(t *testing.T) {
	w := getWorld(t)
	m, _ := w.cat.Municipality(tiny)
	truthHits := 0
	for i := range 10 {
		n := ratesDay + i
		q := with(window(n), "zone", "corso", "by", "origin")
		var row *statsRow
		rep := w.stats(t, q)
		for j := range rep.Period.Rows {
			if rep.Period.Rows[j].Key == tiny {
				row = &rep.Period.Rows[j]
			}
		}
		if row == nil || row.Visitors == nil || row.Per1000 == nil {
			t.Fatalf("day %d: no published row for %s: %+v", n, tiny, rep.Period.Rows)
		}
		derived := row.Per1000.Value * float64(m.Population) / 1000
		if math.Abs(derived-row.Visitors.Value) > 0.01 {
			t.Errorf("day %d: the rate gives %.3f visitors, the row publishes %v", n, derived, row.Visitors.Value)
		}
		truth := w.truthRows(t, q, tiles.DimMunicipality, func(k int64) string { return fmt.Sprintf("%06d", k) })[tiny]
		if math.Round(derived) == float64(truth) {
			truthHits++
		}
		// the origins layer: the same rate from the same figure
		tile := tiles.TileAt(9, tiles.Project(m.Lon, m.Lat))
		for _, l := range w.tile(t, tiles.LayerOrigins, tile, with(window(n), "zone", "corso")) {
			for _, f := range l.Features {
				if f.Properties["code"] != tiny {
					continue
				}
				v, r := property(f.Properties, "visitors"), property(f.Properties, "per_1000_residents")
				if !v.ok || !r.ok || math.Abs(r.v*float64(m.Population)/1000-v.v) > 0.01 || v.v != row.Visitors.Value {
					t.Errorf("day %d: origins layer %v visitors, rate %v; stats %v", n, v, r, row.Visitors.Value)
				}
			}
		}
	}
	if truthHits > 4 {
		t.Errorf("the rates gave the true visitors %d times in 10", truthHits)
	}
}

// The averaging attack, the residual risk docs/PRIVACY.md states: with
// unlimited queries, an attacker who finds many different pairs of
// figures that differ by the same small group can average their
// differences. Each pair's noise is independent, so the error falls as
// 1/√m with m pairs and no faster. Here m runs up to 60 of the 63 age sets
// that isolate 0-17 in one zone and hour; the test logs what the attacker
// gets and asserts that no two formulations share noise (which would make
// averaging converge faster, or a single pair exact).
func TestAveragingAttack(t *testing.T) {
	w := getWorld(t)
	var sets [][]tiles.AgeBand
	for mask := 1; mask < 1<<len(ageBands); mask++ {
		var s []tiles.AgeBand
		for j, a := range ageBands {
			if mask&(1<<j) != 0 {
				s = append(s, a)
			}
		}
		sets = append(sets, s)
	}
	names := func(s []tiles.AgeBand) string {
		var out []string
		for _, a := range s {
			out = append(out, a.String())
		}
		return strings.Join(out, ",")
	}
	ms := []int{1, 4, 16, 60}
	sq := make([]float64, len(ms))
	exact := make([]int, len(ms))
	groups := 0
	for i := range averagings {
		n := averagingDay + i
		base := with(window(n), "zone", "piazza-dei-consoli")
		var diffs []float64
		var target float64
		for _, s := range sets {
			a := with(base, "age", "0-17,"+names(s))
			b := with(base, "age", names(s))
			at := attemptOf(t, w, a, b)
			if at.blocked {
				continue
			}
			target = at.target
			diffs = append(diffs, at.estimate)
		}
		if len(diffs) < 60 || target < 1 || target > 14 {
			t.Fatalf("day %d: %d formulations published, target %v: the plant does not test the attack", n, len(diffs), target)
		}
		groups++
		for j, m := range ms {
			var sum float64
			for _, d := range diffs[:m] {
				sum += d
			}
			e := sum/float64(m) - target
			sq[j] += e * e
			if math.Round(sum/float64(m)) == target {
				exact[j]++
			}
		}
	}
	rms := func(j int) float64 { return math.Sqrt(sq[j] / float64(groups)) }
	for j, m := range ms {
		t.Logf("averaging %2d formulations: error RMS %.2f, rounded estimate exact for %d of %d groups", m, rms(j), exact[j], groups)
	}
	if rms(0) < 2 {
		t.Errorf("one formulation: error RMS %.2f, want the noise of two figures (about 4.5)", rms(0))
	}
	for j, m := range ms {
		if rms(j)*math.Sqrt(float64(m)) < 0.4*rms(0) {
			t.Errorf("%d formulations: error RMS %.2f falls faster than 1/√m from %.2f: formulations share noise", m, rms(j), rms(0))
		}
	}
}

func attemptOf(t *testing.T, w *world, a, b url.Values) attempt {
	return difference(t, w, statsFigure(a), statsFigure(b))
}

// One figure about one set of people is one number wherever it appears: a
// square bin of zoom 14 and the stats box of the same cell, a zone in stats
// and in the zones layer, JSON and CSV, this server and another one started
// on the same data.
func TestSameFigureEverywhere(t *testing.T) {
	w := getWorld(t)
	g := tiles.NewGrid(tiles.Square, 14)
	compared := 0
	for n := 10; n < 200; n += 17 {
		q := url.Values{"from": {at(n, 0, 0).Format(time.DateOnly)}, "to": {at(n, 0, 0).Format(time.DateOnly)}}
		// bins and boxes around the centre
		for dx := -2; dx <= 2; dx++ {
			p := tiles.Project(town[0], town[1])
			p.X += uint32(int64(dx) * g.W)
			b := g.BinOf(p)
			cell := tiles.Rect{MinX: b.Col * g.W, MinY: b.Row * g.W, MaxX: (b.Col + 1) * g.W, MaxY: (b.Row + 1) * g.W}
			tileFig := w.bin(t, tiles.Square, 14, centre(cell), q)
			rep := w.stats(t, with(q, "bbox", bbox(cell)))
			statsFig := rep.Period.Total.visitors()
			if tileFig != statsFig {
				t.Errorf("day %d cell %v: the z14 bin publishes %v, the stats box %v", n, b, tileFig, statsFig)
			}
			if tileFig.ok {
				compared++
			}
		}
		// zones: stats and the zones layer
		zl := w.tile(t, tiles.LayerZones, tiles.TileAt(13, tiles.Project(town[0], town[1])), q)
		for _, z := range w.zones {
			st := w.stats(t, with(q, "zone", z.Code)).Period.Total.visitors()
			var tl figure
			for _, l := range zl {
				for _, f := range l.Features {
					if f.Properties["code"] == z.Code {
						tl = property(f.Properties, "visitors")
					}
				}
			}
			if st != tl {
				t.Errorf("day %d zone %s: stats %v, zones layer %v", n, z.Code, st, tl)
			}
			if st.ok {
				compared++
			}
		}
		// JSON and CSV
		qz := with(q, "zone", "centro-storico", "by", "hour")
		js := w.stats(t, qz)
		body, _ := w.get("/api/stats", with(qz, "format", "csv"))
		r := csv.NewReader(strings.NewReader(string(body)))
		r.Comment = '#'
		r.FieldsPerRecord = -1
		lines, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range lines[0] {
			col[h] = i
		}
		rows := map[string]string{}
		for _, l := range lines[1:] {
			rows[l[0]] = l[col["visitors"]]
		}
		for _, row := range append([]statsRow{js.Period.Total}, js.Period.Rows...) {
			want := ""
			if v := row.visitors(); v.ok {
				want = strconv.FormatFloat(v.v, 'f', -1, 64)
			}
			if rows[row.Key] != want {
				t.Errorf("day %d row %s: CSV %q, JSON %q", n, row.Key, rows[row.Key], want)
			}
		}
	}
	if compared < 50 {
		t.Errorf("only %d published figures compared", compared)
	}

	// Another server on the same data, as after a restart: the same figures.
	b, err := app.New(context.Background(), app.Config{
		TimeZone: "Europe/Rome", DemoRecords: demoRecords, DemoSeed: demoSeed, DemoStart: demoStart,
		IngestToken: []string{token}, IngestMaxBytes: 64 << 20, LiveInterval: time.Hour,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	other := &world{url: srv.URL, idOf: w.idOf}
	if err := other.post(w.plants); err != nil {
		t.Fatal(err)
	}
	for f, fam := range families[:3] {
		for i := range 5 {
			n := 10 + f*instances + i
			for _, q := range []url.Values{with(window(n), "zone", "corso", "by", "gender"), with(window(n), "zone", "piazza-dei-consoli", "age", "18-24,25-34")} {
				b1, _ := w.get("/api/stats", q)
				b2, _ := other.get("/api/stats", q)
				if string(b1) != string(b2) {
					t.Errorf("%s day %d: the two servers answer differently:\n%s\n%s", fam.name, n, b1, b2)
				}
			}
		}
	}
}

// lonely is one person west of the town centre, alone in a zoom-12 tile
// (still inside Deruta's municipality: a record outside every town is not
// taken).
var lonely = orb.Point{12.38, 43.00}

func init() {
	planters = append(planters, func(w *world) {
		w.person(at(230, 3, 0), lonely, nil)
	})
}

// TileJSON bounds (and the map's starting view) tell where data lies: never
// where the outermost person was. They are the zoom-12 tiles holding at
// least k people, so a lonely person 3 km west of the town centre moves nothing.
func TestBoundsRevealNoOne(t *testing.T) {
	w := getWorld(t)
	body, code := w.get("/tiles/density.json", nil)
	if code != 200 {
		t.Fatalf("TileJSON: %d %s", code, body)
	}
	var doc struct {
		Bounds [4]float64 `json:"bounds"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Bounds[0] <= lonely[0] {
		t.Errorf("bounds %v reach the lonely person at %v", doc.Bounds, lonely)
	}
	// without the server's constant padding, every edge is a tile edge
	const pad = 0.005
	size := float64(tiles.WorldSize >> tiles.ExtentZoom)
	sw := tiles.Project(doc.Bounds[0]+pad, doc.Bounds[1]+pad)
	ne := tiles.Project(doc.Bounds[2]-pad, doc.Bounds[3]-pad)
	for name, v := range map[string]uint32{"west": sw.X, "south": sw.Y, "east": ne.X, "north": ne.Y} {
		if d := math.Mod(float64(v)+size/2, size) - size/2; math.Abs(d) > 64 {
			t.Errorf("the %s bound is %v world units off a zoom-12 tile edge: %v", name, d, doc.Bounds)
		}
	}
}

// farAway is a small group from New Zealand, far from every other origin.
var farAway = tiles.Country{'N', 'Z'}

func init() {
	planters = append(planters, func(w *world) {
		w.crowd(3, at(200, 11, 0), demo.Town(), func(r *presence.Record) { r.Nationality = farAway })
	})
}

// The bounds of the origins and flows layers are those of their published
// figures: a group of fewer than k people from New Zealand, the only ones
// from there, does not stretch them to the other side of the world.
func TestLayerBoundsRevealNoOne(t *testing.T) {
	w := getWorld(t)
	people := map[int64]bool{}
	for _, recs := range w.byDay {
		for _, r := range recs {
			if r.Nationality == farAway {
				people[r.Visitor] = true
			}
		}
	}
	if len(people) == 0 || len(people) >= tiles.DefaultK {
		t.Fatalf("%d people from New Zealand: the test wants 1 to k-1", len(people))
	}
	for _, layer := range []string{tiles.LayerOrigins, tiles.LayerFlows} {
		body, code := w.get("/tiles/"+layer+".json", nil)
		if code != 200 {
			t.Fatalf("%s TileJSON: %d %s", layer, code, body)
		}
		var doc struct {
			Bounds [4]float64 `json:"bounds"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		// New Zealand lies within 166.4..178.6 E, 47.3..34.4 S; the demo's
		// published origins end in Australia (153.6 E, 43.6 S)
		if doc.Bounds[2] >= 166.4 && doc.Bounds[1] <= -34.4 {
			t.Errorf("%s bounds %v reach the %d people from New Zealand", layer, doc.Bounds, len(people))
		}
		if doc.Bounds[2]-doc.Bounds[0] >= 359 {
			t.Errorf("%s bounds %v claim the world", layer, doc.Bounds)
		}
	}
}
