package memstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// One pass for several groupings (AggregateMany) answers each exactly as
// the reference does, and as a scan of its own: random queries over
// records that collapse into rollups (most hours) and records (the
// others), each under one to six random groupings (a view's six among
// them), sequential and split between workers.
// The scans by zone collect either runs or, when their codes do not fit in
// a run, pairs.
func TestAggregateManyRandom(t *testing.T) {
	t.Run("sequential", testAggregateManyRandom)
	t.Run("parallel", func(t *testing.T) {
		forceParallel(t)
		testAggregateManyRandom(t)
	})
	t.Run("zone-pairs", func(t *testing.T) {
		defer func(n int) { maxRunCodes = n }(maxRunCodes)
		maxRunCodes = 0
		t.Run("sequential", testAggregateManyRandom)
		t.Run("parallel", func(t *testing.T) {
			forceParallel(t)
			testAggregateManyRandom(t)
		})
	})
}

func testAggregateManyRandom(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	records := collapsing(seed, 12000)
	zones := sourcetest.Zones()
	s := New(refdata.Italy())
	s.budget = rollupBudget * 4 // most hours keep a rollup, a few do not
	if err := s.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	view := [][]tiles.Dim{
		{tiles.DimMunicipality}, {tiles.DimNationality}, nil,
		{tiles.DimMunicipality, tiles.DimZone}, {tiles.DimNationality, tiles.DimZone}, {tiles.DimZone},
	}
	ctx := context.Background()
	for i := range 60 {
		q := randomQuery(rng, records)
		q.WithRest = q.WithRest || rng.IntN(2) == 0
		var by [][]tiles.Dim
		if i%3 == 0 {
			by = view
		} else {
			for range 1 + rng.IntN(6) {
				by = append(by, randomQuery(rng, records).By)
			}
		}
		// no grouping of two large dimensions (municipalities, provinces
		// or dates by each other): millions of groups for each of the
		// pass's groupings and workers (9-11 GB for some seeds)
		large := func(d tiles.Dim) bool {
			return d == tiles.DimMunicipality || d == tiles.DimProvince || d == tiles.DimDate
		}
		by = slices.DeleteFunc(by, func(b []tiles.Dim) bool { return len(b) == 2 && large(b[0]) && large(b[1]) })
		if q.Area == (tiles.Rect{}) || q.Area.MaxX-q.Area.MinX > 1<<20 {
			// no bins over the world or a wide area: at zoom 13 the bins
			// of 2^23 units across, a pass of their own each, took
			// gigabytes (with three workers under the race detector, 24 GB)
			by = slices.DeleteFunc(by, func(b []tiles.Dim) bool { return slices.Contains(b, tiles.DimBin) })
		}
		for _, b := range by {
			if slices.Contains(b, tiles.DimBin) {
				q.Grid = tiles.NewGrid(tiles.Hexagon, 13)
			}
		}
		got := aggregateMany(t, s, q, by)
		for j, b := range by {
			qj := q
			qj.By = b
			name := fmt.Sprintf("%s (grouping %d of %d)", sourcetest.Name(i, qj), j+1, len(by))
			want := sourcetest.Reference(records, zones, qj)
			if !slices.Equal(got[j], want) {
				t.Errorf("%s: %d groups, want %d", name, len(got[j]), len(want))
				sourcetest.LogFirstDiff(t, got[j], want)
			}
			alone, err := sourcetest.Collect(ctx, s, qj)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[j], alone) {
				t.Errorf("%s: %d groups, %d from a scan of its own", name, len(got[j]), len(alone))
				sourcetest.LogFirstDiff(t, got[j], alone)
			}
		}
	}
}

// A total is derived from a grouping by an attribute rather than by hour
// (whose pairs repeat a visitor in many hours), whichever comes first; the
// zones from the origins or countries by zone; and a grouping by zone and
// another dimension gives that dimension alone, and the total, with its
// zones summed out.
func TestPlanDerivesFromAttributes(t *testing.T) {
	s := New(refdata.Italy())
	if err := s.Add(sourcetest.Records(sourcetest.Seed(t), 200), tiles.NewZoneIndex(sourcetest.Zones())); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		by       [][]tiles.Dim
		from     map[string]string // derived grouping -> its source
		derivedN int
	}{
		{[][]tiles.Dim{nil, {tiles.DimHour}, {tiles.DimMunicipality}, {tiles.DimNationality}},
			map[string]string{"[]": "[3]"}, 1},
		{[][]tiles.Dim{nil, {tiles.DimDate}, {tiles.DimNationality}},
			map[string]string{"[]": "[6]"}, 1},
		{[][]tiles.Dim{{tiles.DimHour}, nil},
			map[string]string{"[]": "[7]"}, 1},
		{[][]tiles.Dim{{tiles.DimZone, tiles.DimHour}, {tiles.DimNationality, tiles.DimZone}, {tiles.DimZone}},
			map[string]string{"[2]": "[6 2]"}, 1},
		// a view's: the origins and countries, and the total, are those by
		// zone with the zones summed out
		{[][]tiles.Dim{{tiles.DimMunicipality}, {tiles.DimNationality}, nil,
			{tiles.DimMunicipality, tiles.DimZone}, {tiles.DimNationality, tiles.DimZone}, {tiles.DimZone}},
			map[string]string{"[3]": "[3 2] zones", "[6]": "[6 2] zones", "[]": "[6 2] zones", "[2]": "[3 2]"}, 4},
		{[][]tiles.Dim{{tiles.DimZone, tiles.DimHour}, {tiles.DimHour}, nil},
			map[string]string{"[7]": "[2 7] zones", "[]": "[2 7] zones"}, 2},
	} {
		var m multi
		for _, by := range c.by {
			q := tiles.Query{By: by, Loc: sourcetest.Rome}
			sc := &scan{q: &q, sn: s.snap.Load(), clock: tiles.NewClock(q.Loc), to: math.MaxUint32}
			if err := sc.prepare(s); err != nil {
				t.Fatal(err)
			}
			defer sc.putZones()
			m = append(m, sc)
		}
		pass, derived := m.plan()
		if len(derived) != c.derivedN || len(pass)+len(derived) != len(m) {
			t.Errorf("%v: %d derived, %d in the pass", c.by, len(derived), len(pass))
			continue
		}
		for _, d := range derived {
			x, h := fmt.Sprint(d.x.q.By), fmt.Sprint(d.h.q.By)
			if d.zone {
				h += " zones"
			}
			if c.from[x] != h {
				t.Errorf("%v: %s derived from %s, want from %s", c.by, x, h, c.from[x])
			}
		}
	}
}

// A grouping asked twice in one pass is answered twice the same, whether
// it is scanned or derived (the zones from the origins by zone, twice; the
// origins from them with the zones summed out, twice).
func TestAggregateManyTwice(t *testing.T) {
	seed := sourcetest.Seed(t)
	records := collapsing(seed, 6000)
	zones := sourcetest.Zones()
	s := New(refdata.Italy())
	if err := s.Add(records, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	by := [][]tiles.Dim{
		{tiles.DimZone}, {tiles.DimMunicipality, tiles.DimZone}, {tiles.DimZone},
		{tiles.DimMunicipality}, {tiles.DimMunicipality}, nil, nil,
	}
	for _, rest := range []bool{false, true} {
		q := tiles.Query{Loc: sourcetest.Rome, WithRest: rest}
		if rest {
			q.Filter.Ages = 1 << tiles.Age25to34
		}
		got := aggregateMany(t, s, q, by)
		for j, b := range by {
			qj := q
			qj.By = b
			if want := sourcetest.Reference(records, zones, qj); !slices.Equal(got[j], want) {
				t.Errorf("rest %v, grouping %d %v: %d groups, want %d", rest, j, b, len(got[j]), len(want))
				sourcetest.LogFirstDiff(t, got[j], want)
			}
		}
	}
}

// aggregateMany returns the groups of s.AggregateMany(q, by), each
// grouping's sorted.
func aggregateMany(t *testing.T, s *Store, q tiles.Query, by [][]tiles.Dim) [][]tiles.Group {
	t.Helper()
	got := make([][]tiles.Group, len(by))
	if err := s.AggregateMany(context.Background(), q, by, func(j int, g tiles.Group) error {
		got[j] = append(got[j], g)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		sourcetest.Sort(g)
	}
	return got
}
