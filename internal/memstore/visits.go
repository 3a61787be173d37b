package memstore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

var _ tiles.VisitSource = (*Store)(nil)

// visit is a tiles.Visit while it is collected: its first record's
// attributes in the store's form.
type visit struct {
	v                  uint32
	day                int64
	first, last, count int64
	a                  tiles.Attrs
	n                  uint8
	o                  uint16
}

// public returns v as a tiles.Visit.
func (s *Store) public(sn *snapshot, v *visit) tiles.Visit {
	out := tiles.Visit{Visitor: uint64(v.v), Key: sn.vkeys[v.v], Day: v.day, First: v.first, Last: v.last, Presences: v.count,
		Age: v.a.Age(), Gender: v.a.Gender(), Spend: v.a.Spend(), Nationality: tiles.CountryAt(v.n)}
	if v.o != 0 {
		out.Origin = s.cat.Municipalities[v.o-1].Code
	}
	return out
}

// Visits implements tiles.VisitSource: one Visit per visitor and local day
// with matching records.
func (s *Store) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	sn, visits, done, err := s.listVisits(ctx, q)
	defer done()
	if err != nil {
		return err
	}
	for i := range visits {
		if err := fn(s.public(sn, &visits[i])); err != nil {
			return err
		}
	}
	return nil
}

// listVisits collects the visits of q (holding a processor while it
// scans). done gives their buffer back.
func (s *Store) listVisits(ctx context.Context, q tiles.Query) (sn *snapshot, visits []visit, done func(), err error) {
	q.By, q.WithRest = nil, false
	sn = s.snap.Load()
	sc := &scan{q: &q, sn: sn, clock: tiles.NewClock(q.Loc), to: math.MaxUint32, visits: true}
	done = func() {}
	if err := sc.prepare(s); err != nil {
		return sn, nil, done, err
	}
	if sc.empty() {
		return sn, nil, done, nil
	}
	// (the scan takes a processor; the caller uses the visits after it
	// gave it back)
	procs := scanProcs.Load()
	if err := procs.acquire(ctx); err != nil {
		return sn, nil, done, fmt.Errorf("memory store visits: %w", err)
	}
	buf := getVisits()
	visits, err = s.collectVisits(ctx, sc, buf.v[:0])
	procs.release()
	return sn, visits, func() { putVisits(buf, visits) }, err
}

var _ tiles.VisitGrouper = (*Store)(nil)

// VisitGroups implements tiles.VisitGrouper: the visits of Visits, put in
// their groups by the dimension's table of the attributes (as a scan's
// rollup entries are) or by their day, without a tiles.Visit each (its
// origin's code, looked up by a report in a map of strings, was a fifth of
// a report's time). The entries of all groups are one new slice, sorted
// by group (a counting sort).
func (s *Store) VisitGroups(ctx context.Context, q tiles.Query, by []tiles.Dim, fn func(int64, []tiles.VisitEntry) error) error {
	if len(by) > 1 {
		return tiles.ErrNotGrouped
	}
	// group returns the index of a visit's group among n, key a group's key
	n, group, key := 1, func(*visit) int { return 0 }, func(int) int64 { return 0 }
	var d0 int64 // DimDate: the first day
	if len(by) == 1 {
		switch by[0] {
		case tiles.DimAge, tiles.DimGender, tiles.DimSpend, tiles.DimNationality, tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion:
			d, err := (&scan{q: &q}).dim(s, by[0])
			if err != nil {
				return err
			}
			n, key = d.n, d.key
			group = func(v *visit) int { return int(d.etab[profOf(v.a, v.n, v.o)>>d.eshift&d.emask]) }
		case tiles.DimWeekday:
			n, key = 7, func(i int) int64 { return int64(i) }
			group = func(v *visit) int { return int(weekday(v.day)) }
		case tiles.DimDate:
			group, key = func(v *visit) int { return int(v.day - d0) }, func(i int) int64 { return d0 + int64(i) }
		default:
			return tiles.ErrNotGrouped
		}
	}
	sn, visits, done, err := s.listVisits(ctx, q)
	defer done()
	if err != nil || len(visits) == 0 {
		return err
	}
	if len(by) == 1 && by[0] == tiles.DimDate {
		last := visits[0].day
		d0 = last
		for i := range visits {
			d0, last = min(d0, visits[i].day), max(last, visits[i].day)
		}
		n = int(last-d0) + 1
	}
	start := make([]int, n+1)
	for i := range visits {
		start[group(&visits[i])+1]++
	}
	for g := 1; g <= n; g++ {
		start[g] += start[g-1]
	}
	next := slices.Clone(start[:n])
	out := make([]tiles.VisitEntry, len(visits))
	vkeys := sn.vkeys
	for i := range visits {
		v := &visits[i]
		g := group(v)
		out[next[g]] = tiles.VisitEntry{Visitor: uint64(v.v), Key: tiles.VisitKey(vkeys[v.v], v.day), Dwell: int32(min(v.last-v.first, math.MaxInt32))}
		next[g]++
	}
	for g := range n {
		if lo, hi := start[g], start[g+1]; lo < hi {
			if err := fn(key(g), out[lo:hi:hi]); err != nil {
				return err
			}
		}
	}
	return nil
}

// weekday is the day of the week of a local date (days since 1970-01-01,
// a Thursday), Sunday 0 as time.Weekday.
func weekday(day int64) time.Weekday {
	return time.Weekday(((day+4)%7 + 7) % 7)
}

// visitBuf is the visits buffer of a Visits call, pooled: a month of a
// zone is hundreds of thousands of visits, and growing a fresh slice to
// hold them (copying it at every growth, into memory the kernel must hand
// over page by page) took most of the call's time.
type visitBuf struct{ v []visit }

var visitPool sync.Pool // *visitBuf

// maxPooledVisits bounds what a pooled buffer keeps (2 M visits, 96 MB).
const maxPooledVisits = 2 << 20

// appendVisit is append that doubles a full slice (append grows a large
// one by a quarter, copying it five times over on the way to its size).
func appendVisit(visits []visit, v visit) []visit {
	if len(visits) == cap(visits) {
		visits = slices.Grow(visits, max(len(visits), 1024))
	}
	return append(visits, v)
}

func getVisits() *visitBuf {
	if b, _ := visitPool.Get().(*visitBuf); b != nil {
		return b
	}
	return &visitBuf{}
}

// putVisits keeps the capacity of visits, the buffer's slice as grown by
// the call, for the next call, unless huge.
func putVisits(b *visitBuf, visits []visit) {
	if cap(visits) <= maxPooledVisits {
		b.v = visits[:0]
		visitPool.Put(b)
	}
}

// collectVisits finds the visits of the scan sc, appended to visits (a
// buffer to reuse, empty).
func (s *Store) collectVisits(ctx context.Context, sc *scan, visits []visit) ([]visit, error) {
	sn := sc.sn
	// merge counts records of one visitor, day and attributes, the first
	// at first and the last at last, to their visit vi
	merge := func(vi *visit, first, last int64, w int64, a tiles.Attrs, nat uint8, o uint16) {
		if first < vi.first {
			vi.first, vi.a, vi.n, vi.o = first, a, nat, o
		} else if first == vi.first && (a != vi.a || nat != vi.n || o != vi.o) { // the attributes of the first record
			c := s.public(sn, &visit{v: vi.v, first: first, a: a, n: nat, o: o})
			if tiles.FirstRecordLess(c, s.public(sn, vi)) {
				vi.a, vi.n, vi.o = a, nat, o
			}
		}
		vi.last = max(vi.last, last)
		vi.count += w
	}
	// The rollups' hours come in time order, so day after day: the visits
	// of the current day are found by visitor in slot (index+1), cleared
	// when the day ends.
	// days[d] are the visits of day d from rollups: visits[d[0]:d[1]]
	var days map[int64][2]int32
	// (local days follow each other in time but where a clock goes back
	// across midnight: then rollups take the records' way below)
	inOrder := true
	for i := 1; i < len(sc.rolls); i++ {
		inOrder = inOrder && sc.hourOf(sc.rolls[i]).day >= sc.hourOf(sc.rolls[i-1]).day
	}
	if len(sc.rolls) > 0 && inOrder {
		days = map[int64][2]int32{}
		sp := getStamp(sn)
		slot := *sp
		day, start := int64(math.MinInt64), 0
		for _, r := range sc.rolls {
			hc, hs := sc.hourOf(r), int64(r.h)*3600
			if hc.day != day {
				for _, vi := range visits[start:] {
					slot[vi.v] = 0
				}
				if start < len(visits) {
					days[day] = [2]int32{int32(start), int32(len(visits))}
				}
				day, start = hc.day, len(visits)
			}
			sc.eachEntry(r, hc, func(pass bool) bool { return !pass }, func(_ *rpart, e *rentry, pass bool) {
				if e.v == 0 || !sc.match(e, pass) {
					return
				}
				first, last := hs+int64(e.first()), hs+int64(e.last())
				if j := slot[e.v]; j != 0 {
					merge(&visits[j-1], first, last, e.weight(), e.attrs(), e.nat(), e.origin())
					return
				}
				visits = appendVisit(visits, visit{v: e.v, day: day, first: first, last: last, count: e.weight(), a: e.attrs(), n: e.nat(), o: e.origin()})
				slot[e.v] = uint32(len(visits))
			})
		}
		for _, vi := range visits[start:] {
			slot[vi.v] = 0
		}
		if start < len(visits) {
			days[day] = [2]int32{int32(start), int32(len(visits))}
		}
		putStamp(sp)
	}
	// Records come in any order: their visits are found in index. (When
	// rollups gave the visits, the few records left are collected in
	// pending and added below, day by day.)
	index := map[uint64]int32{} // visitor << 32 | day (days since 1970 fit) -> visits index
	var pending []visit
	add := func(v uint32, day, first, last int64, w int64, a tiles.Attrs, nat uint8, o uint16) {
		if days != nil {
			pending = append(pending, visit{v: v, day: day, first: first, last: last, count: w, a: a, n: nat, o: o})
			return
		}
		k := uint64(v)<<32 | uint64(uint32(day))
		if i, ok := index[k]; ok {
			merge(&visits[i], first, last, w, a, nat, o)
			return
		}
		index[k] = int32(len(visits))
		visits = appendVisit(visits, visit{v: v, day: day, first: first, last: last, count: w, a: a, n: nat, o: o})
	}
	if !inOrder {
		for _, r := range sc.rolls {
			hc, hs := sc.hourOf(r), int64(r.h)*3600
			sc.eachEntry(r, hc, func(pass bool) bool { return !pass }, func(_ *rpart, e *rentry, pass bool) {
				if e.v != 0 && sc.match(e, pass) {
					add(e.v, hc.day, hs+int64(e.first()), hs+int64(e.last()), e.weight(), e.attrs(), e.nat(), e.origin())
				}
			})
		}
	}
	var err error
	scanBlock := func(_, _ [2]int64, b *block) bool {
		if !sc.overlaps(b) {
			return true
		}
		if err = ctx.Err(); err != nil {
			return false
		}
		inside, ok := sc.span(b)
		if !ok {
			return true
		}
		sc.eachRange(b, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				if b.v[i] == 0 {
					continue
				}
				if _, match := sc.test(b, i, inside); !match {
					continue
				}
				t := int64(b.t[i])
				add(b.v[i], sc.clock.Day(t), t, t, int64(b.w[i]), b.a[i], b.n[i], b.o[i])
			}
		})
		return true
	}
	if sc.whole {
		sn.tree.Scan(scanBlock)
	} else {
		sn.tree.Search([2]int64{sc.area.MinX, sc.area.MinY}, [2]int64{sc.area.MaxX - 1, sc.area.MaxY - 1}, scanBlock)
	}
	if err != nil {
		return visits[:0], fmt.Errorf("memory store visits: %w", err)
	}
	if len(pending) > 0 {
		// as in the rollups' pass: a day's visits by visitor in slot
		slices.SortFunc(pending, func(a, b visit) int { return cmp.Compare(a.day, b.day) })
		sp := getStamp(sn)
		slot := *sp
		for i := 0; i < len(pending); {
			day, added := pending[i].day, len(visits)
			d := days[day]
			for j := d[0]; j < d[1]; j++ {
				slot[visits[j].v] = uint32(j) + 1
			}
			for ; i < len(pending) && pending[i].day == day; i++ {
				p := &pending[i]
				if j := slot[p.v]; j != 0 {
					merge(&visits[j-1], p.first, p.last, p.count, p.a, p.n, p.o)
					continue
				}
				visits = appendVisit(visits, *p)
				slot[p.v] = uint32(len(visits))
			}
			for _, vi := range visits[d[0]:d[1]] {
				slot[vi.v] = 0
			}
			for _, vi := range visits[added:] {
				slot[vi.v] = 0
			}
		}
		putStamp(sp)
	}
	return visits, nil
}
