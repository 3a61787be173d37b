package redteam

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"

	"github.com/flowtiles/flowtiles/internal/app"
	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/stats"
	"github.com/flowtiles/flowtiles/tiles"
)

// The world of the attacks: a flowtiles server on the embedded demo data
// (a fixed seed and period), plus planted crowds and small groups posted
// to POST /api/ingest, and the ground truth of both.

const (
	demoSeed    = 11
	demoRecords = 150_000
	token       = "red-team"
)

var demoStart = time.Date(2025, 1, 1, 0, 0, 0, 0, rome)

var rome = sourcetest.Rome

type world struct {
	url    string
	app    *app.App
	zones  []tiles.Place
	res    refdata.Resolver
	cat    *refdata.Catalog
	table  tiles.Privacy // the default perturbation table, for its bounds
	byDay  map[int64][]presence.Record
	plants []presence.Record
	idOf   map[int64]string // planted visitor hash → the id posted
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

// planters are the families' planting functions, run once when the world
// is built (every attack's data in one batch).
var planters []func(w *world)

// getWorld builds the shared world on first use.
func getWorld(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = build() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func build() (*world, error) {
	a, err := app.New(context.Background(), app.Config{
		TimeZone: "Europe/Rome", DemoRecords: demoRecords, DemoSeed: demoSeed, DemoStart: demoStart,
		IngestToken: []string{token}, IngestMaxBytes: 64 << 20, LiveInterval: time.Hour,
	}, nil)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(a.Handler()) // lives as long as the test binary
	table, err := tiles.NewPrivacy(tiles.DefaultK, []byte("bounds only, never used to publish"), tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		return nil, err
	}
	w := &world{url: srv.URL, app: a, zones: demo.Zones(), cat: refdata.Italy(), table: table,
		byDay: map[int64][]presence.Record{}, idOf: map[int64]string{}}
	w.res = refdata.Resolver{Catalog: w.cat, Zones: w.zones}
	err = demo.Generate(demo.Config{Seed: demoSeed, Records: demoRecords, Start: demoStart}, func(r presence.Record) error {
		w.add(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range planters {
		p(w)
	}
	if err := w.post(w.plants); err != nil {
		return nil, err
	}
	for _, r := range w.plants {
		w.add(r)
	}
	return w, nil
}

func (w *world) add(r presence.Record) {
	d := day(r.ObservedAt)
	w.byDay[d] = append(w.byDay[d], r)
}

// day is the local day number of t.
func day(t time.Time) int64 {
	y, m, d := t.In(rome).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// at is local time h:mm on the demo's day number n (0: its first day).
func at(n int, h, m int) time.Time {
	return time.Date(demoStart.Year(), demoStart.Month(), demoStart.Day()+n, h, m, 0, 0, rome)
}

// person plants one person with one record at t and p; set fills in the
// attributes.
func (w *world) person(t time.Time, p orb.Point, set func(*presence.Record)) presence.Record {
	id := fmt.Sprintf("planted-%d", len(w.idOf))
	r := presence.Record{ObservedAt: t.Truncate(time.Second), Lon: p[0], Lat: p[1], Weight: 1, Visitor: presence.VisitorHash(id)}
	w.idOf[r.Visitor] = id
	if set != nil {
		set(&r)
	}
	w.plants = append(w.plants, r)
	return r
}

// crowd plants n people around t (a second apart) at p.
func (w *world) crowd(n int, t time.Time, p orb.Point, set func(*presence.Record)) []presence.Record {
	var out []presence.Record
	for i := range n {
		out = append(out, w.person(t.Add(time.Duration(i)*time.Second), p, set))
	}
	return out
}

// again plants a second record of the same people at t.
func (w *world) again(people []presence.Record, t time.Time) {
	for i, r := range people {
		r.ObservedAt = t.Add(time.Duration(i) * time.Second)
		w.plants = append(w.plants, r)
	}
}

func (w *world) post(recs []presence.Record) error {
	var b strings.Builder
	b.WriteString("observed_at,lon,lat,weight,visitor_id,age_band,gender,nationality,origin_code,spend_class\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "%s,%s,%s,%d,%s,%s,%s,%s,%s,%s\n", r.ObservedAt.UTC().Format(time.RFC3339),
			strconv.FormatFloat(r.Lon, 'f', -1, 64), strconv.FormatFloat(r.Lat, 'f', -1, 64), r.Weight, w.idOf[r.Visitor],
			r.Age, r.Gender, r.Nationality, r.Origin, r.Spend)
	}
	req, _ := http.NewRequest(http.MethodPost, w.url+"/api/ingest", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("planting %d records: %d %s", len(recs), res.StatusCode, body)
	}
	return nil
}

// zone returns the index and an interior point of the zone named code that
// lies in no other zone but centro-storico (and in centro-storico's case,
// in no other zone at all).
func (w *world) zone(code string) (int, orb.Point) {
	for _, z := range w.zones {
		if z.Code != code {
			continue
		}
		want := uint16(1)<<z.Key | 1 // centro-storico (zone 0) holds every zone
		b := z.Shape.Bound()
		for i := 1; i < 40; i++ {
			for j := 1; j < 40; j++ {
				p := orb.Point{b.Min[0] + (b.Max[0]-b.Min[0])*float64(i)/40, b.Min[1] + (b.Max[1]-b.Min[1])*float64(j)/40}
				if tiles.ZoneMask(w.zones, p) == want {
					return int(z.Key), p
				}
			}
		}
	}
	panic("no interior point for zone " + code)
}

// --- what the server publishes ---------------------------------------------

func (w *world) get(path string, q url.Values) ([]byte, int) {
	res, err := http.Get(w.url + path + "?" + q.Encode())
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b, res.StatusCode
}

// figure is a published number and whether it was published.
type figure struct {
	v  float64
	ok bool
}

type statsRow struct {
	Key        string `json:"key"`
	Suppressed bool   `json:"suppressed"`
	Visitors   *struct {
		Value float64 `json:"value"`
	} `json:"visitors"`
	Per1000 *struct {
		Value float64 `json:"value"`
	} `json:"visitors_per_1000_residents"`
	Population int64 `json:"population"`
}

func (r statsRow) visitors() figure {
	if r.Visitors == nil {
		return figure{}
	}
	return figure{r.Visitors.Value, true}
}

type statsReport struct {
	Period struct {
		Total statsRow   `json:"total"`
		Rows  []statsRow `json:"rows"`
	} `json:"period"`
	Change *struct {
		Total struct {
			Visitors *struct {
				Absolute float64 `json:"absolute"`
			} `json:"visitors"`
		} `json:"total"`
	} `json:"change"`
	Comparison *struct {
		Total statsRow `json:"total"`
	} `json:"comparison"`
}

func (w *world) stats(t *testing.T, q url.Values) statsReport {
	t.Helper()
	b, code := w.get("/api/stats", q)
	if code != http.StatusOK {
		t.Fatalf("GET /api/stats?%s: %d %s", q.Encode(), code, b)
	}
	var rep statsReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// tile returns the decoded layers of a tile (nil when empty).
func (w *world) tile(t *testing.T, layer string, id tiles.TileID, q url.Values) mvt.Layers {
	t.Helper()
	b, code := w.get(fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", layer, id.Z, id.X, id.Y), q)
	switch code {
	case http.StatusNoContent:
		return nil
	case http.StatusOK:
	default:
		t.Fatalf("tile %s %v?%s: %d %s", layer, id, q.Encode(), code, b)
	}
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("tile %s %v: %v", layer, id, err)
	}
	return ls
}

// bin returns the published visitors of the bin of shape and zoom z that
// holds p.
func (w *world) bin(t *testing.T, shape tiles.Shape, z uint8, p orb.Point, q url.Values) figure {
	t.Helper()
	g := tiles.NewGrid(shape, z)
	wp := tiles.Project(p[0], p[1])
	id := g.ID(g.BinOf(wp))
	q = clone(q)
	if shape == tiles.Square {
		q.Set("bins", "square")
	}
	for _, l := range w.tile(t, tiles.LayerDensity, tiles.TileAt(z, wp), q) {
		if l.Name != tiles.LayerDensity {
			continue
		}
		for _, f := range l.Features {
			if num(f.ID) == float64(id) {
				return property(f.Properties, "visitors")
			}
		}
	}
	return figure{}
}

func property(p map[string]any, key string) figure {
	v, ok := p[key]
	if !ok {
		return figure{}
	}
	return figure{num(v), true}
}

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	case int:
		return float64(n)
	}
	return math.NaN()
}

func clone(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// --- the truth -----------------------------------------------------------

// reference aggregates the records of q's window the slow, obvious way.
func (w *world) reference(q tiles.Query) []tiles.Group {
	var recs []presence.Record
	for d := day(q.Filter.From); d <= day(q.Filter.To.Add(-time.Second)); d++ {
		recs = append(recs, w.byDay[d]...)
	}
	q.Loc = rome
	return sourcetest.Reference(recs, w.zones, q)
}

// truthStats is the true total of a stats request.
func (w *world) truthStats(t *testing.T, q url.Values) int64 {
	t.Helper()
	req, err := stats.ParseRequest(q, rome, w.res)
	if err != nil {
		t.Fatal(err)
	}
	return w.truthStatsWindow(req, req.Filter.From, req.Filter.To)
}

func (w *world) truthStatsWindow(req stats.Request, from, to time.Time) int64 {
	f := req.Filter
	f.From, f.To = from, to
	tq := tiles.Query{Filter: f}
	if req.Area.Kind == stats.AreaZone {
		tq.AreaZones, tq.Filter.Zone, tq.Filter.Zones = f.Zones, "", 0
	} else {
		tq.Area = req.Area.Rect
	}
	var n int64
	for _, g := range w.reference(tq) {
		n += g.People()
	}
	return n
}

// truthRows is the true people of each row of a stats request by dim.
func (w *world) truthRows(t *testing.T, q url.Values, dim tiles.Dim, key func(int64) string) map[string]int64 {
	t.Helper()
	req, err := stats.ParseRequest(q, rome, w.res)
	if err != nil {
		t.Fatal(err)
	}
	f := req.Filter
	tq := tiles.Query{Filter: f, By: []tiles.Dim{dim}}
	if req.Area.Kind == stats.AreaZone {
		tq.AreaZones, tq.Filter.Zone, tq.Filter.Zones = f.Zones, "", 0
	} else {
		tq.Area = req.Area.Rect
	}
	out := map[string]int64{}
	for _, g := range w.reference(tq) {
		out[key(g.Key[0])] = g.People()
	}
	return out
}

// truthBin is the true people of the bin of shape and zoom z holding p.
func (w *world) truthBin(t *testing.T, shape tiles.Shape, z uint8, p orb.Point, q url.Values) int64 {
	t.Helper()
	f, err := tiles.ParseFilter(q, rome, w.res)
	if err != nil {
		t.Fatal(err)
	}
	g := tiles.NewGrid(shape, z)
	wp := tiles.Project(p[0], p[1])
	b := g.BinOf(wp)
	cx, cy := g.Centre(b)
	dx, dy := g.Reach()
	area := tiles.Rect{MinX: cx - 2*dx, MinY: cy - 2*dy, MaxX: cx + 2*dx, MaxY: cy + 2*dy}
	for _, gr := range w.reference(tiles.Query{Filter: f, Area: area, By: []tiles.Dim{tiles.DimBin}, Grid: g}) {
		if uint64(gr.Key[0]) == g.ID(b) {
			return gr.People()
		}
	}
	return 0
}

// --- the attacks' bookkeeping -------------------------------------------------

// attempt is one run of an attack against one planted group.
type attempt struct {
	blocked  bool    // a figure the attack needs was withheld
	estimate float64 // what the attacker computes from published figures
	target   float64 // the same computation on the true figures
	truths   []int64 // the true people of every figure used
}

// tally sums the attempts of a family.
type tally struct {
	attempts, blocked, valid, hits int
	chance, chanceVar              float64 // expected exact hits by chance, and its variance
	sqErr, noiseVar                float64
}

func (tl *tally) add(w *world, a attempt) {
	tl.attempts++
	if a.blocked {
		tl.blocked++
		return
	}
	if a.target < 1 || a.target > 14 || a.target != math.Trunc(a.target) {
		return // not about a small group: no test of privacy
	}
	tl.valid++
	if a.estimate == a.target {
		tl.hits++
	}
	// The noise of a sum of independent uniform noises hits any one value
	// at most as often as the widest of them does.
	var widest int64
	var v float64
	for _, n := range a.truths {
		b := w.table.Bound(n)
		widest = max(widest, b)
		v += float64(b*(b+1)) / 3
	}
	p := 1 / float64(2*widest+1)
	tl.chance += p
	tl.chanceVar += p * (1 - p)
	tl.sqErr += (a.estimate - a.target) * (a.estimate - a.target)
	tl.noiseVar += v
}

func (tl *tally) rmsError() float64 { return math.Sqrt(tl.sqErr / float64(max(tl.valid, 1))) }
func (tl *tally) noiseSD() float64  { return math.Sqrt(tl.noiseVar / float64(max(tl.valid, 1))) }
func (tl *tally) hitBound() float64 { return tl.chance + 3*math.Sqrt(tl.chanceVar) + 1 }
func (tl *tally) String() string {
	return fmt.Sprintf("%d attempts, %d blocked by suppression, %d about 1-14 people: %d recovered exactly (chance %.1f, blind guess %.1f), error RMS %.2f against noise SD %.2f",
		tl.attempts, tl.blocked, tl.valid, tl.hits, tl.chance, float64(tl.valid)/14, tl.rmsError(), tl.noiseSD())
}
