package pgstore

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// AggregateMany gives each grouping the groups Aggregate gives it, the
// rollup and records alone, for the groupings of stats reports (the total,
// the hours, the origins and countries, in any order; narrowed reports
// with the rest), where the total comes with the hours' statement or
// another grouping's.
func TestAggregateManyAnswersAsAggregate(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 13))
	pool := testdb.New(t)
	ctx := context.Background()
	testdb.Insert(t, pool, sourcetest.Records(seed, 3000), sourcetest.Zones())
	days := New(pool, refdata.Italy(), 0)
	rollup := &Store{pool: pool, cat: refdata.Italy(), noDays: true}
	fused := 0
	for i := range 120 {
		q := randomDayQuery(rng)
		if rng.IntN(3) == 0 { // narrowed, as a report sends it: with the rest
			q.Filter.Days, q.Filter.Hours, q.WithRest = uint8(1+rng.IntN(126)), uint32(1+rng.IntN(1<<24-2)), true
		}
		by := [][]tiles.Dim{nil, {tiles.DimHour}, {tiles.DimMunicipality}, {tiles.DimNationality}}
		if q.By != nil {
			by = append(by, q.By)
		}
		rng.Shuffle(len(by), func(a, b int) { by[a], by[b] = by[b], by[a] })
		by = by[:1+rng.IntN(len(by))]
		if total, _ := days.totalWith(&q, by); total >= 0 {
			fused++
		}
		got := make([][]tiles.Group, len(by))
		err := days.AggregateMany(ctx, q, by, func(j int, g tiles.Group) error {
			got[j] = append(got[j], g)
			return nil
		})
		if err != nil {
			t.Fatalf("query %d %+v by %v: %v", i, q, by, err)
		}
		for j, dims := range by {
			w := q
			w.By = dims
			want, err := sourcetest.Collect(ctx, rollup, w)
			if err != nil {
				t.Fatal(err)
			}
			sourcetest.Sort(got[j])
			if !slices.Equal(got[j], want) {
				t.Errorf("query %d %+v grouping %d (by %v of %v): %d groups, Aggregate on the rollup gives %d", i, q, j, dims, by, len(got[j]), len(want))
				for k := range min(len(got[j]), len(want)) {
					if got[j][k] != want[k] {
						t.Logf("  #%d many  %+v\n     alone %+v", k, got[j][k], want[k])
						break
					}
				}
			}
		}
	}
	if fused < 20 {
		t.Errorf("the total came with another grouping in %d of 120 queries: the test checks too little", fused)
	}
}

// A stats report's total comes with its hours when the visitor-day tables
// answer them, else with its first grouping of one or two dimensions
// without zones.
func TestTotalWith(t *testing.T) {
	s := &Store{}
	q := tiles.Query{Filter: tiles.Filter{From: sourcetest.Start, To: sourcetest.Start.AddDate(0, 0, 30)}, Loc: sourcetest.Rome}
	narrowed, short := q, q
	narrowed.Filter.Days = 1
	short.Filter.To = q.Filter.From.Add(3 * time.Hour)
	hour, origin, zone := []tiles.Dim{tiles.DimHour}, []tiles.Dim{tiles.DimMunicipality}, []tiles.Dim{tiles.DimZone}
	three := []tiles.Dim{tiles.DimAge, tiles.DimGender, tiles.DimSpend}
	cases := []struct {
		name        string
		q           tiles.Query
		by          [][]tiles.Dim
		total, with int
	}{
		{"a report by hour", q, [][]tiles.Dim{nil, origin, hour}, 0, 2},
		{"in another order", q, [][]tiles.Dim{hour, origin, nil}, 2, 0},
		{"by origin", q, [][]tiles.Dim{nil, origin}, 0, 1},
		{"narrowed: hours from records", narrowed, [][]tiles.Dim{nil, origin, hour}, 0, 1},
		{"less than a day", short, [][]tiles.Dim{hour, nil}, 1, 0},
		{"no total", q, [][]tiles.Dim{hour, origin}, -1, -1},
		{"nothing else", q, [][]tiles.Dim{nil}, -1, -1},
		{"zones and three dimensions", q, [][]tiles.Dim{zone, three, nil, origin}, 2, 3},
		{"zones alone", q, [][]tiles.Dim{zone, nil}, -1, -1},
	}
	for _, c := range cases {
		total, with := s.totalWith(&c.q, c.by)
		if total != c.total || with != c.with {
			t.Errorf("%s: total %d, with %d; want %d, %d", c.name, total, with, c.total, c.with)
		}
	}
}
