// Command utility measures what disclosure control costs the figures
// (docs/PRIVACY.md, "Utility"): on the seeded demo data, every figure the
// density layer publishes at zooms 14-17 and every zone figure of the stats
// and zones layer, for a set of windows and filters, against the true
// figure. It prints Markdown tables:
//
//   - the share of published figures about 100 people or more that are
//     within ±5% of the truth (the goal is 95% or more);
//
//   - the mean absolute error by size class;
//
//   - the share of bins with anyone in them that are withheld, with the
//     rules before the cell key method (threshold; complementary
//     suppression for narrowing filters other than the zone) and after.
//
//     go run ./bench/utility [-records N] [-seed S]
//
// The figures are computed the way the server computes them, through the
// in-memory source and tiles.Privacy, with the embedded demo's key.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"math"
	"net/url"
	"time"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// classes of true people, for the error table.
var classes = []struct {
	name   string
	lo, hi int64
}{{"15-49", 15, 49}, {"50-99", 50, 99}, {"100-499", 100, 499}, {"500-1,999", 500, 1999}, {"2,000+", 2000, math.MaxInt64}}

type acc struct {
	n      [5]int
	absErr [5]float64
	big    int // figures ≥ 100
	within int // of those, within ±5%
}

func (a *acc) add(truth, published int64) {
	for i, c := range classes {
		if truth >= c.lo && truth <= c.hi {
			a.n[i]++
			a.absErr[i] += math.Abs(float64(published - truth))
		}
	}
	if truth >= 100 {
		a.big++
		if math.Abs(float64(published-truth)) <= 0.05*float64(truth) {
			a.within++
		}
	}
}

type supp struct{ bins, before, after int }

func main() {
	records := flag.Int("records", 0, "demo records (0: the embedded demo's default size)")
	seed := flag.Uint64("seed", 1, "demo seed")
	flag.Parse()
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		log.Fatal(err)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, loc)
	zones := demo.Zones()
	store := memstore.New(refdata.Italy())
	var recs []presence.Record
	err = demo.Generate(demo.Config{Seed: *seed, Records: *records, Start: start}, func(r presence.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err == nil {
		err = store.Add(recs, tiles.NewZoneIndex(zones))
	}
	if err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "flowtiles embedded demo %d", *seed)) // as app.demoSecret
	priv, err := tiles.NewPrivacy(tiles.DefaultK, sum[:], tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		log.Fatal(err)
	}
	exact := tiles.UnperturbedForTests(tiles.DefaultK)
	st := store.Stats()
	bounds := store.Bounds()

	day := func(d int) (time.Time, time.Time) { return start.AddDate(0, 0, d), start.AddDate(0, 0, d+1) }
	type window struct {
		name     string
		from, to time.Time
	}
	var windows []window
	for _, d := range []int{60, 61, 150} { // a Saturday in March, the Sunday, a weekday in May
		f, t := day(d)
		windows = append(windows, window{"a day", f, t})
	}
	windows = append(windows, window{"a week", start.AddDate(0, 3, 0), start.AddDate(0, 3, 7)}, window{"a month", start.AddDate(0, 4, 0), start.AddDate(0, 5, 0)})
	filters := []string{"", "age=25-34", "nationality=DE", "zone=corso", "hours=9-12&days=sat,sun"}
	res := refdata.Resolver{Catalog: refdata.Italy(), Zones: zones}

	var all acc
	byFilter := map[string]*supp{}
	for _, w := range windows {
		for _, fq := range filters {
			v, _ := url.ParseQuery(fq)
			f, err := tiles.ParseFilter(v, loc, res)
			if err != nil {
				log.Fatal(err)
			}
			f.From, f.To = w.from, w.to
			// the rules before: the zone as an area, not a narrowing filter
			old := f
			old.Zone, old.Zones = "", 0
			for z := uint8(14); z <= 17; z++ {
				g := tiles.NewGrid(tiles.Hexagon, z)
				area := bounds.Expand(g.W, g.W)
				after := groups(ctx, store, tiles.Query{Filter: f, Area: area, By: []tiles.Dim{tiles.DimBin}, Grid: g, Loc: loc, WithRest: f.Narrowed()})
				before := groups(ctx, store, tiles.Query{Filter: old, Area: area, AreaZones: f.Zones, By: []tiles.Dim{tiles.DimBin}, Grid: g, Loc: loc, WithRest: old.Narrowed()})
				s := byFilter[fq]
				if s == nil {
					s = &supp{}
					byFilter[fq] = s
				}
				for k, gr := range after {
					s.bins++
					if !exact.Allow(before[k], old.Narrowed()) {
						s.before++
					}
					_, people := priv.Publish(gr, f.Narrowed())
					if p, ok := people.Int(); ok {
						all.add(gr.People(), p)
					} else {
						s.after++
					}
				}
			}
		}
	}
	// zones, whole days: stats and the zones layer publish the same figure
	var zonesAcc acc
	for d := 0; d < 240; d += 3 {
		f, t := day(d)
		for k, gr := range groups(ctx, store, tiles.Query{Filter: tiles.Filter{From: f, To: t}, By: []tiles.Dim{tiles.DimZone}, Loc: loc}) {
			if k < 0 {
				continue
			}
			if _, people := priv.Publish(gr, false); !people.Suppressed() {
				p, _ := people.Int()
				zonesAcc.add(gr.People(), p)
			}
		}
	}

	fmt.Printf("Data: %d demo records (seed %d), %s to %s; k = %d, D = %d, growth %.1f.\n\n", st.Rows, *seed,
		st.From.In(loc).Format(time.DateOnly), st.To.In(loc).Format(time.DateOnly), priv.K, priv.D, priv.Growth)
	fmt.Println("| figures | published | about ≥ 100 people | of those within ±5% |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, a *acc) {
		n := 0
		for _, c := range a.n {
			n += c
		}
		fmt.Printf("| %s | %d | %d | %s |\n", name, n, a.big, pct(a.within, a.big))
	}
	row("density bins, zooms 14-17 (5 windows × 5 filters)", &all)
	row("zones, whole days (80 days × 9 zones)", &zonesAcc)
	fmt.Println()
	fmt.Println("| true people | bins | mean absolute error | relative | zones | mean absolute error | relative |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for i, c := range classes {
		fmt.Printf("| %s | %d | %s | %s | %d | %s | %s |\n", c.name, all.n[i], mae(all, i), rel(all, i, c.lo, c.hi), zonesAcc.n[i], mae(zonesAcc, i), rel(zonesAcc, i, c.lo, c.hi))
	}
	fmt.Println()
	fmt.Println("| filter | bins with anyone, zooms 14-17 | withheld before | withheld after |")
	fmt.Println("|---|---|---|---|")
	for _, fq := range filters {
		s := byFilter[fq]
		name := fq
		if name == "" {
			name = "(none)"
		}
		fmt.Printf("| `%s` | %d | %s | %s |\n", name, s.bins, pct(s.before, s.bins), pct(s.after, s.bins))
	}
}

func groups(ctx context.Context, s *memstore.Store, q tiles.Query) map[int64]tiles.Group {
	out := map[int64]tiles.Group{}
	if err := s.Aggregate(ctx, q, func(g tiles.Group) error {
		out[g.Key[0]] = g
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	return out
}

func pct(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

func mae(a acc, i int) string {
	if a.n[i] == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.absErr[i]/float64(a.n[i]))
}

// rel is the mean absolute error relative to the class's middle (its lower
// bound for the open class).
func rel(a acc, i int, lo, hi int64) string {
	if a.n[i] == 0 {
		return "–"
	}
	mid := float64(lo)
	if hi != math.MaxInt64 {
		mid = float64(lo+hi) / 2
	}
	return fmt.Sprintf("%.1f%%", 100*a.absErr[i]/float64(a.n[i])/mid)
}
