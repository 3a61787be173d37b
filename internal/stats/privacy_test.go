package stats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// The tests below prove the privacy rule on adversarial data: tiny groups,
// narrow filters, filters and periods differing by a few people. The
// randomised test checks every published figure of many random requests
// against an independent brute-force count of the people behind it.

// crowd returns n visitors with the given nationality, each with one
// record at p at the given local time.
func crowd(prefix string, n int, nat, at string) []person {
	var out []person
	for i := range n {
		out = append(out, person{fmt.Sprintf("%s%d", prefix, i), 1, tiles.Age25to34, tiles.GenderF, nat, "", tiles.SpendLow, []string{at}})
	}
	return out
}

func TestFiltersDifferingByAFewPeople(t *testing.T) {
	// 18 Italians and 2 Germans: 20 people pass k = 15, and so would the 18
	// Italians alone, but nationality=IT differs from the unfiltered figure
	// by the 2 Germans: withheld, with every figure of the row.
	people := append(crowd("it", 18, "IT", "2025-03-03 10:00"), crowd("de", 2, "DE", "2025-03-03 10:10")...)
	e := newEnv(t, 15, records(t, people, sourcetest.Centre))
	all := e.report(t, window)
	if v, ok := all.Period.Total.Visitors.Value(); !ok || v != 20 {
		t.Fatalf("unfiltered: %s", asJSON(t, all.Period.Total))
	}
	for _, q := range []string{"&nationality=IT", "&nationality=IT&by=hour", "&nationality=IT&by=age", "&age=25-34&nationality=IT", "&hours=10&nationality=IT"} {
		rep := e.report(t, window+q)
		if !rep.Period.Total.Suppressed {
			t.Errorf("%s: total published: %s", q, asJSON(t, rep.Period.Total))
		}
		for _, r := range rep.Period.Rows {
			if !r.Suppressed {
				t.Errorf("%s: row %s published: %s", q, r.Key, asJSON(t, r))
			}
		}
	}
	// The 2 Germans are never shown, filtered or not.
	if rep := e.report(t, window+"&nationality=DE"); !rep.Period.Total.Suppressed {
		t.Errorf("2 Germans published: %s", asJSON(t, rep.Period.Total))
	}
	// A filter that removes nobody is no risk: published.
	if rep := e.report(t, window+"&age=25-34"); rep.Period.Total.Suppressed {
		t.Errorf("age=25-34 removes nobody and must be published")
	}
	// 16 more Germans: the filter now removes 18 people, the figure shows.
	e = newEnv(t, 15, records(t, append(people, crowd("dx", 16, "DE", "2025-03-04 10:00")...), sourcetest.Centre))
	if rep := e.report(t, window+"&nationality=IT"); rep.Period.Total.Suppressed {
		t.Errorf("IT with 18 others removed must be published: %s", asJSON(t, rep.Period.Total))
	}
}

func TestComparisonPeriodsDifferingByAFewPeople(t *testing.T) {
	// Monday 16 people, Tuesday 14: Tuesday is withheld, and so is the
	// change, which would otherwise be a number about 2 people.
	people := append(crowd("mon", 16, "IT", "2025-03-03 10:00"), crowd("tue", 14, "IT", "2025-03-04 10:00")...)
	e := newEnv(t, 15, records(t, people, sourcetest.Centre))
	rep := e.report(t, "zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03&by=hour")
	if !rep.Period.Total.Suppressed || rep.Comparison.Total.Suppressed {
		t.Fatalf("Tuesday must be withheld, Monday shown: %s / %s", asJSON(t, rep.Period.Total), asJSON(t, rep.Comparison.Total))
	}
	if !rep.Change.Total.Suppressed || len(rep.Change.Rows) != 1 || !rep.Change.Rows[0].Suppressed {
		t.Errorf("change must be withheld: %s", asJSON(t, rep.Change))
	}
	// Nested periods (Monday vs Monday-Tuesday) would isolate Tuesday's
	// people by difference: refused.
	if _, err := e.try("zone=centro&from=2025-03-03&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03"); err == nil {
		t.Errorf("overlapping comparison accepted")
	}
	// Both published: the change is a difference of two groups of k or more.
	people = append(people, crowd("tux", 3, "IT", "2025-03-04 11:00")...)
	e = newEnv(t, 15, records(t, people, sourcetest.Centre))
	rep = e.report(t, "zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03")
	if a, _, _, ok := rep.Change.Total.Visitors.Values(); !ok || a != 1 {
		t.Errorf("change 17-16: %s", asJSON(t, rep.Change.Total))
	}
}

func TestTinyGroups(t *testing.T) {
	// 14 people: nothing at all is published at k = 15, by any grouping.
	e := newEnv(t, 15, records(t, crowd("p", 14, "DE", "2025-03-03 10:00"), sourcetest.Centre))
	for _, by := range append([]string{""}, ByNames...) {
		rep := e.report(t, window+"&by="+by)
		if s := asJSON(t, rep.Period); strings.Contains(s, `"value"`) {
			t.Errorf("by %q publishes a number about 14 people: %s", by, s)
		}
	}
}

// refRow is the brute-force count behind one row of a report.
type refRow struct {
	count          int64
	people, rest   int64          // distinct visitor ids + anonymous weights
	visitors       map[int64]bool // visitor hashes of matching records
	restVisitors   map[int64]bool // of records the narrowing filters remove
	anon, restAnon int64
	visits         int64
	visitDays      map[int64]map[int64]bool // visitor -> days with a visit
	bandVisitors   [3]map[int64]bool
}

func newRefRow() *refRow {
	r := &refRow{visitors: map[int64]bool{}, restVisitors: map[int64]bool{}, visitDays: map[int64]map[int64]bool{}}
	for i := range r.bandVisitors {
		r.bandVisitors[i] = map[int64]bool{}
	}
	return r
}

// recordKey is the row key of a record in a dimension, computed the slow
// way from the record.
func recordKey(by string, r *presence.Record, loc *time.Location, cat *refdata.Catalog) string {
	lt := r.ObservedAt.In(loc)
	d := dimensions[by]
	var k int64
	switch by {
	case "hour":
		k = int64(lt.Hour())
	case "dow":
		k = int64(lt.Weekday())
	case "date":
		y, m, dd := lt.Date()
		k = time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400
	case "age":
		k = int64(r.Age)
	case "gender":
		k = int64(r.Gender)
	case "spend":
		k = int64(r.Spend)
	case "nationality":
		k = int64(tiles.CountryIndex(r.Nationality))
	case "origin", "province", "region":
		if m, ok := cat.Municipality(r.Origin); ok {
			code := map[string]string{"origin": m.Code, "province": m.ProvinceCode, "region": m.RegionCode}[by]
			k, _ = strconv.ParseInt(code, 10, 64)
		}
	}
	return d.key(k)
}

// reference counts, by row key ("total" for the whole), the records of a
// request the slow way. A municipality's records are those of muni: the
// rectangle the service selects for it (see boundaryRect; TestSelection*
// check how it is chosen).
func reference(recs []presence.Record, zones []tiles.Place, muni tiles.Rect, req Request, w Window, loc *time.Location) map[string]*refRow {
	cat := refdata.Italy()
	f := req.Filter
	rows := map[string]*refRow{}
	get := func(k string) *refRow {
		if rows[k] == nil {
			rows[k] = newRefRow()
		}
		return rows[k]
	}
	type visit struct {
		first, last presence.Record
	}
	visits := map[[2]int64]*visit{}
	for i := range recs {
		r := &recs[i]
		t := r.ObservedAt
		if !w.From.IsZero() && t.Before(w.From) || !w.To.IsZero() && !t.Before(w.To) {
			continue
		}
		pt := orb.Point{r.Lon, r.Lat}
		switch req.Area.Kind {
		case AreaZone:
			if tiles.ZoneMask(zones, pt)&f.Zones == 0 {
				continue
			}
		case AreaBBox:
			if !req.Area.Rect.Contains(tiles.Project(r.Lon, r.Lat)) {
				continue
			}
		case AreaMunicipality:
			if !muni.Contains(tiles.Project(pt[0], pt[1])) {
				continue
			}
		}
		lt := t.In(loc)
		match := (f.Hours == 0 || f.Hours&(1<<lt.Hour()) != 0) &&
			(f.Days == 0 || f.Days&(1<<lt.Weekday()) != 0) &&
			f.MatchAttrs(tiles.PackAttrs(r.Age, r.Gender, r.Spend)) &&
			(len(f.Nationalities) == 0 || slices.Contains(f.Nationalities, r.Nationality)) &&
			(len(f.Origins) == 0 || slices.Contains(f.Origins, r.Origin))
		keys := []string{"total"}
		switch req.By {
		case "":
		case "zone": // a record is in the row of every zone it lies in
			mask := tiles.ZoneMask(zones, pt)
			if mask == 0 {
				keys = append(keys, "zone:"+unknownKey)
			}
			for z := 0; z < tiles.MaxZones; z++ {
				if mask&(1<<z) != 0 {
					keys = append(keys, "zone:"+strconv.Itoa(z))
				}
			}
		default:
			keys = append(keys, req.By+":"+recordKey(req.By, r, loc, cat))
		}
		for _, k := range keys {
			row := get(k)
			vis, anon := row.visitors, &row.anon
			if !match {
				vis, anon = row.restVisitors, &row.restAnon
			} else {
				row.count += int64(r.Weight)
			}
			if r.Visitor == 0 {
				*anon += int64(r.Weight)
			} else {
				vis[r.Visitor] = true
			}
		}
		if !match || r.Visitor == 0 {
			continue
		}
		y, m, d := lt.Date()
		vk := [2]int64{r.Visitor, time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400}
		v := visits[vk]
		if v == nil {
			visits[vk] = &visit{*r, *r}
			continue
		}
		if t.Before(v.first.ObservedAt) || t.Equal(v.first.ObservedAt) && firstLess(r, &v.first) {
			v.first = *r
		}
		if t.After(v.last.ObservedAt) {
			v.last = *r
		}
	}
	for vk, v := range visits {
		keys := []string{"total"}
		if d, ok := dimensions[req.By]; ok && d.visits {
			keys = append(keys, req.By+":"+recordKey(req.By, &v.first, loc, cat))
		}
		dwell := v.last.ObservedAt.Sub(v.first.ObservedAt)
		b := band(int64(dwell / time.Second))
		for _, k := range keys {
			row := get(k)
			row.visits++
			if row.visitDays[vk[0]] == nil {
				row.visitDays[vk[0]] = map[int64]bool{}
			}
			row.visitDays[vk[0]][vk[1]] = true
			row.bandVisitors[b][vk[0]] = true
		}
	}
	for _, row := range rows {
		row.people = int64(len(row.visitors)) + row.anon
		row.rest = int64(len(row.restVisitors)) + row.restAnon
	}
	return rows
}

func firstLess(a, b *presence.Record) bool {
	return tiles.FirstRecordLess(
		tiles.Visit{Origin: a.Origin, Nationality: a.Nationality, Age: a.Age, Gender: a.Gender, Spend: a.Spend},
		tiles.Visit{Origin: b.Origin, Nationality: b.Nationality, Age: b.Age, Gender: b.Gender, Spend: b.Spend})
}

// checkPeriod checks every published figure of p against the brute-force
// rows: at least k people behind it, and 0 or at least k removed by the
// narrowing filters; and checks the published values themselves.
func checkPeriod(t *testing.T, what string, p *Period, ref map[string]*refRow, by string, k int64, narrowed bool) {
	t.Helper()
	check := func(key string, row *Row) {
		t.Helper()
		if row.Suppressed {
			return
		}
		r := ref[key]
		if r == nil {
			t.Errorf("%s: row %s published but nobody is in it", what, key)
			return
		}
		people, rest := r.people, r.rest
		if people < k || narrowed && rest > 0 && rest < k {
			t.Errorf("%s: row %s published about %d people (%d removed by filters), k=%d: %s", what, key, people, rest, k, asJSON(t, row))
		}
		if v, _ := row.Presences.Value(); int64(v) != r.count {
			t.Errorf("%s: row %s presences %v, want %d", what, key, v, r.count)
		}
		if v, _ := row.Visitors.Value(); int64(v) != people {
			t.Errorf("%s: row %s visitors %v, want %d", what, key, v, people)
		}
		visitors := int64(len(r.visitDays))
		restVisitors := int64(len(r.restVisitors))
		if v, ok := row.Visits.Value(); ok {
			if int64(v) != r.visits {
				t.Errorf("%s: row %s visits %v, want %d", what, key, v, r.visits)
			}
			if v > 0 && visitors < k || narrowed && restVisitors > 0 && restVisitors < k {
				t.Errorf("%s: row %s visits published about %d visitors (%d removed), k=%d", what, key, visitors, restVisitors, k)
			}
		}
		if _, ok := row.DwellMedian.Value(); ok && (visitors < k || r.visits < k) {
			t.Errorf("%s: row %s median over %d visitors, %d visits", what, key, visitors, r.visits)
		}
		if _, ok := row.DwellUnder30.Value(); ok {
			for b, vs := range r.bandVisitors {
				if n := int64(len(vs)); n > 0 && n < k {
					t.Errorf("%s: row %s dwell shares published with band %d of %d visitors", what, key, b, n)
				}
			}
		}
		if v, ok := row.Repeat.Value(); ok {
			var repeat int64
			for _, days := range r.visitDays {
				if len(days) >= 2 {
					repeat++
				}
			}
			if int64(v) != repeat {
				t.Errorf("%s: row %s repeat visitors %v, want %d", what, key, v, repeat)
			}
			if once := visitors - repeat; repeat > 0 && repeat < k || once > 0 && once < k {
				t.Errorf("%s: row %s repeat visitors published: %d repeat, %d once", what, key, repeat, once)
			}
		}
	}
	check("total", &p.Total)
	for i := range p.Rows {
		check(by+":"+p.Rows[i].Key, &p.Rows[i])
	}
	for _, list := range [][]Row{p.TopOrigins, p.TopCountries} {
		for _, row := range list {
			if row.Suppressed {
				t.Errorf("%s: a withheld place is ranked: %s", what, row.Key)
			}
		}
	}
}

// randomQuery builds a stats request with random area, window, filters,
// grouping and comparison.
func randomQuery(rng *rand.Rand) string {
	c := sourcetest.Centre
	q := url.Values{}
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	switch rng.IntN(4) {
	case 0:
		q.Set("zone", "centro")
	case 1:
		q.Set("zone", "piazza")
	case 2:
		dx, dy := 0.0003+rng.Float64()*0.004, 0.0003+rng.Float64()*0.003
		x, y := c[0]+rng.NormFloat64()*0.001, c[1]+rng.NormFloat64()*0.001
		q.Set("bbox", fmt.Sprintf("%.6f,%.6f,%.6f,%.6f", x-dx, y-dy, x+dx, y+dy))
	default:
		q.Set("municipality", pick("054017", "054053"))
	}
	from := sourcetest.Start.AddDate(0, 0, 5+rng.IntN(50))
	to := from.AddDate(0, 0, 1+rng.IntN(10))
	if rng.IntN(5) != 0 {
		q.Set("from", from.Format(time.DateOnly))
		q.Set("to", to.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	if rng.IntN(3) == 0 {
		h := rng.IntN(20)
		q.Set("hours", fmt.Sprintf("%d-%d", h, h+1+rng.IntN(4)))
	}
	if rng.IntN(4) == 0 {
		q.Set("days", pick("mon", "sat,sun", "tue,wed,thu"))
	}
	if rng.IntN(3) == 0 {
		q.Set("age", pick("18-24", "25-34,35-44", "65+"))
	}
	if rng.IntN(4) == 0 {
		q.Set("gender", pick("f", "m", "x"))
	}
	if rng.IntN(4) == 0 {
		q.Set("nationality", pick("IT", "DE", "FR,US"))
	}
	if rng.IntN(4) == 0 {
		q.Set("origin", pick("054039", "054", "10", "058091"))
	}
	if rng.IntN(5) == 0 {
		q.Set("spend", pick("low", "high"))
	}
	if rng.IntN(4) != 0 {
		q.Set("by", ByNames[rng.IntN(len(ByNames))])
	}
	if q.Has("from") && rng.IntN(3) == 0 {
		// whole calendar days: a window over the switch to summer time
		// is 23 hours long
		days := int(math.Round(to.Sub(from).Hours()/24)) + rng.IntN(3)
		cf := from.AddDate(0, 0, -days-rng.IntN(5))
		q.Set("compare_from", cf.Format(time.DateOnly))
		q.Set("compare_to", cf.AddDate(0, 0, days-1).Format(time.DateOnly))
	}
	return q.Encode()
}

func TestNoFigureBelowK(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	recs := sourcetest.Records(seed, 20000)
	k := int64(5 + rng.IntN(15))
	// Two municipalities: 054017 holds every record; the boundary of
	// 054053, a diamond, cuts through them: most windows cannot be
	// answered, the others must count exactly its records.
	c := sourcetest.Centre
	munis := map[string]orb.MultiPolygon{
		"054017": square(c, 0.02, 0.02),
		"054053": {{{{c[0] - 0.004, c[1]}, {c[0], c[1] - 0.003}, {c[0] + 0.004, c[1]}, {c[0], c[1] + 0.003}, {c[0] - 0.004, c[1]}}}},
	}
	torgiano := municipality(munis["054053"])
	torgiano.Code, torgiano.Key, torgiano.Name = "054053", 54053, "Torgiano"
	e := newEnv(t, k, recs, municipality(munis["054017"]), torgiano)
	published, refused := 0, 0
	for range 120 {
		query := randomQuery(rng)
		rep, err := e.try(query)
		var fe *tiles.FilterError
		if errors.As(err, &fe) && fe.Param == "municipality" {
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		qv, _ := url.ParseQuery(query)
		req, _ := ParseRequest(qv, sourcetest.Rome, e.res)
		narrowed := req.Filter.Narrowed()
		muni := func(w Window) tiles.Rect {
			if req.Area.Kind != AreaMunicipality {
				return tiles.Rect{}
			}
			p, _ := e.places.ByCode(tiles.LevelMunicipality, req.Area.Code)
			sel, err := e.svc.selectRecords(context.Background(), &area{muni: p}, w)
			if err != nil {
				t.Fatal(err)
			}
			return sel.rect
		}
		ref := reference(recs, e.zones, muni(Window{req.Filter.From, req.Filter.To}), req, Window{req.Filter.From, req.Filter.To}, sourcetest.Rome)
		checkPeriod(t, query, &rep.Period, ref, req.By, k, narrowed)
		if !rep.Period.Total.Suppressed {
			published++
		}
		if req.Compare != nil {
			ref := reference(recs, e.zones, muni(*req.Compare), req, *req.Compare, sourcetest.Rome)
			checkPeriod(t, query+" (comparison)", rep.Comparison, ref, req.By, k, narrowed)
			for i, ind := range indicators[Delta]() {
				d := ind.get(&rep.Change.Total)
				cur, cmpr := indicators[tiles.Figure]()[i].get(&rep.Period.Total), indicators[tiles.Figure]()[i].get(&rep.Comparison.Total)
				if _, _, _, ok := d.Values(); ok && (cur.Suppressed() || cmpr.Suppressed()) {
					t.Errorf("%s: change of %s given with a side withheld", query, ind.name)
				}
			}
		}
	}
	t.Logf("k=%d: %d reports with a published total, %d municipality requests refused", k, published, refused)
	if published < 20 {
		t.Errorf("only %d reports published anything: the test proves little", published)
	}
}
