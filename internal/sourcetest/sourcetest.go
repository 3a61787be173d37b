// Package sourcetest is the conformance suite of tiles.Source: random
// records, a brute-force reference aggregation, and a check that a source
// returns exactly the reference groups for a battery of queries. The
// in-memory and the PostGIS store both run it, which is what makes their
// tiles identical.
package sourcetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// Seed returns the seed of a reproducible random test: FLOWTILES_SEED when
// set, else a fresh one, logged on failure so the run can be replayed.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("FLOWTILES_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FLOWTILES_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with FLOWTILES_SEED=%d", seed)
		}
	})
	return seed
}

// Privacy returns the disclosure rules with threshold k and the default
// perturbation, keyed by a fixed test secret: every store and engine built
// with it publishes the same figures for the same records.
func Privacy(t testing.TB, k int64) tiles.Privacy {
	t.Helper()
	p, err := tiles.NewPrivacy(k, []byte("sourcetest: a fixed secret, 32 B"), tiles.DefaultNoiseD, tiles.DefaultNoiseGrowth)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Rome is the time zone of the test town.
var Rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	return l
}()

// Centre is the middle of Deruta's historic centre.
var Centre = orb.Point{12.4177, 42.9826}

// Zones returns two overlapping square zones around Centre: "centro"
// (index 0) and "piazza" (index 1, inside the east half of centro and
// beyond it).
func Zones() []tiles.Place {
	sq := func(x0, y0, x1, y1 float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
	}
	c := Centre
	return []tiles.Place{
		{Level: tiles.LevelZone, Code: "centro", Key: 0, Name: "centro", Shape: sq(c[0]-0.002, c[1]-0.0015, c[0]+0.002, c[1]+0.0015), Point: c},
		{Level: tiles.LevelZone, Code: "piazza", Key: 1, Name: "piazza", Shape: sq(c[0]+0.001, c[1]-0.0005, c[0]+0.003, c[1]+0.0005), Point: orb.Point{c[0] + 0.002, c[1]}},
	}
}

// Start is the beginning of the records' time span: two months across the
// spring daylight-saving change.
var Start = time.Date(2025, 3, 1, 0, 0, 0, 0, Rome)

// Records returns n random records around Centre: a small visitor pool (so
// distinct counts differ from sums), anonymous counts with weight > 1,
// every attribute sometimes missing, and some records placed exactly on
// tile and bin edges.
func Records(seed uint64, n int) []presence.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	cat := refdata.Italy()
	origins := []string{"054017", "054039", "054052", "054001", "058091", "001272", "054053"}
	nats := []tiles.Country{tiles.Italy, tiles.Italy, tiles.Italy, {'D', 'E'}, {'F', 'R'}, {'U', 'S'}}
	span := 61 * 24 * 3600
	recs := make([]presence.Record, 0, n)
	for i := 0; i < n; i++ {
		r := presence.Record{
			ObservedAt: Start.Add(time.Duration(rng.IntN(span)) * time.Second),
			Lon:        Centre[0] + rng.NormFloat64()*0.0015,
			Lat:        Centre[1] + rng.NormFloat64()*0.001,
			Weight:     1,
		}
		if i%50 == 7 { // on a z17 tile corner and thus on lattice lines
			t := tiles.TileAt(17, tiles.Project(r.Lon, r.Lat))
			rect := t.Rect()
			r.Lon, r.Lat = tiles.Unproject(float64(rect.MinX), float64(rect.MinY))
		}
		if rng.IntN(10) == 0 {
			r.Weight = uint32(2 + rng.IntN(20)) // pre-aggregated count
		} else {
			r.Visitor = presence.VisitorHash(fmt.Sprintf("v%d", rng.IntN(max(n/8, 3))))
		}
		if rng.IntN(8) != 0 {
			r.Age = tiles.AgeBands[rng.IntN(len(tiles.AgeBands))]
		}
		if rng.IntN(8) != 0 {
			r.Gender = tiles.Genders[rng.IntN(len(tiles.Genders))]
		}
		if rng.IntN(8) != 0 {
			r.Spend = tiles.Spends[rng.IntN(len(tiles.Spends))]
		}
		if rng.IntN(8) != 0 {
			r.Nationality = nats[rng.IntN(len(nats))]
		}
		if r.Nationality == tiles.Italy && rng.IntN(6) != 0 {
			r.Origin = origins[rng.IntN(len(origins))]
		}
		if !cat.Known(r.Origin) && r.Origin != "" {
			panic("unknown origin " + r.Origin)
		}
		// Round-trip through the projection as a loader would: stores keep
		// world coordinates and whole seconds.
		recs = append(recs, r)
	}
	return recs
}

// Queries returns the battery of queries the suite checks.
func Queries(records []presence.Record) []tiles.Query {
	var base tiles.Filter
	centreTile := tiles.TileAt(15, tiles.Project(Centre[0], Centre[1]))
	var qs []tiles.Query
	add := func(by []tiles.Dim, f tiles.Filter, area tiles.Rect, g tiles.Grid, rest bool) {
		qs = append(qs, tiles.Query{Filter: f, Area: area, By: by, Grid: g, Loc: Rome, WithRest: rest})
	}
	win := base
	win.From = Start.AddDate(0, 0, 20).UTC()
	win.To = Start.AddDate(0, 0, 45).UTC()
	narrow := win
	narrow.Ages = 1<<tiles.Age35to44 | 1<<tiles.Age45to54
	narrow.Hours = 0xff00 // 8-15
	narrow.Nationalities = []tiles.Country{tiles.Italy}
	zoned := base
	zoned.Zone, zoned.Zones = "piazza", tiles.ZoneBit(1)
	origins := base
	origins.Origins = []string{"054017", "054039"}
	origins.Days = 1<<time.Saturday | 1<<time.Sunday
	origins.Genders = 1 << tiles.GenderF
	origins.Spends = 1<<tiles.SpendHigh | 1<<tiles.SpendLow

	for _, z := range []uint8{12, 15, 17, 18} {
		for _, shape := range []tiles.Shape{tiles.Hexagon, tiles.Square} {
			t := tiles.TileAt(z, tiles.Project(Centre[0], Centre[1]))
			g := tiles.NewGrid(shape, z)
			dx, dy := g.Reach()
			area := t.Rect().Expand(2*dx, 2*dy)
			add([]tiles.Dim{tiles.DimBin}, base, area, g, false)
			add([]tiles.Dim{tiles.DimBin}, narrow, area, g, true)
		}
	}
	all := []tiles.Dim{tiles.DimZone, tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimNationality,
		tiles.DimHour, tiles.DimWeekday, tiles.DimDate, tiles.DimAge, tiles.DimGender, tiles.DimSpend}
	for _, d := range all {
		add([]tiles.Dim{d}, base, tiles.Rect{}, tiles.Grid{}, false)
		add([]tiles.Dim{d}, narrow, tiles.Rect{}, tiles.Grid{}, true)
		add([]tiles.Dim{d}, zoned, centreTile.Rect(), tiles.Grid{}, false)
		add([]tiles.Dim{d}, zoned, centreTile.Rect(), tiles.Grid{}, true)
		add([]tiles.Dim{d}, origins, tiles.Rect{}, tiles.Grid{}, true)
	}
	add(nil, base, tiles.Rect{}, tiles.Grid{}, false)
	add(nil, narrow, centreTile.Rect(), tiles.Grid{}, true)
	add([]tiles.Dim{tiles.DimMunicipality, tiles.DimZone}, base, tiles.Rect{}, tiles.Grid{}, false)
	add([]tiles.Dim{tiles.DimNationality, tiles.DimZone}, narrow, tiles.Rect{}, tiles.Grid{}, true)
	add([]tiles.Dim{tiles.DimZone, tiles.DimHour}, origins, tiles.Rect{}, tiles.Grid{}, true)
	// a zone as the area (stats about a zone), with and without narrowing
	inZone := func(by []tiles.Dim, f tiles.Filter, rest bool) {
		qs = append(qs, tiles.Query{Filter: f, AreaZones: tiles.ZoneBit(0), By: by, Loc: Rome, WithRest: rest})
	}
	inZone(nil, base, false)
	inZone([]tiles.Dim{tiles.DimHour}, narrow, true)
	inZone([]tiles.Dim{tiles.DimZone}, zoned, true)
	return qs
}

// Reference aggregates records the slow, obvious way.
func Reference(records []presence.Record, zones []tiles.Place, q tiles.Query) []tiles.Group {
	cat := refdata.Italy()
	f := q.Filter
	type acc struct {
		m, rest      tiles.Measures
		vis, restVis map[int64]bool
	}
	zoneOK := func(mask, want uint16) bool { return want == 0 || mask&want != 0 }
	groups := map[[2]int64]*acc{}
	for i := range records {
		r := &records[i]
		t := r.ObservedAt.Truncate(time.Second)
		if !f.From.IsZero() && t.Before(f.From) || !f.To.IsZero() && !t.Before(f.To) {
			continue
		}
		w := tiles.Project(r.Lon, r.Lat)
		if q.Area != (tiles.Rect{}) && !q.Area.Contains(w) {
			continue
		}
		mask := tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})
		if !zoneOK(mask, q.AreaZones) {
			continue
		}
		lt := t.In(q.Loc)
		match := zoneOK(mask, f.Zones) && (f.Hours == 0 || f.Hours&(1<<lt.Hour()) != 0) &&
			(f.Days == 0 || f.Days&(1<<lt.Weekday()) != 0) &&
			f.MatchAttrs(tiles.PackAttrs(r.Age, r.Gender, r.Spend)) &&
			(len(f.Nationalities) == 0 || slices.Contains(f.Nationalities, r.Nationality)) &&
			(len(f.Origins) == 0 || slices.Contains(f.Origins, r.Origin))
		if !match && !q.WithRest {
			continue
		}
		var keys [][2]int64
		keys = append(keys, [2]int64{})
		for di, d := range q.By {
			var vals []int64
			switch d {
			case tiles.DimBin:
				vals = []int64{int64(q.Grid.ID(q.Grid.BinOf(w)))}
			case tiles.DimZone:
				for z := 0; z < tiles.MaxZones; z++ {
					if mask&(1<<z) != 0 {
						vals = append(vals, int64(z))
					}
				}
				if len(vals) == 0 {
					vals = []int64{-1}
				}
			case tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion:
				var v int64
				if m, ok := cat.Municipality(r.Origin); ok {
					code := map[tiles.Dim]string{tiles.DimMunicipality: m.Code, tiles.DimProvince: m.ProvinceCode, tiles.DimRegion: m.RegionCode}[d]
					v, _ = strconv.ParseInt(code, 10, 64)
				}
				vals = []int64{v}
			case tiles.DimNationality:
				vals = []int64{int64(tiles.CountryIndex(r.Nationality))}
			case tiles.DimHour:
				vals = []int64{int64(lt.Hour())}
			case tiles.DimWeekday:
				vals = []int64{int64(lt.Weekday())}
			case tiles.DimDate:
				y, m, dd := lt.Date()
				vals = []int64{time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400}
			case tiles.DimAge:
				vals = []int64{int64(r.Age)}
			case tiles.DimGender:
				vals = []int64{int64(r.Gender)}
			case tiles.DimSpend:
				vals = []int64{int64(r.Spend)}
			}
			var next [][2]int64
			for _, k := range keys {
				for _, v := range vals {
					k[di] = v
					next = append(next, k)
				}
			}
			keys = next
		}
		for _, k := range keys {
			a := groups[k]
			if a == nil {
				a = &acc{vis: map[int64]bool{}, restVis: map[int64]bool{}}
				groups[k] = a
			}
			m, vis := &a.m, a.vis
			if !match {
				m, vis = &a.rest, a.restVis
			}
			key := tiles.RecordKey(t.Unix(), w, r.Weight, r.Visitor)
			m.Count += int64(r.Weight)
			m.CountKey += key
			if r.Visitor == 0 {
				m.Anonymous += int64(r.Weight)
				m.PeopleKey += key
			} else if !vis[r.Visitor] {
				vis[r.Visitor] = true
				m.Visitors++
				m.PeopleKey += tiles.VisitorKey(r.Visitor)
			}
		}
	}
	var out []tiles.Group
	for k, a := range groups {
		if a.m.Count == 0 {
			continue
		}
		g := tiles.Group{Key: k, Measures: a.m}
		if q.WithRest {
			g.Rest = a.rest
		}
		out = append(out, g)
	}
	Sort(out)
	return out
}

// Sort orders groups by key.
func Sort(gs []tiles.Group) {
	slices.SortFunc(gs, func(a, b tiles.Group) int {
		if a.Key[0] != b.Key[0] {
			return cmpInt(a.Key[0], b.Key[0])
		}
		return cmpInt(a.Key[1], b.Key[1])
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Collect runs q on src and returns its groups sorted by key.
func Collect(ctx context.Context, src tiles.Source, q tiles.Query) ([]tiles.Group, error) {
	var out []tiles.Group
	err := src.Aggregate(ctx, q, func(g tiles.Group) error {
		out = append(out, g)
		return nil
	})
	Sort(out)
	return out, err
}

// Name is a short readable name of a query, for sub-tests.
func Name(i int, q tiles.Query) string {
	var by []string
	for _, d := range q.By {
		by = append(by, strconv.Itoa(int(d)))
	}
	f := q.Filter.Values()
	f.Del("from")
	f.Del("to")
	name := fmt.Sprintf("%02d by=%s", i, strings.Join(by, "+"))
	if len(f) > 0 {
		name += " " + f.Encode()
	}
	if q.Area != (tiles.Rect{}) {
		name += " area"
	}
	if q.AreaZones != 0 {
		name += " in-zone"
	}
	if q.WithRest {
		name += " rest"
	}
	return name
}

// Check runs every query of Queries on src, loaded with records and zones,
// as a named sub-test each, and compares the groups with Reference. The
// in-memory and the PostGIS store run the same body (a conformance suite).
func Check(t *testing.T, src tiles.Source, records []presence.Record, zones []tiles.Place) {
	t.Helper()
	ctx := context.Background()
	for i, q := range Queries(records) {
		t.Run(Name(i, q), func(t *testing.T) { checkQuery(t, ctx, src, records, zones, q) })
	}
}

func checkQuery(t *testing.T, ctx context.Context, src tiles.Source, records []presence.Record, zones []tiles.Place, q tiles.Query) {
	want := Reference(records, zones, q)
	got, err := Collect(ctx, src, q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%d groups, want %d", len(got), len(want))
		LogFirstDiff(t, got, want)
	}
}

// ReferenceVisits lists the visits the slow, obvious way, with Visitor set
// to 0 (sources number visitors their own way) and sorted.
func ReferenceVisits(records []presence.Record, zones []tiles.Place, q tiles.Query) []tiles.Visit {
	q.By, q.WithRest = nil, false
	type key struct {
		v   int64
		day int64
	}
	visits := map[key]*tiles.Visit{}
	f := q.Filter
	for i := range records {
		r := &records[i]
		if r.Visitor == 0 {
			continue
		}
		t := r.ObservedAt
		if !f.From.IsZero() && t.Before(f.From) || !f.To.IsZero() && !t.Before(f.To) {
			continue
		}
		w := tiles.Project(r.Lon, r.Lat)
		if q.Area != (tiles.Rect{}) && !q.Area.Contains(w) {
			continue
		}
		mask := tiles.ZoneMask(zones, orb.Point{r.Lon, r.Lat})
		if q.AreaZones != 0 && mask&q.AreaZones == 0 || f.Zones != 0 && mask&f.Zones == 0 {
			continue
		}
		lt := t.In(q.Loc)
		if !((f.Hours == 0 || f.Hours&(1<<lt.Hour()) != 0) &&
			(f.Days == 0 || f.Days&(1<<lt.Weekday()) != 0) &&
			f.MatchAttrs(tiles.PackAttrs(r.Age, r.Gender, r.Spend)) &&
			(len(f.Nationalities) == 0 || slices.Contains(f.Nationalities, r.Nationality)) &&
			(len(f.Origins) == 0 || slices.Contains(f.Origins, r.Origin))) {
			continue
		}
		y, m, d := lt.Date()
		k := key{r.Visitor, time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400}
		c := tiles.Visit{Key: tiles.VisitorKey(r.Visitor), Day: k.day, First: t.Unix(), Last: t.Unix(), Presences: int64(r.Weight),
			Age: r.Age, Gender: r.Gender, Spend: r.Spend, Nationality: r.Nationality, Origin: r.Origin}
		v := visits[k]
		if v == nil {
			visits[k] = &c
			continue
		}
		v.Presences += c.Presences
		v.Last = max(v.Last, c.Last)
		if c.First < v.First || c.First == v.First && tiles.FirstRecordLess(c, *v) {
			c.Presences, c.Last = v.Presences, v.Last
			*v = c
		}
	}
	out := make([]tiles.Visit, 0, len(visits))
	for _, v := range visits {
		out = append(out, *v)
	}
	SortVisits(out)
	return out
}

// SortVisits orders visits by every field but Visitor (the visitor key
// last: two visitors may have visits alike in everything else).
func SortVisits(vs []tiles.Visit) {
	slices.SortFunc(vs, func(a, b tiles.Visit) int {
		for _, c := range []int{cmpInt(a.Day, b.Day), cmpInt(a.First, b.First), cmpInt(a.Last, b.Last), cmpInt(a.Presences, b.Presences)} {
			if c != 0 {
				return c
			}
		}
		switch {
		case tiles.FirstRecordLess(a, b):
			return -1
		case tiles.FirstRecordLess(b, a):
			return 1
		}
		// two visitors' visits alike in all else: by their keys
		return cmpInt(int64(a.Key), int64(b.Key))
	})
}

// CheckVisits compares src's visits with ReferenceVisits for the queries
// of Queries that group by nothing or by one dimension, a sub-test each.
func CheckVisits(t *testing.T, src tiles.VisitSource, records []presence.Record, zones []tiles.Place) {
	t.Helper()
	ctx := context.Background()
	for i, q := range Queries(records) {
		if len(q.By) > 1 || len(q.By) == 1 && q.By[0] != tiles.DimHour {
			continue // visits ignore By: one query per filter and area is enough
		}
		t.Run(Name(i, q), func(t *testing.T) { checkVisits(t, ctx, src, records, zones, q) })
	}
}

func checkVisits(t *testing.T, ctx context.Context, src tiles.VisitSource, records []presence.Record, zones []tiles.Place, q tiles.Query) {
	want := ReferenceVisits(records, zones, q)
	var got []tiles.Visit
	if err := src.Visits(ctx, q, func(v tiles.Visit) error {
		v.Visitor = 0
		got = append(got, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	SortVisits(got)
	if !slices.Equal(got, want) {
		t.Errorf("%d visits, want %d", len(got), len(want))
		for j := 0; j < min(len(got), len(want)); j++ {
			if got[j] != want[j] {
				t.Logf("  #%d got %+v\n      want %+v", j, got[j], want[j])
				break
			}
		}
	}
}

// LogFirstDiff logs the first group where got and want differ.
func LogFirstDiff(t testing.TB, got, want []tiles.Group) {
	t.Helper()
	for j := range max(len(got), len(want)) {
		var g, w tiles.Group
		if j < len(got) {
			g = got[j]
		}
		if j < len(want) {
			w = want[j]
		}
		if g != w {
			t.Logf("  #%d got %+v\n      want %+v", j, g, w)
			return
		}
	}
}

// SplitTowns spreads records over two towns (Record.Town 0 and 1: one
// record in three to town 1), so that visitors, places and hours have
// records in both: a source of one town that counts another's records gets
// groups wrong. It returns the records with their towns, and each town's.
func SplitTowns(records []presence.Record) (all []presence.Record, byTown map[int16][]presence.Record) {
	all = slices.Clone(records)
	byTown = map[int16][]presence.Record{}
	for i := range all {
		all[i].Town = 0
		if i%3 == 1 {
			all[i].Town = 1
		}
		byTown[all[i].Town] = append(byTown[all[i].Town], all[i])
	}
	return all, byTown
}

// CheckTowns runs Check, and CheckVisits where the source lists visits
// (CheckVisitGroups where it groups them too), on
// each town's source of srcs: each must answer with exactly its town's
// records of byTown, a sub-test per town.
func CheckTowns(t *testing.T, srcs map[int16]tiles.Source, byTown map[int16][]presence.Record, zones []tiles.Place) {
	t.Helper()
	towns := make([]int16, 0, len(srcs))
	for town := range srcs {
		towns = append(towns, town)
	}
	slices.Sort(towns)
	for _, town := range towns {
		src, records := srcs[town], byTown[town]
		t.Run(fmt.Sprintf("town %d", town), func(t *testing.T) {
			if len(records) == 0 {
				t.Fatalf("town %d has no records: nothing to check", town)
			}
			Check(t, src, records, zones)
			if vs, ok := src.(tiles.VisitSource); ok {
				CheckVisits(t, vs, records, zones)
			}
			if vg, ok := src.(VisitGrouping); ok {
				t.Run("visit groups", func(t *testing.T) { CheckVisitGroups(t, vg, records) })
			}
		})
	}
}
