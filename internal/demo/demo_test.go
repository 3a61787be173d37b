package demo

import (
	"sort"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// figures are the CITIES-shaped figures of a generated set.
type figures struct {
	records, visits, visitors int
	under30                   int
	ages                      map[tiles.AgeBand]int // visits by age band
	foreign                   int                   // visits
	origins                   map[string]int        // visits by origin
	nats                      map[tiles.Country]int
	byHour                    [24]int // records by local hour
	byDow                     [7]int  // visits by weekday
}

// measure generates cfg and computes its figures: a visit is a visitor on
// one local day, its dwell last minus first record (as internal/stats).
func measure(t testing.TB, cfg Config) figures {
	t.Helper()
	type span struct{ first, last time.Time }
	f := figures{ages: map[tiles.AgeBand]int{}, origins: map[string]int{}, nats: map[tiles.Country]int{}}
	type key struct {
		v   int64
		day string
	}
	visits := map[key]*span{}
	people := map[int64]bool{}
	err := Generate(cfg, func(r presence.Record) error {
		f.records++
		f.byHour[r.ObservedAt.Hour()]++
		k := key{r.Visitor, r.ObservedAt.Format(time.DateOnly)}
		s := visits[k]
		if s == nil {
			s = &span{r.ObservedAt, r.ObservedAt}
			visits[k] = s
			f.ages[r.Age]++
			f.nats[r.Nationality]++
			if r.Nationality != tiles.Italy {
				f.foreign++
			}
			if r.Origin != "" {
				f.origins[r.Origin]++
			}
			f.byDow[r.ObservedAt.Weekday()]++
			people[r.Visitor] = true
		}
		s.last = r.ObservedAt
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.visits, f.visitors = len(visits), len(people)
	for _, s := range visits {
		if s.last.Sub(s.first) < 30*time.Minute {
			f.under30++
		}
	}
	return f
}

func top(m map[string]int, n int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] || m[ks[i]] == m[ks[j]] && ks[i] < ks[j] })
	return ks[:min(n, len(ks))]
}

func TestFigures(t *testing.T) {
	// a tenth of the default size, over the default period
	cfg := Config{Seed: 1, Records: int(DefaultVisits * RecordsPerVisit / 10)}
	f := measure(t, cfg)
	t.Logf("records %d, visits %d, visitors %d, records/visit %.2f", f.records, f.visits, f.visitors, float64(f.records)/float64(f.visits))
	t.Logf("under 30 min %.1f%%, foreign %.1f%%", 100*float64(f.under30)/float64(f.visits), 100*float64(f.foreign)/float64(f.visits))
	t.Logf("ages %v", f.ages)
	cat := refdata.Italy()
	for _, c := range top(f.origins, 10) {
		m, _ := cat.Municipality(c)
		t.Logf("origin %s %s %d (%.1f%%)", c, m.Name, f.origins[c], 100*float64(f.origins[c])/float64(f.visits))
	}
	t.Logf("by hour %v", f.byHour)
	t.Logf("by weekday %v", f.byDow)
	t.Logf("nationalities %v", f.nats)

	if want := DefaultVisits / 10; f.visits < want*9/10 || f.visits > want*11/10 {
		t.Errorf("visits %d, want about %d", f.visits, want)
	}
	if want := cfg.Records; f.records < want*9/10 || f.records > want*11/10 {
		t.Errorf("records %d, want about %d", f.records, want)
	}
	if s := float64(f.under30) / float64(f.visits); s <= 0.5 || s > 0.7 {
		t.Errorf("visits under 30 minutes: %.1f%%, want more than half (and not nearly all)", 100*s)
	}
	mid := f.ages[tiles.Age35to44] + f.ages[tiles.Age45to54] + f.ages[tiles.Age55to64]
	young := f.ages[tiles.Age0to17] + f.ages[tiles.Age18to24] + f.ages[tiles.Age25to34]
	if mid <= young || mid <= f.ages[tiles.Age65plus] || 2*mid <= f.visits {
		t.Errorf("ages 35-64: %d visits of %d, want the largest group", mid, f.visits)
	}
	best := tiles.AgeUnknown
	for a, n := range f.ages {
		if best == tiles.AgeUnknown || n > f.ages[best] {
			best = a
		}
	}
	if best < tiles.Age35to44 || best > tiles.Age55to64 {
		t.Errorf("largest age band %s, want one in 35-64", best)
	}
	if s := float64(f.foreign) / float64(f.visits); s < 0.05 || s > 0.2 {
		t.Errorf("foreign visits %.1f%%, want 5-20%%", 100*s)
	}
	for c := range f.origins {
		if !cat.Known(c) {
			t.Errorf("origin %q is not an ISTAT municipality", c)
		}
	}
	top5 := top(f.origins, 5)
	for _, c := range []string{"054017", "054039"} { // Deruta, Perugia
		found := false
		for _, x := range top5 {
			found = found || x == c
		}
		if !found {
			t.Errorf("origin %s not in the top five %v", c, top5)
		}
	}
	if len(f.origins) < 300 {
		t.Errorf("visitors from %d municipalities, want many", len(f.origins))
	}
	// rhythms: weekends busier, a lull at 14:00 between the peaks
	weekday := (f.byDow[1] + f.byDow[2] + f.byDow[3] + f.byDow[4] + f.byDow[5]) / 5
	if weekend := (f.byDow[0] + f.byDow[6]) / 2; weekend < weekday*13/10 {
		t.Errorf("weekend days %d visits, weekdays %d: want weekends busier", weekend, weekday)
	}
	if f.byHour[14] >= f.byHour[11] || f.byHour[14] >= f.byHour[18] {
		t.Errorf("records at 14h %d, 11h %d, 18h %d: want a lull after lunch", f.byHour[14], f.byHour[11], f.byHour[18])
	}
}

// TestDefaultSize checks the default set against the CITIES order of
// magnitude: about 300,000 visits (a visitor on a local day) in eight months.
func TestDefaultSize(t *testing.T) {
	if testing.Short() {
		t.Skip("generates the full default set")
	}
	records, visits := 0, 0
	day := ""
	seen := map[int64]bool{}
	start := time.Now()
	err := Generate(Config{}, func(r presence.Record) error {
		records++
		if d := r.ObservedAt.Format(time.DateOnly); d != day {
			day = d
			clear(seen)
		}
		if !seen[r.Visitor] {
			seen[r.Visitor] = true
			visits++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("default set: %d records, %d visits, generated and counted in %v", records, visits, time.Since(start).Round(time.Millisecond))
	if visits < 280_000 || visits > 320_000 {
		t.Errorf("%d visits, want about 300,000", visits)
	}
	if records < 1_000_000 || records > 2_500_000 {
		t.Errorf("%d records, want 1-2.5 M", records)
	}
}
