package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/flowtiles/flowtiles/tiles"
)

var _ tiles.MultiSource = (*Store)(nil)

// AggregateMany implements tiles.MultiSource: a statement per grouping, one
// after the other, but for a total and its hours (a stats report by hour)
// when the visitor-day tables answer them: one statement (hourSQL with its
// total) answers both. The hours' statement finds every visitor's hours,
// and the total's was a second hash of the same visitors (370,000 for six
// months of a zone).
func (s *Store) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(i int, g tiles.Group) error) error {
	total, hour := s.hourAndTotal(&q, by)
	for i, dims := range by {
		if i == total || i == hour {
			continue
		}
		q := q
		q.By = dims
		if err := s.Aggregate(ctx, q, func(g tiles.Group) error { return fn(i, g) }); err != nil {
			return err
		}
	}
	if total < 0 {
		return nil
	}
	q.By = by[hour]
	sql, args, _, err := s.hourSQL(&q, true)
	if err != nil {
		return err
	}
	return s.read(ctx, "aggregating presence", dayStatementSettings, sql, args, func(rows pgx.Rows) error {
		var isTotal int32
		g, err := scanGroup(ctx, rows, &q, &isTotal)
		if err != nil {
			return err
		}
		if isTotal == 1 {
			return fn(total, g)
		}
		return fn(hour, g)
	})
}

// hourAndTotal returns the indexes in by of a grouping by nothing and one
// by hour alone that one statement answers for q, or -1 and -1.
func (s *Store) hourAndTotal(q *tiles.Query, by [][]tiles.Dim) (total, hour int) {
	total, hour = -1, -1
	for i, dims := range by {
		switch {
		case len(dims) == 0 && total < 0:
			total = i
		case len(dims) == 1 && dims[0] == tiles.DimHour && hour < 0:
			hour = i
		}
	}
	h := *q
	h.By = []tiles.Dim{tiles.DimHour}
	if total < 0 || hour < 0 || !s.planDays(&h).ok {
		return -1, -1
	}
	return total, hour
}
