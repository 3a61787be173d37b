package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// collapsing returns n random records whose visitors stay a while: runs of
// records of one visitor within an hour, mostly with the same attributes
// (so that rollups collapse them), around sourcetest.Centre and its zones,
// over three weeks across the spring daylight-saving change; with
// anonymous counts, some of a weight too large for a rollup entry.
func collapsing(seed uint64, n int) []presence.Record {
	rng := rand.New(rand.NewPCG(seed, 14))
	origins := []string{"054017", "054039", "054052", "", "001272"}
	nats := []tiles.Country{tiles.Italy, tiles.Italy, {'D', 'E'}, {}}
	start := time.Date(2025, 3, 20, 0, 0, 0, 0, sourcetest.Rome)
	span := 21 * 24 * 3600
	pool := max(n/30, 5)
	recs := make([]presence.Record, 0, n)
	for len(recs) < n {
		t0 := start.Add(time.Duration(rng.IntN(span)) * time.Second)
		r := presence.Record{ObservedAt: t0, Weight: 1,
			Lon: sourcetest.Centre[0] + rng.NormFloat64()*0.0015, Lat: sourcetest.Centre[1] + rng.NormFloat64()*0.001}
		if len(recs) == 0 || rng.IntN(10) == 0 { // anonymous counts
			r.Weight = uint32(1 + rng.IntN(40))
			if rng.IntN(40) == 0 {
				r.Weight = uint32(200 + rng.IntN(200))
			}
			if len(recs) == 0 {
				r.Weight = maxEntryWeight + 1 // the hour of the first keeps no rollup
			}
			r.Age = tiles.AgeBands[rng.IntN(len(tiles.AgeBands))]
			recs = append(recs, r)
			continue
		}
		v := rng.IntN(pool)
		vr := rand.New(rand.NewPCG(uint64(v), seed)) // a visitor's own attributes
		r.Visitor = presence.VisitorHash(fmt.Sprintf("v%d", v))
		if vr.IntN(8) != 0 {
			r.Age = tiles.AgeBands[vr.IntN(len(tiles.AgeBands))]
		}
		r.Gender = tiles.Genders[vr.IntN(len(tiles.Genders))]
		r.Spend = tiles.Spends[vr.IntN(len(tiles.Spends))]
		r.Nationality = nats[vr.IntN(len(nats))]
		if r.Nationality == tiles.Italy {
			r.Origin = origins[vr.IntN(len(origins))]
		}
		for k := 1 + rng.IntN(8); k > 0 && len(recs) < n; k-- {
			q := r
			q.ObservedAt = t0.Add(time.Duration(rng.IntN(3600)) * time.Second)
			q.Lon += rng.NormFloat64() * 0.0003
			q.Lat += rng.NormFloat64() * 0.0002
			if rng.IntN(20) == 0 { // a change of attributes within the hour
				q.Spend = tiles.Spends[rng.IntN(len(tiles.Spends))]
			}
			if rng.IntN(50) == 0 {
				q.Weight = 2
			}
			recs = append(recs, q)
		}
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	return recs
}

// randomQuery returns a random query over records: windows on and off the
// hour, filters of every kind, areas that hold every record or a part of
// them, zones as the area, one or two grouping dimensions (bins too), time
// zones with whole and half-hour offsets.
func randomQuery(rng *rand.Rand, records []presence.Record) tiles.Query {
	lo, hi := records[0].ObservedAt, records[0].ObservedAt
	for _, r := range records {
		lo, hi = minTime(lo, r.ObservedAt), maxTime(hi, r.ObservedAt)
	}
	locs := []*time.Location{sourcetest.Rome, sourcetest.Rome, time.UTC, time.FixedZone("+0530", 5*3600+1800)}
	q := tiles.Query{Loc: locs[rng.IntN(len(locs))], WithRest: rng.IntN(2) == 0}
	f := &q.Filter
	span := hi.Sub(lo)
	at := func() time.Time {
		t := lo.Add(time.Duration(rng.Int64N(int64(span))) - time.Hour)
		if rng.IntN(4) == 0 {
			return t.Truncate(time.Minute) // a window that does not start on the hour
		}
		return t.Truncate(time.Hour)
	}
	switch rng.IntN(4) {
	case 0: // open
	case 1:
		f.From = at()
	default:
		f.From, f.To = at(), at()
		if !f.From.Before(f.To) {
			f.From, f.To = f.To, f.From.Add(time.Hour)
		}
	}
	if rng.IntN(4) == 0 {
		f.Hours = rng.Uint32() & (1<<24 - 1)
	}
	if rng.IntN(4) == 0 {
		f.Days = uint8(rng.UintN(127) + 1)
	}
	if rng.IntN(4) == 0 {
		f.Ages = uint8(rng.UintN(255)+1) &^ 1
	}
	if rng.IntN(5) == 0 {
		f.Genders = 1 << tiles.GenderF
	}
	if rng.IntN(5) == 0 {
		f.Spends = 1<<tiles.SpendHigh | 1<<tiles.SpendMedium
	}
	if rng.IntN(5) == 0 {
		f.Nationalities = []tiles.Country{{'D', 'E'}, tiles.Italy}[:1+rng.IntN(2)]
	}
	if rng.IntN(5) == 0 {
		f.Origins = []string{"054017", "054039"}[:1+rng.IntN(2)]
	}
	if rng.IntN(5) == 0 {
		z := rng.IntN(2)
		f.Zone, f.Zones = sourcetest.Zones()[z].Code, tiles.ZoneBit(z)
	}
	c := tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])
	switch rng.IntN(5) {
	case 0: // the whole world
	case 1: // around every record
		q.Area = tiles.Rect{MinX: int64(c.X) - 1<<22, MinY: int64(c.Y) - 1<<22, MaxX: int64(c.X) + 1<<22, MaxY: int64(c.Y) + 1<<22}
	case 2: // a zone as the area, in its bounding box (as stats ask)
		z := rng.IntN(2)
		b := sourcetest.Zones()[z].Shape.Bound()
		p0, p1 := tiles.Project(b.Min[0], b.Max[1]), tiles.Project(b.Max[0], b.Min[1])
		q.Area = tiles.Rect{MinX: int64(p0.X) - 2, MinY: int64(p0.Y) - 2, MaxX: int64(p1.X) + 2, MaxY: int64(p1.Y) + 2}
		q.AreaZones = tiles.ZoneBit(z)
	default: // a part of the town
		w := int64(1 << (10 + rng.IntN(8)))
		x, y := int64(c.X)+rng.Int64N(2*w)-w, int64(c.Y)+rng.Int64N(2*w)-w
		q.Area = tiles.Rect{MinX: x - w, MinY: y - w, MaxX: x + w, MaxY: y + w}
		if rng.IntN(4) == 0 {
			q.AreaZones = tiles.ZoneBit(rng.IntN(2))
		}
	}
	dims := []tiles.Dim{tiles.DimZone, tiles.DimMunicipality, tiles.DimProvince, tiles.DimNationality,
		tiles.DimHour, tiles.DimWeekday, tiles.DimDate, tiles.DimAge, tiles.DimGender, tiles.DimSpend}
	switch n := rng.IntN(5); {
	case n == 0:
	case n == 1 && q.Area != (tiles.Rect{}):
		q.By = []tiles.Dim{tiles.DimBin}
		q.Grid = tiles.NewGrid(tiles.Shape(rng.IntN(2)), uint8(12+rng.IntN(3)))
	case n == 2:
		q.By = []tiles.Dim{dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))]}
		if q.By[0] == tiles.DimZone && q.By[1] == tiles.DimZone {
			q.By = q.By[:1]
		}
	default:
		q.By = []tiles.Dim{dims[rng.IntN(len(dims))]}
	}
	return q
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rolledHours returns the number of hours that rollups answer for in q.
func (s *Store) rolledHours(q tiles.Query) int {
	sc := &scan{q: &q, sn: s.snap.Load(), clock: tiles.NewClock(q.Loc), to: ^uint32(0)}
	if err := sc.prepare(s); err != nil {
		return 0
	}
	return len(sc.rolls)
}

// Rollups answer exactly as the records do: random queries over records
// that collapse, loaded in batches that add to the same hours, each
// compared with sourcetest.Reference (groups) and ReferenceVisits.
func TestRollupRandomQueries(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	records := collapsing(seed, 12000)
	zones := sourcetest.Zones()
	for _, batches := range []int{1, 5} {
		s := New(refdata.Italy())
		s.budget = rollupBudget * 4 // most hours keep a rollup, a few do not
		per := (len(records) + batches - 1) / batches
		zi := tiles.NewZoneIndex(zones)
		for i := 0; i < len(records); i += per {
			if err := s.Add(records[i:min(i+per, len(records))], zi); err != nil {
				t.Fatal(err)
			}
		}
		st := s.Stats()
		if st.RollupRows == 0 || st.RollupRows == st.Rows {
			t.Fatalf("rollups stand for %d of %d records: want some hours with and some without", st.RollupRows, st.Rows)
		}
		ctx := context.Background()
		used := 0
		for i := range 150 {
			q := randomQuery(rng, records)
			name := fmt.Sprintf("batches=%d/%s", batches, sourcetest.Name(i, q))
			rolled := s.rolledHours(q)
			if rolled > 0 {
				used++
			}
			want := sourcetest.Reference(records, zones, q)
			got, err := sourcetest.Collect(ctx, s, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s (%d hours from rollups, from %v to %v in %v): %d groups, want %d", name, rolled, q.Filter.From, q.Filter.To, q.Loc, len(got), len(want))
				sourcetest.LogFirstDiff(t, got, want)
			}
			if len(q.By) > 0 && q.By[0] == tiles.DimBin {
				continue
			}
			wantV := sourcetest.ReferenceVisits(records, zones, q)
			var gotV []tiles.Visit
			if err := s.Visits(ctx, q, func(v tiles.Visit) error {
				v.Visitor = 0
				gotV = append(gotV, v)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sourcetest.SortVisits(gotV)
			if !slices.Equal(gotV, wantV) {
				t.Errorf("%s (%d hours from rollups): %d visits, want %d", name, rolled, len(gotV), len(wantV))
				for j := range min(len(gotV), len(wantV)) {
					if gotV[j] != wantV[j] {
						t.Logf("  #%d got %+v\n      want %+v", j, gotV[j], wantV[j])
						break
					}
				}
			}
		}
		if used < 30 {
			t.Errorf("rollups answered for %d of 150 queries: the test exercises too few", used)
		}
	}
}

// With every hour rolled up, even records that do not collapse, the
// conformance suite passes: the rollup path alone gives every answer it
// can (sourcetest's windows start and end on the hour).
func TestRollupConformance(t *testing.T) {
	t.Run("sequential", testRollupConformance)
	// the hours are split between the workers, as the blocks are
	t.Run("parallel", func(t *testing.T) {
		forceParallel(t)
		testRollupConformance(t)
	})
}

func testRollupConformance(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := sourcetest.Records(seed, 20000)
	zones := sourcetest.Zones()
	for _, batches := range []int{1, 4} {
		s := New(refdata.Italy())
		s.budget = 1 << 20
		per := (len(records) + batches - 1) / batches
		zi := tiles.NewZoneIndex(zones)
		for i := 0; i < len(records); i += per {
			if err := s.Add(records[i:min(i+per, len(records))], zi); err != nil {
				t.Fatal(err)
			}
		}
		if st := s.Stats(); st.RollupRows != st.Rows {
			t.Fatalf("rollups stand for %d of %d records, want all", st.RollupRows, st.Rows)
		}
		sourcetest.Check(t, s, records, zones)
		sourcetest.CheckVisits(t, s, records, zones)
	}
}

// Rollups never take more than the budget per record: records that do not
// collapse (uniform random visitors) keep none, records that do keep
// theirs, and a large anonymous count keeps its hour from rolling up.
func TestRollupBudget(t *testing.T) {
	seed := sourcetest.Seed(t)
	zones := sourcetest.Zones()
	for name, records := range map[string][]presence.Record{
		"random":     sourcetest.Records(seed, 20000),
		"collapsing": collapsing(seed, 20000),
	} {
		t.Run(name, func(t *testing.T) {
			s := load(t, records, zones, 3)
			st := s.Stats()
			hours := st.RollupBytes - 4*(st.Visitors+1) // less the visitors' profiles
			if hours > rollupBudget*st.RollupRows+hourSlack*int64(len(s.snap.Load().rolls)) {
				t.Errorf("rollups take %d B for %d of %d records: over %d B per record", hours, st.RollupRows, st.Rows, rollupBudget)
			}
			if name == "collapsing" && st.RollupRows == 0 {
				t.Errorf("rollups stand for %d of %d records that collapse", st.RollupRows, st.Rows)
			}
			t.Logf("%s: rollups stand for %d of %d records, %.1f B per record they stand for", name, st.RollupRows, st.Rows, float64(st.RollupBytes)/float64(max(st.RollupRows, 1)))
		})
	}
	s := New(refdata.Italy())
	s.budget = 1 << 20
	recs := collapsing(seed, 2000)
	big := recs[0]
	big.Visitor, big.Weight = 0, maxEntryWeight+1
	if err := s.Add(append(recs, big), nil); err != nil {
		t.Fatal(err)
	}
	h := uint32(big.ObservedAt.Unix() / 3600)
	for _, r := range s.snap.Load().rolls {
		if r.h == h {
			t.Errorf("the hour of a record of weight %d keeps a rollup", big.Weight)
		}
	}
}

// Weight sums too large for one entry split across entries: counts and
// visits stay exact.
func TestRollupWeightSplit(t *testing.T) {
	at := time.Date(2025, 3, 10, 9, 0, 0, 0, sourcetest.Rome)
	var records []presence.Record
	for i := range 30 { // anonymous counts of one place and kind: 600 people
		records = append(records, presence.Record{ObservedAt: at.Add(time.Duration(i) * time.Minute), Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1], Weight: 20, Age: tiles.Age25to34})
	}
	for i := range 300 { // one visitor, 300 presences
		records = append(records, presence.Record{ObservedAt: at.Add(time.Duration(i*11) * time.Second), Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1], Weight: 1,
			Visitor: presence.VisitorHash("v"), Age: tiles.Age25to34, Nationality: tiles.Italy, Origin: "054017"})
	}
	zones := sourcetest.Zones()
	s := New(refdata.Italy())
	if err := s.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []tiles.Query{
		{Loc: sourcetest.Rome},
		{Loc: sourcetest.Rome, By: []tiles.Dim{tiles.DimHour}},
		{Loc: sourcetest.Rome, By: []tiles.Dim{tiles.DimMunicipality}, Filter: tiles.Filter{Ages: 1 << tiles.Age25to34}, WithRest: true},
	} {
		if s.rolledHours(q) != 1 {
			t.Fatalf("the hour keeps no rollup: %+v", s.Stats())
		}
		want := sourcetest.Reference(records, zones, q)
		got, err := sourcetest.Collect(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("by %v: got %+v, want %+v", q.By, got, want)
		}
		var gotV []tiles.Visit
		if err := s.Visits(ctx, q, func(v tiles.Visit) error { v.Visitor = 0; gotV = append(gotV, v); return nil }); err != nil {
			t.Fatal(err)
		}
		if wantV := sourcetest.ReferenceVisits(records, zones, q); !slices.Equal(gotV, wantV) {
			t.Errorf("visits: got %+v, want %+v", gotV, wantV)
		}
	}
}

// Where a clock goes back across midnight (here two hours, from 01:00
// to 23:00 of the day before, at 23:00 UTC), a local day comes back after
// the next one: counts by date and visits stay one per visitor and day.
func TestRollupClockBackAcrossMidnight(t *testing.T) {
	loc := backAcrossMidnight(t, time.Date(2025, 3, 10, 23, 0, 0, 0, time.UTC).Unix())
	start := time.Date(2025, 3, 10, 18, 0, 0, 0, time.UTC)
	var records []presence.Record
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		records = append(records, presence.Record{ObservedAt: start.Add(time.Duration(rng.IntN(10*3600)) * time.Second), Weight: 1,
			Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1], Visitor: presence.VisitorHash(fmt.Sprint("v", i%40)), Age: tiles.Age18to24})
	}
	s := New(refdata.Italy())
	if err := s.Add(records, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []tiles.Query{{Loc: loc}, {Loc: loc, By: []tiles.Dim{tiles.DimDate}}, {Loc: loc, By: []tiles.Dim{tiles.DimHour}}} {
		if s.rolledHours(q) == 0 {
			t.Fatal("no hour from rollups")
		}
		want := sourcetest.Reference(records, nil, q)
		got, err := sourcetest.Collect(context.Background(), s, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("by %v: got %+v, want %+v", q.By, got, want)
		}
		var gotV []tiles.Visit
		if err := s.Visits(context.Background(), q, func(v tiles.Visit) error { v.Visitor = 0; gotV = append(gotV, v); return nil }); err != nil {
			t.Fatal(err)
		}
		sourcetest.SortVisits(gotV)
		if wantV := sourcetest.ReferenceVisits(records, nil, q); !slices.Equal(gotV, wantV) {
			t.Errorf("%d visits, want %d", len(gotV), len(wantV))
		}
	}
}

// backAcrossMidnight returns a time zone two hours ahead of UTC until
// Unix second at, and on UTC from then: a TZif (version 1) file read by
// time.LoadLocationFromTZData.
func backAcrossMidnight(t *testing.T, at int64) *time.Location {
	var b []byte
	u32 := func(v uint32) { b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }
	b = append(b, "TZif"...)
	b = append(b, make([]byte, 16)...)             // version 1, reserved
	for _, n := range []uint32{0, 0, 0, 1, 2, 6} { // isut, isstd, leap, transitions, types, abbreviation bytes
		u32(n)
	}
	u32(uint32(at))
	b = append(b, 1)    // the type from then
	u32(7200)           // type 0: +2
	b = append(b, 0, 0) // not DST, abbreviation at 0
	u32(0)              // type 1: UTC
	b = append(b, 0, 3) // not DST, abbreviation at 3
	b = append(b, "AA\x00BB\x00"...)
	loc, err := time.LoadLocationFromTZData("Back", b)
	if err != nil {
		t.Fatal(err)
	}
	if d0, d1 := time.Unix(at-3600, 0).In(loc).Day(), time.Unix(at, 0).In(loc).Day(); d1 >= d0 {
		t.Fatalf("the zone does not go back across midnight: day %d then %d", d0, d1)
	}
	return loc
}
