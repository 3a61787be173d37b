package memstore

import (
	"context"
	"fmt"
	"math"

	"github.com/flowtiles/flowtiles/tiles"
)

var _ tiles.VisitSource = (*Store)(nil)

type visitKey struct {
	v   uint32
	day int64
}

// Visits implements tiles.VisitSource: one Visit per visitor and local day
// with matching records.
func (s *Store) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	q.By, q.WithRest = nil, false
	sn := s.snap.Load()
	sc := &scan{q: &q, sn: sn, clock: tiles.NewClock(q.Loc), to: math.MaxUint32}
	if err := sc.prepare(s); err != nil {
		return err
	}
	if sc.empty() {
		return nil
	}
	visits := map[visitKey]*tiles.Visit{}
	var err error
	visit := func(_, _ [2]int64, b *block) bool {
		if b.maxT < sc.from || b.minT >= sc.to {
			return true
		}
		if err = ctx.Err(); err != nil {
			return false
		}
		i0, i1, inside, ok := sc.span(b)
		if !ok {
			return true
		}
		for i := i0; i < i1; i++ {
			if b.v[i] == 0 {
				continue
			}
			if _, match := sc.test(b, i, inside); !match {
				continue
			}
			t := int64(b.t[i])
			k := visitKey{b.v[i], sc.clock.Day(t)}
			vi := visits[k]
			if vi == nil {
				vi = &tiles.Visit{Visitor: uint64(k.v), Key: sn.vkeys[k.v], Day: k.day, First: t, Last: t}
				visits[k] = vi
			}
			if t <= vi.First { // the attributes of the first record
				c := tiles.Visit{First: t, Age: b.a[i].Age(), Gender: b.a[i].Gender(), Spend: b.a[i].Spend(), Nationality: tiles.CountryAt(b.n[i])}
				if o := b.o[i]; o != 0 {
					c.Origin = s.cat.Municipalities[o-1].Code
				}
				if t < vi.First || vi.Presences == 0 || tiles.FirstRecordLess(c, *vi) {
					vi.First, vi.Age, vi.Gender, vi.Spend, vi.Nationality, vi.Origin = t, c.Age, c.Gender, c.Spend, c.Nationality, c.Origin
				}
			}
			vi.Last = max(vi.Last, t)
			vi.Presences += int64(b.w[i])
		}
		return true
	}
	if sc.whole {
		sn.tree.Scan(visit)
	} else {
		sn.tree.Search([2]int64{sc.area.MinX, sc.area.MinY}, [2]int64{sc.area.MaxX - 1, sc.area.MaxY - 1}, visit)
	}
	if err != nil {
		return fmt.Errorf("memory store visits: %w", err)
	}
	for _, v := range visits {
		if err := fn(*v); err != nil {
			return err
		}
	}
	return nil
}
