package pgstore

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// AggregateMany gives each grouping the groups Aggregate gives it, the rollup
// and records alone, for the groupings of stats reports (the total, the
// hours, the origins and countries, in any order), and the total and the
// hours of a report are one statement when the visitor-day tables answer
// them.
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
		by := [][]tiles.Dim{nil, {tiles.DimHour}, {tiles.DimMunicipality}, {tiles.DimNationality}}
		if q.By != nil {
			by = append(by, q.By)
		}
		rng.Shuffle(len(by), func(a, b int) { by[a], by[b] = by[b], by[a] })
		by = by[:1+rng.IntN(len(by))]
		if total, _ := days.hourAndTotal(&q, by); total >= 0 {
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
		t.Errorf("the total and hours were one statement in %d of 120 queries: the test checks too little", fused)
	}
}

// A stats report's total and hours are one statement when the visitor-day
// tables answer its hours, and not otherwise.
func TestHourAndTotal(t *testing.T) {
	s := &Store{}
	q := tiles.Query{Filter: tiles.Filter{From: sourcetest.Start, To: sourcetest.Start.AddDate(0, 0, 30)}, Loc: sourcetest.Rome}
	hour, origin := []tiles.Dim{tiles.DimHour}, []tiles.Dim{tiles.DimMunicipality}
	cases := []struct {
		name        string
		q           tiles.Query
		by          [][]tiles.Dim
		total, hour int
	}{
		{"a report by hour", q, [][]tiles.Dim{nil, hour, origin}, 0, 1},
		{"in another order", q, [][]tiles.Dim{origin, hour, nil}, 2, 1},
		{"no total", q, [][]tiles.Dim{hour, origin}, -1, -1},
		{"no hours", q, [][]tiles.Dim{nil, origin}, -1, -1},
		{"narrowed", func() tiles.Query { q := q; q.Filter.Days = 1; return q }(), [][]tiles.Dim{nil, hour}, -1, -1},
		{"less than a day", func() tiles.Query { q := q; q.Filter.To = q.Filter.From.Add(3 * 3600e9); return q }(), [][]tiles.Dim{nil, hour}, -1, -1},
	}
	for _, c := range cases {
		total, hour := s.hourAndTotal(&c.q, c.by)
		if total != c.total || hour != c.hour {
			t.Errorf("%s: total %d, hour %d; want %d, %d", c.name, total, hour, c.total, c.hour)
		}
	}
}
