package stats

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/flowtiles/flowtiles/tiles"
)

// visitGroup collects the visits of one row: a visitor and a dwell each,
// summarised once all are in (sorting beats maps here by a wide margin).
type visitGroup struct {
	entries []visitEntry
}

type visitEntry struct {
	visitor uint64
	key     uint32 // tiles.VisitKey of the visit
	dwell   int32  // seconds
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
	g.entries = append(g.entries, visitEntry{v.Visitor, tiles.VisitKey(v.Key, v.Day), int32(min(v.Last-v.First, math.MaxInt32))})
}

// tally sums up the group's visits and their keys for tiles.Privacy.Visits;
// it reorders the entries. A visitor has at most one visit per day in a
// group, so its visits are its days.
func (g *visitGroup) tally() tiles.VisitTally {
	var s tiles.VisitTally
	if g == nil || len(g.entries) == 0 {
		return s
	}
	es := g.entries
	slices.SortFunc(es, func(a, b visitEntry) int { return cmp.Compare(a.visitor, b.visitor) })
	dwell := make([]int64, len(es))
	for i := 0; i < len(es); {
		j, bands := i, 0
		var keys uint32 // of this visitor's visits
		for ; j < len(es) && es[j].visitor == es[i].visitor; j++ {
			b := band(int64(es[j].dwell))
			bands |= 1 << b
			s.BandVisits[b]++
			s.BandKeys[b] += es[j].key
			keys += es[j].key
			dwell[j] = int64(es[j].dwell)
		}
		s.VisitsKey += keys
		s.Visitors++
		if j-i >= 2 {
			s.Repeat++
			s.RepeatKey += keys
		}
		for b := range s.BandVisitors {
			if bands&(1<<b) != 0 {
				s.BandVisitors[b]++
			}
		}
		i = j
	}
	s.Visits = int64(len(es))
	s.MedianDwell = median(dwell)
	return s
}

// tallyVisits lists the visits of q once and tallies them in total and,
// when dim has visit figures, by row.
func (s *Service) tallyVisits(ctx context.Context, q tiles.Query, dim *dimension) (*visitTally, error) {
	t := &visitTally{rows: map[int64]*visitGroup{}}
	byRow := dim != nil && dim.visits
	err := s.visits.Visits(ctx, q, func(v tiles.Visit) error {
		t.all.add(&v)
		if byRow {
			k := dim.visitKey(&v, s.origins)
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
