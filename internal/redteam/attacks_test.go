package redteam

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/tiles"
)

// A family is one kind of attack, run against instances planted on days of
// their own: instance i of family f lives on demo day 10 + f·instances + i,
// in the hours where the demo town is asleep, so that planted groups are
// what the attacker's differences are about.
type family struct {
	name   string
	plant  func(w *world, n int, size int) // n: the demo day; size: the small group
	attack func(t *testing.T, w *world, n int) attempt
}

const instances = 20

// window is the hour the attacks look at on day n: 03:00-04:00.
func window(n int) url.Values {
	return url.Values{"from": {at(n, 3, 0).Format(time.RFC3339)}, "to": {at(n, 4, 0).Format(time.RFC3339)}}
}

func with(q url.Values, kv ...string) url.Values {
	q = clone(q)
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// sizes of the crowds around the small groups: enough to be published.
func crowdSize(n int) int { return 20 + (n*7)%41 }

func age(a tiles.AgeBand) func(*presence.Record)   { return func(r *presence.Record) { r.Age = a } }
func gender(g tiles.Gender) func(*presence.Record) { return func(r *presence.Record) { r.Gender = g } }
func origin(code string) func(*presence.Record) {
	return func(r *presence.Record) { r.Origin, r.Nationality = code, tiles.Italy }
}

var families = []family{
	{
		// Table margins: by=gender in one zone; the third gender is a small
		// group. total − (the others) isolates it; rows the margin rule
		// withholds are asked for one by one (gender=m), as a careful
		// attacker would.
		name: "table margins",
		plant: func(w *world, n, size int) {
			_, p := w.zone("corso")
			w.crowd(crowdSize(n), at(n, 3, 10), p, gender(tiles.GenderF))
			w.crowd(crowdSize(n+1), at(n, 3, 20), p, gender(tiles.GenderM))
			w.crowd(size, at(n, 3, 30), p, gender(tiles.GenderX))
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			q := with(window(n), "zone", "corso", "by", "gender")
			rep := w.stats(t, q)
			total := rep.Period.Total.visitors()
			if !total.ok {
				return attempt{blocked: true}
			}
			truth := w.truthRows(t, q, tiles.DimGender, func(k int64) string {
				if k == 0 {
					return "unknown"
				}
				return tiles.Gender(k).String()
			})
			a := attempt{estimate: total.v, truths: []int64{w.truthStats(t, with(q, "by", ""))}}
			a.target = float64(a.truths[0])
			for _, r := range rep.Period.Rows {
				if r.Key == "x" {
					continue
				}
				v := r.visitors()
				if !v.ok && r.Key != "unknown" {
					v = w.stats(t, with(q, "by", "", "gender", r.Key)).Period.Total.visitors()
				}
				if v.ok {
					a.estimate -= v.v
					a.target -= float64(truth[r.Key])
					a.truths = append(a.truths, truth[r.Key])
				}
			}
			return a
		},
	},
	{
		// Nested attribute sets: age=0-17,18-24,25-34 minus age=18-24,25-34.
		name: "nested attribute sets",
		plant: func(w *world, n, size int) {
			_, p := w.zone("piazza-dei-consoli")
			w.crowd(crowdSize(n), at(n, 3, 5), p, age(tiles.Age18to24))
			w.crowd(crowdSize(n+2), at(n, 3, 15), p, age(tiles.Age25to34))
			w.crowd(crowdSize(n+4), at(n, 3, 25), p, age(tiles.Age65plus))
			w.crowd(size, at(n, 3, 35), p, age(tiles.Age0to17))
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			a := with(window(n), "zone", "piazza-dei-consoli", "age", "0-17,18-24,25-34")
			b := with(a, "age", "18-24,25-34")
			return difference(t, w, statsFigure(a), statsFigure(b))
		},
	},
	{
		// Adjacent windows: 20:00-24:00 minus 20:00-23:00, as a time window
		// (even instances) and as hours of the day (odd ones).
		name: "adjacent windows",
		plant: func(w *world, n, size int) {
			_, p := w.zone("largo-san-francesco")
			w.crowd(crowdSize(n), at(n, 20, 10), p, nil)
			w.crowd(size, at(n, 23, 10), p, nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			if n%2 == 0 {
				a := url.Values{"zone": {"largo-san-francesco"}, "from": {at(n, 20, 0).Format(time.RFC3339)}, "to": {at(n, 24, 0).Format(time.RFC3339)}}
				b := with(a, "to", at(n, 23, 0).Format(time.RFC3339))
				return difference(t, w, statsFigure(a), statsFigure(b))
			}
			d := at(n, 0, 0).Format(time.DateOnly)
			a := url.Values{"zone": {"largo-san-francesco"}, "from": {d}, "to": {d}, "hours": {"20-24"}}
			return difference(t, w, statsFigure(a), statsFigure(with(a, "hours", "20-23")))
		},
	},
	{
		// Zone differencing on tiles: a z16 bin without and with zone=corso,
		// the small group in the part of the bin outside the zone.
		name: "zone differencing on tiles",
		plant: func(w *world, n, size int) {
			in, out := straddle(w, "corso", 16, n)
			w.crowd(crowdSize(n), at(n, 3, 10), in, nil)
			w.crowd(size, at(n, 3, 20), out, nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			in, _ := straddle(w, "corso", 16, n)
			q := with(window(n), "bins", "square")
			return difference(t, w, binFigure(tiles.Square, 16, in, q), binFigure(tiles.Square, 16, in, with(q, "zone", "corso")))
		},
	},
	{
		// Hexagons against squares: a z16 square holding a whole z17
		// hexagon, the small group in the square outside the hexagon.
		name: "hexagon against square",
		plant: func(w *world, n, size int) {
			hex, corner := hexInSquare(n)
			w.crowd(crowdSize(n), at(n, 3, 10), hex, nil)
			w.crowd(size, at(n, 3, 20), corner, nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			hex, _ := hexInSquare(n)
			return difference(t, w, binFigure(tiles.Square, 16, hex, window(n)), binFigure(tiles.Hexagon, 17, hex, window(n)))
		},
	},
	{
		// Overlapping boxes in stats: two snapped cells minus one.
		name: "overlapping bboxes",
		plant: func(w *world, n, size int) {
			c0, c1 := cells(n)
			w.crowd(crowdSize(n), at(n, 3, 10), centre(c0), nil)
			w.crowd(size, at(n, 3, 20), centre(c1), nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			c0, c1 := cells(n)
			both := tiles.Rect{MinX: c0.MinX, MinY: c0.MinY, MaxX: c1.MaxX, MaxY: c1.MaxY}
			return difference(t, w, statsFigure(with(window(n), "bbox", bbox(both))), statsFigure(with(window(n), "bbox", bbox(c0))))
		},
	},
	{
		// Comparison periods: the same crowd in two hours, the small group
		// in the second only; the change is the group.
		name: "comparison periods",
		plant: func(w *world, n, size int) {
			_, p := w.zone("porta-perugina")
			c := w.crowd(crowdSize(n), at(n, 3, 10), p, nil)
			w.again(c, at(n, 5, 10))
			w.crowd(size, at(n, 5, 20), p, nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			q := url.Values{"zone": {"porta-perugina"},
				"from": {at(n, 5, 0).Format(time.RFC3339)}, "to": {at(n, 6, 0).Format(time.RFC3339)},
				"compare_from": {at(n, 3, 0).Format(time.RFC3339)}, "compare_to": {at(n, 4, 0).Format(time.RFC3339)}}
			rep := w.stats(t, q)
			cur, ref := rep.Period.Total.visitors(), rep.Comparison.Total.visitors()
			if !cur.ok || !ref.ok || rep.Change.Total.Visitors == nil {
				return attempt{blocked: true}
			}
			if d := rep.Change.Total.Visitors.Absolute; d != cur.v-ref.v {
				t.Errorf("day %d: the change %v is not the difference of the published figures %v − %v", n, d, cur.v, ref.v)
			}
			tc := w.truthStats(t, url.Values{"zone": q["zone"], "from": q["from"], "to": q["to"]})
			tr := w.truthStats(t, url.Values{"zone": q["zone"], "from": q["compare_from"], "to": q["compare_to"]})
			return attempt{estimate: rep.Change.Total.Visitors.Absolute, target: float64(tc - tr), truths: []int64{tc, tr}}
		},
	},
	{
		// The same place across zoom levels: a z16 square minus three of its
		// four z17 squares.
		name: "zoom levels",
		plant: func(w *world, n, size int) {
			qs := quadrants(n)
			for i := range 3 {
				w.crowd(crowdSize(n+i), at(n, 3, 10+i), qs[i], nil)
			}
			w.crowd(size, at(n, 3, 30), qs[3], nil)
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			qs := quadrants(n)
			q := window(n)
			whole, tw := binFigure(tiles.Square, 16, qs[0], q)(t, w)
			if !whole.ok {
				return attempt{blocked: true}
			}
			a := attempt{estimate: whole.v, target: float64(tw), truths: []int64{tw}}
			for _, p := range qs[:3] {
				if f, tv := binFigure(tiles.Square, 17, p, q)(t, w); f.ok {
					a.estimate -= f.v
					a.target -= float64(tv)
					a.truths = append(a.truths, tv)
				}
			}
			return a
		},
	},
	{
		// Origins against flows: the people from a far municipality (origins
		// layer) minus its flow to the corso: those who came from there and
		// were elsewhere.
		name: "origins against flows",
		plant: func(w *world, n, size int) {
			_, corso := w.zone("corso")
			_, gate := w.zone("porta-sant-angelo")
			w.crowd(crowdSize(n), at(n, 3, 10), corso, origin(farOrigin(n)))
			w.crowd(size, at(n, 3, 20), gate, origin(farOrigin(n)))
		},
		attack: func(t *testing.T, w *world, n int) attempt {
			code := farOrigin(n)
			m, _ := w.cat.Municipality(code)
			q := window(n)
			from := originFigure(t, w, code, tiles.TileAt(9, tiles.Project(m.Lon, m.Lat)), q)
			corsoIdx, _ := w.zone("corso")
			corsoName := w.zones[corsoIdx].Name
			flow := flowFigure(t, w, code, corsoName, with(q, "origin", code))
			if !from.ok || !flow.ok {
				return attempt{blocked: true}
			}
			f, _ := tiles.ParseFilter(q, rome, w.res)
			key, _ := strconv.ParseInt(code, 10, 64)
			var tf, tfl int64
			for _, g := range w.reference(tiles.Query{Filter: f, By: []tiles.Dim{tiles.DimMunicipality, tiles.DimZone}}) {
				if g.Key[0] == key && g.Key[1] == int64(corsoIdx) {
					tfl = g.People()
				}
			}
			for _, g := range w.reference(tiles.Query{Filter: f, By: []tiles.Dim{tiles.DimMunicipality}}) {
				if g.Key[0] == key {
					tf = g.People()
				}
			}
			return attempt{estimate: from.v - flow.v, target: float64(tf - tfl), truths: []int64{tf, tfl}}
		},
	},
}

// farOrigins are municipalities no demo visitor comes from.
var farOrigins = []string{"015146", "001272", "063049", "037006", "082053"} // Milano, Torino, Napoli, Bologna, Palermo

func farOrigin(n int) string { return farOrigins[n%len(farOrigins)] }

// A probe fetches one published figure and computes its truth.
type probe func(t *testing.T, w *world) (figure, int64)

func statsFigure(q url.Values) probe {
	return func(t *testing.T, w *world) (figure, int64) {
		return w.stats(t, q).Period.Total.visitors(), w.truthStats(t, q)
	}
}

func binFigure(shape tiles.Shape, z uint8, p orb.Point, q url.Values) probe {
	return func(t *testing.T, w *world) (figure, int64) {
		return w.bin(t, shape, z, p, q), w.truthBin(t, shape, z, p, q)
	}
}

// difference is the attack A − B.
func difference(t *testing.T, w *world, a, b probe) attempt {
	fa, ta := a(t, w)
	fb, tb := b(t, w)
	if !fa.ok || !fb.ok {
		return attempt{blocked: true}
	}
	return attempt{estimate: fa.v - fb.v, target: float64(ta - tb), truths: []int64{ta, tb}}
}

func originFigure(t *testing.T, w *world, code string, id tiles.TileID, q url.Values) figure {
	for _, l := range w.tile(t, tiles.LayerOrigins, id, q) {
		for _, f := range l.Features {
			if f.Properties["code"] == code {
				return property(f.Properties, "visitors")
			}
		}
	}
	return figure{}
}

func flowFigure(t *testing.T, w *world, code, dest string, q url.Values) figure {
	town := tiles.TileAt(9, tiles.Project(12.4177, 42.9826))
	for _, l := range w.tile(t, tiles.LayerFlows, town, q) {
		for _, f := range l.Features {
			if f.Properties["origin"] == code && f.Properties["destination"] == dest {
				return property(f.Properties, "visitors")
			}
		}
	}
	return figure{}
}

// --- places the attacks need -----------------------------------------------

// town is the middle of the demo town; places of the attacks are spread
// around it by the instance number, a few hundred metres apart.
var town = orb.Point{12.4177, 42.9826}

func around(n int) tiles.World {
	return tiles.Project(town[0]+0.004*float64(n%5-2), town[1]+0.003*float64((n/5)%5-2))
}

// straddle returns two points in one z-zoom square bin, the first inside
// zone code and the second outside it (and outside every zone but
// centro-storico's bounds). Instances use different bins along the zone.
func straddle(w *world, code string, z uint8, n int) (in, out orb.Point) {
	idx, _ := w.zone(code)
	g := tiles.NewGrid(tiles.Square, z)
	b := w.zones[idx].Shape.Bound()
	var found [][2]orb.Point
	seen := map[tiles.Bin]bool{}
	const steps = 60
	for i := 0; i <= steps; i++ {
		for j := 0; j <= steps; j++ {
			p := orb.Point{b.Min[0] + (b.Max[0]-b.Min[0])*float64(i)/steps, b.Min[1] + (b.Max[1]-b.Min[1])*float64(j)/steps}
			bin := g.BinOf(tiles.Project(p[0], p[1]))
			if seen[bin] {
				continue
			}
			seen[bin] = true
			var pin, pout orb.Point
			var hasIn, hasOut bool
			for u := 1; u < 16; u++ {
				for v := 1; v < 16; v++ {
					x, y := bin.Col*g.W+g.W*int64(u)/16, bin.Row*g.W+g.W*int64(v)/16
					lon, lat := tiles.Unproject(float64(x)+0.5, float64(y)+0.5)
					q := orb.Point{lon, lat}
					m := tiles.ZoneMask(w.zones, q)
					switch {
					case m&(1<<idx) != 0 && !hasIn:
						pin, hasIn = q, true
					case m&(1<<idx) == 0 && !hasOut:
						pout, hasOut = q, true
					}
				}
			}
			if hasIn && hasOut {
				found = append(found, [2]orb.Point{pin, pout})
			}
		}
	}
	if len(found) == 0 {
		panic("no bin straddles zone " + code)
	}
	f := found[n%len(found)]
	return f[0], f[1]
}

// hexInSquare returns the centre of a z17 hexagon that lies wholly inside a
// z16 square, and a point of that square outside the hexagon.
func hexInSquare(n int) (hex, corner orb.Point) {
	sq, hx := tiles.NewGrid(tiles.Square, 16), tiles.NewGrid(tiles.Hexagon, 17)
	p := around(n)
	for dy := int64(0); dy < 64; dy++ {
		for dx := int64(0); dx < 64; dx++ {
			w := tiles.World{X: p.X + uint32(dx*hx.W/4), Y: p.Y + uint32(dy*hx.H/4)}
			s := sq.BinOf(w)
			h := hx.BinOf(w)
			inside := true
			for _, v := range hx.Ring(h) {
				if sq.BinOf(tiles.World{X: uint32(v[0]), Y: uint32(v[1])}) != s || v[0]%sq.W == 0 || v[1]%sq.W == 0 {
					inside = false
				}
			}
			if !inside {
				continue
			}
			cx, cy := hx.Centre(h)
			c := tiles.World{X: uint32(s.Col*sq.W + 3), Y: uint32(s.Row*sq.W + 3)}
			if hx.BinOf(c) == h {
				continue
			}
			lon, lat := tiles.Unproject(float64(cx)+0.5, float64(cy)+0.5)
			clon, clat := tiles.Unproject(float64(c.X)+0.5, float64(c.Y)+0.5)
			return orb.Point{lon, lat}, orb.Point{clon, clat}
		}
	}
	panic(fmt.Sprintf("no z17 hexagon inside a z16 square near instance %d", n))
}

// cells returns two neighbouring cells of the stats bbox grid (2^14 world
// units), west and east.
func cells(n int) (tiles.Rect, tiles.Rect) {
	const s = int64(1) << 14
	p := around(n)
	x, y := int64(p.X)/s*s, int64(p.Y)/s*s
	return tiles.Rect{MinX: x, MinY: y, MaxX: x + s, MaxY: y + s}, tiles.Rect{MinX: x + s, MinY: y, MaxX: x + 2*s, MaxY: y + s}
}

func centre(r tiles.Rect) orb.Point {
	lon, lat := tiles.Unproject(float64(r.MinX+r.MaxX)/2, float64(r.MinY+r.MaxY)/2)
	return orb.Point{lon, lat}
}

// bbox writes r slightly inside its edges: the server snaps it back out.
func bbox(r tiles.Rect) string {
	w, s := tiles.Unproject(float64(r.MinX+8), float64(r.MaxY-8))
	e, nn := tiles.Unproject(float64(r.MaxX-8), float64(r.MinY+8))
	return fmt.Sprintf("%.8f,%.8f,%.8f,%.8f", w, s, e, nn)
}

// quadrants returns a point in each z17 quarter of a z16 square.
func quadrants(n int) [4]orb.Point {
	g := tiles.NewGrid(tiles.Square, 16)
	b := g.BinOf(around(n))
	var out [4]orb.Point
	for i := range 4 {
		x := b.Col*g.W + g.W/4 + int64(i%2)*g.W/2
		y := b.Row*g.W + g.W/4 + int64(i/2)*g.W/2
		lon, lat := tiles.Unproject(float64(x), float64(y))
		out[i] = orb.Point{lon, lat}
	}
	return out
}

func init() {
	planters = append(planters, func(w *world) {
		for f, fam := range families {
			for i := range instances {
				fam.plant(w, 10+f*instances+i, 1+i%14)
			}
		}
	})
}

// TestAttacks runs every family of attacks and checks, per family and over
// all of them, that planted groups of 1-14 people are not recovered exactly
// more often than the noise allows by chance, and that the attacker's error
// is of the order of the noise.
func TestAttacks(t *testing.T) {
	w := getWorld(t)
	var all tally
	for f, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			var tl tally
			for i := range instances {
				a := fam.attack(t, w, 10+f*instances+i)
				tl.add(w, a)
				all.add(w, a)
			}
			t.Logf("%s: %v", fam.name, &tl)
			check(t, &tl)
		})
	}
	t.Logf("all attacks: %v", &all)
	check(t, &all)
}

// check asserts what a tally must show.
func check(t *testing.T, tl *tally) {
	t.Helper()
	if tl.valid+tl.blocked < tl.attempts/2 {
		t.Errorf("only %d of %d attempts were about 1-14 people or blocked: the plants do not test what they should", tl.valid+tl.blocked, tl.attempts)
	}
	if tl.valid == 0 {
		return
	}
	if float64(tl.hits) > tl.hitBound() {
		t.Errorf("%d of %d small groups recovered exactly: more than chance (%.1f expected, at most %.1f)", tl.hits, tl.valid, tl.chance, tl.hitBound())
	}
	if tl.valid >= 5 && tl.rmsError() < 0.5*tl.noiseSD() {
		t.Errorf("the attacker's error (RMS %.2f) is far below the noise (SD %.2f): the noise cancels", tl.rmsError(), tl.noiseSD())
	}
}
