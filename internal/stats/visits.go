package stats

import (
	"context"
	"fmt"
	"slices"

	"github.com/flowtiles/flowtiles/tiles"
)

// visitGroup tallies the visits of one row.
type visitGroup struct {
	visits int64
	// days counts the visits (one per day) of each visitor: its size is
	// the number of visitors, its values ≥ 2 the repeat visitors.
	days  map[uint64]int32
	dwell []int64 // seconds, one per visit
	// bands holds the visitors with visits in each dwell band.
	bands [3]map[uint64]struct{}
}

// visitTally is the visits of a period: in total and by row key.
type visitTally struct {
	all  visitGroup
	rows map[int64]*visitGroup
}

func (t *visitTally) total() *visitGroup {
	if t == nil {
		return nil
	}
	return &t.all
}

func (t *visitTally) row(k int64) *visitGroup {
	if t == nil {
		return nil
	}
	return t.rows[k]
}

// Dwell bands: under 30 minutes, 30 to under 120, 120 and over.
const (
	band30  = 30 * 60
	band120 = 120 * 60
)

func band(seconds int64) int {
	switch {
	case seconds < band30:
		return 0
	case seconds < band120:
		return 1
	}
	return 2
}

func (g *visitGroup) add(v *tiles.Visit) {
	if g.days == nil {
		g.days = map[uint64]int32{}
	}
	g.visits++
	g.days[v.Visitor]++
	d := v.Last - v.First
	g.dwell = append(g.dwell, d)
	b := band(d)
	if g.bands[b] == nil {
		g.bands[b] = map[uint64]struct{}{}
	}
	g.bands[b][v.Visitor] = struct{}{}
}

// tallyVisits lists the visits of q once and tallies them in total and,
// when dim has visit figures, by row.
func (s *Service) tallyVisits(ctx context.Context, q tiles.Query, dim *dimension) (*visitTally, error) {
	t := &visitTally{rows: map[int64]*visitGroup{}}
	byRow := dim != nil && dim.visits
	err := s.visits.Visits(ctx, q, func(v tiles.Visit) error {
		t.all.add(&v)
		if byRow {
			k := dim.visitKey(&v, s.cat)
			g := t.rows[k]
			if g == nil {
				g = &visitGroup{}
				t.rows[k] = g
			}
			g.add(&v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stats: listing visits: %w", err)
	}
	return t, nil
}

// median returns the median of xs (the mean of the two middle values for
// an even count), sorting xs in place; 0 for none.
func median(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return float64(xs[m])
	}
	return float64(xs[m-1]+xs[m]) / 2
}
