package stats

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// countingSource counts the calls a report makes of a source; its multi
// form also takes several groupings at once (tiles.MultiSource).
type countingSource struct {
	src             *env
	aggregate, many atomic.Int32
}

func (c *countingSource) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	c.aggregate.Add(1)
	return c.src.store.Aggregate(ctx, q, fn)
}

func (c *countingSource) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	return c.src.store.Visits(ctx, q, fn)
}

type countingMulti struct{ *countingSource }

func (c countingMulti) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(int, tiles.Group) error) error {
	c.many.Add(1)
	return c.src.store.AggregateMany(ctx, q, by, fn)
}

// A report asks a source that takes several groupings at once for all of
// them in one call (the memory store: one pass; PostGIS: the total in the
// statement of another grouping), with narrowing filters or without, and
// any other source for each grouping apart; the figures are the same.
func TestReportGroupingsInOneCall(t *testing.T) {
	e := newEnv(t, 3, sourcetest.Records(5, 20_000))
	for _, c := range []struct {
		by, filter string
		groupings  int32
	}{{"", "", 3}, {"hour", "", 4}, {"", "&days=sat,sun", 3}, {"hour", "&gender=f", 4}, {"origin", "&age=35-44", 3},
		{"nationality", "&hours=8-12", 3}, {"age", "&days=mon", 4}} {
		query := "zone=centro&from=2025-03-01&to=2025-03-31&by=" + c.by + c.filter
		plain, multi := &countingSource{src: e}, countingMulti{&countingSource{src: e}}
		var reports [2]string
		for i, src := range []tiles.Source{plain, multi} {
			svc := New(Config{Source: src, Places: e.places, Privacy: tiles.UnperturbedForTests(3), Loc: sourcetest.Rome})
			rep, err := (&env{store: e.store, svc: svc, places: e.places, res: e.res, zones: e.zones}).try(query)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if rep.Period.Total.Suppressed {
				t.Fatalf("%s: the total is withheld: nothing to compare", query)
			}
			b, _ := json.Marshal(rep)
			reports[i] = string(b)
		}
		if got := plain.aggregate.Load(); got != c.groupings || plain.many.Load() != 0 {
			t.Errorf("%s, a plain source: %d Aggregate calls, want %d", query, got, c.groupings)
		}
		if multi.aggregate.Load() != 0 || multi.many.Load() != 1 {
			t.Errorf("%s, a MultiSource: %d Aggregate and %d AggregateMany calls, want 0 and 1", query, multi.aggregate.Load(), multi.many.Load())
		}
		if reports[0] != reports[1] {
			t.Errorf("%s: the reports differ:\n%s\n%s", query, reports[0], reports[1])
		}
	}
}

// A report from a source that groups the visits itself
// (tiles.VisitGrouper: the memory store) is the report from its visits
// listed one by one, by every grouping and with narrowing filters; a
// grouper that declines (tiles.ErrNotGrouped, as the tiered store for what
// PostGIS answers) has its visits listed.
func TestReportVisitGroupsAsListed(t *testing.T) {
	e := newEnv(t, 3, sourcetest.Records(sourcetest.Seed(t), 20_000))
	compared := 0
	for _, by := range append([]string{""}, ByNames...) {
		for _, filter := range []string{"", "&age=35-44", "&days=sat,sun&hours=8-12"} {
			query := "zone=centro&from=2025-03-01&to=2025-03-31&by=" + by + filter
			var reports [3]string
			for i, src := range []tiles.Source{countingMulti{&countingSource{src: e}}, e.store, decliningGrouper{countingMulti{&countingSource{src: e}}}} {
				svc := New(Config{Source: src, Places: e.places, Privacy: tiles.UnperturbedForTests(3), Loc: sourcetest.Rome})
				rep, err := (&env{store: e.store, svc: svc, places: e.places, res: e.res, zones: e.zones}).try(query)
				if err != nil {
					t.Fatalf("%s: %v", query, err)
				}
				if i == 0 && !rep.Period.Total.Suppressed && rep.Period.Total.Visits.Absent() {
					t.Fatalf("%s: no visit figures: nothing to compare", query)
				}
				b, _ := json.Marshal(rep)
				reports[i] = string(b)
			}
			if reports[1] != reports[0] {
				t.Errorf("%s: grouped by the source:\n%s\nlisted:\n%s", query, reports[1], reports[0])
			}
			if reports[2] != reports[0] {
				t.Errorf("%s: a grouper that declines:\n%s\nlisted:\n%s", query, reports[2], reports[0])
			}
			compared++
		}
	}
	if compared == 0 {
		t.Fatal("nothing compared")
	}
}

// decliningGrouper is a tiles.VisitGrouper that groups nothing.
type decliningGrouper struct{ countingMulti }

func (decliningGrouper) VisitGroups(context.Context, tiles.Query, []tiles.Dim, func(int64, []tiles.VisitEntry) error) error {
	return tiles.ErrNotGrouped
}
