package pgstore

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/flowtiles/flowtiles/tiles"
)

var _ tiles.MultiSource = (*Store)(nil)

// AggregateMany implements tiles.MultiSource: a statement per grouping, at
// most GOMAXPROCS of them at once (fn is called from one at a time), but
// for the total (a grouping by nothing), which comes with another
// grouping's statement (aggregateSQL with its total): a stats report's
// total with its hours when the visitor-day tables answer them (each
// record is in one hour, each visitor's hours one mask), else with its
// first grouping of one or two dimensions without zones. Alone, the total
// was a statement of its own that hashed every visitor of the window again
// (370,000 for six months of a zone, 0.6-0.8 s of database CPU).
func (s *Store) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(i int, g tiles.Group) error) error {
	var mu sync.Mutex
	locked := func(i int, g tiles.Group) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(i, g)
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	total, with := s.totalWith(&q, by)
	for i, dims := range by {
		if i == total {
			continue
		}
		q := q
		q.By = dims
		if i != with {
			eg.Go(func() error { return s.Aggregate(ctx, q, func(g tiles.Group) error { return locked(i, g) }) })
			continue
		}
		eg.Go(func() error {
			sql, args, err := s.aggregateSQL(&q, true)
			if err != nil {
				return err
			}
			return s.read(ctx, "aggregating presence", s.settings(&q), sql, args, func(rows pgx.Rows) error {
				var isTotal int32
				g, err := scanGroup(ctx, rows, &q, &isTotal)
				if err != nil {
					return err
				}
				if isTotal == 1 {
					return locked(total, g)
				}
				return locked(with, g)
			})
		})
	}
	return eg.Wait()
}

// totalWith returns the indexes in by of a grouping by nothing and of the
// grouping whose statement answers it too (the hours', when the
// visitor-day tables answer them, else the first of one or two dimensions
// without zones), or -1 and -1.
func (s *Store) totalWith(q *tiles.Query, by [][]tiles.Dim) (total, with int) {
	total, with = -1, -1
	hours := false
	for i, dims := range by {
		switch {
		case len(dims) == 0:
			if total < 0 {
				total = i
			}
		case len(dims) > 2 || slices.Contains(dims, tiles.DimZone) || hours:
		case len(dims) == 1 && dims[0] == tiles.DimHour && s.planDays(q).ok:
			with, hours = i, true
		case with < 0:
			with = i
		}
	}
	if total < 0 || with < 0 {
		return -1, -1
	}
	return total, with
}
