package stats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/flowtiles/flowtiles/tiles"
)

// visitGroup collects the visits of one row: a visitor and a dwell each,
// summarised once all are in (sorting beats maps here by a wide margin).
// They are kept in chunks that double in size up to maxChunk, and a chunk
// once full is never copied: growing one slice took five times the
// memory of its visits (Go grows a large slice by a quarter) and, copying
// it into fresh memory, a fifth of a report's time.
type visitGroup struct {
	// chunks are each full but the last (but for a total made of its
	// rows' chunks, and for the chunks a tiles.VisitGrouper handed over)
	chunks [][]visitEntry
	n      int // entries in all
	// tallied is the group's tally once made (tallyVisits)
	tallied *tiles.VisitTally
}

// maxChunk is the largest chunk of a visitGroup, in entries (64 kB).
const maxChunk = 4096

// visitEntry is a visit of a group: its visitor, tiles.VisitKey and
// dwell in seconds.
type visitEntry = tiles.VisitEntry

// visitTally is the visits of a period: in total and by row key.
type visitTally struct {
	all  visitGroup
	rows map[int64]*visitGroup
	// allTally is all's tally when tallyVisits made it (nil: not yet)
	allTally *tiles.VisitTally
}

// totalTally returns the tally of every visit.
func (t *visitTally) totalTally() tiles.VisitTally {
	if t == nil {
		return tiles.VisitTally{}
	}
	if t.allTally != nil {
		return *t.allTally
	}
	return t.all.tally()
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
	g.push(visitEntry{Visitor: v.Visitor, Key: tiles.VisitKey(v.Key, v.Day), Dwell: int32(min(v.Last-v.First, math.MaxInt32))})
}

func (g *visitGroup) push(e visitEntry) {
	k := len(g.chunks)
	if k == 0 || len(g.chunks[k-1]) == cap(g.chunks[k-1]) {
		size := 16
		if k > 0 {
			size = min(2*cap(g.chunks[k-1]), maxChunk)
		}
		g.chunks = append(g.chunks, make([]visitEntry, 0, size))
		k++
	}
	g.chunks[k-1] = append(g.chunks[k-1], e)
	g.n++
}

// tally sums up the group's visits and their keys for tiles.Privacy.Visits.
// A visitor has at most one visit per day in a group, so its visits are
// its days.
func (g *visitGroup) tally() tiles.VisitTally {
	if g == nil || g.n == 0 {
		return tiles.VisitTally{}
	}
	if g.tallied != nil {
		return *g.tallied
	}
	s, _ := g.tallyInto(make([]int64, g.n), nil)
	return s
}

// tallyInto is tally with the group's dwell times left in dwell (g.n of
// them, in any order) and, with seen (a bitset over visitor ids, which it
// must cover), each visitor marked in seen: again reports a visitor that
// was marked already.
func (g *visitGroup) tallyInto(dwell []int64, seen []uint64) (s tiles.VisitTally, again bool) {
	es := g.byVisitor()
	for i := 0; i < len(es); {
		j, bands := i, 0
		var keys uint32 // of this visitor's visits
		for ; j < len(es) && es[j].Visitor == es[i].Visitor; j++ {
			b := band(int64(es[j].Dwell))
			bands |= 1 << b
			s.BandVisits[b]++
			s.BandKeys[b] += es[j].Key
			keys += es[j].Key
			dwell[j] = int64(es[j].Dwell)
		}
		if seen != nil {
			w, bit := es[i].Visitor/64, uint64(1)<<(es[i].Visitor%64)
			again = again || seen[w]&bit != 0
			seen[w] |= bit
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
	s.MedianDwell = median(dwell[:len(es)])
	return s, again
}

// addTally adds the counts and keys of o to s (not the median).
func addTally(s *tiles.VisitTally, o *tiles.VisitTally) {
	s.Visits += o.Visits
	s.Visitors += o.Visitors
	s.Repeat += o.Repeat
	for b := range s.BandVisits {
		s.BandVisits[b] += o.BandVisits[b]
		s.BandVisitors[b] += o.BandVisitors[b]
		s.BandKeys[b] += o.BandKeys[b]
	}
	s.VisitsKey += o.VisitsKey
	s.RepeatKey += o.RepeatKey
}

// tallyRows tallies each row of t and the total. When no visitor has
// visits in two rows (a visitor's origin, nationality, age… are the same
// from visit to visit: nearly always), the total's counts and keys are the
// sums of the rows', and its median dwell the median of the rows' dwell
// times together: the total's visits need no sort of their own (by
// origin, a month of the centre: 270,000 visits). The rows are tallied in
// two halves side by side, each marking its visitors in a bitset; a
// visitor met twice in a half, or in both, makes the total tallied from
// its own visits, as it is when visitor ids are too large for a bitset
// (sources other than the memory store give 64-bit hashes).
func (t *visitTally) tallyRows() {
	rows := make([]*visitGroup, 0, len(t.rows))
	var top uint64
	for _, g := range t.rows {
		// Every visit is in one row: the total's visits are the rows'
		// chunks (only read from here on), not a second copy of each.
		t.all.chunks = append(t.all.chunks, g.chunks...)
		t.all.n += g.n
		rows = append(rows, g)
		for _, c := range g.chunks {
			for i := range c {
				top = max(top, c[i].Visitor)
			}
		}
	}
	words := top/64 + 1
	if words > uint64(t.all.n) { // a bitset larger than the dwell times
		var total sync.WaitGroup
		total.Go(func() {
			all := t.all.tally()
			t.allTally = &all
		})
		for _, g := range rows {
			tl := g.tally()
			g.tallied = &tl
		}
		total.Wait()
		return
	}
	dwell := make([]int64, t.all.n)
	half, n := 0, 0
	for half < len(rows) && 2*n < t.all.n {
		n += rows[half].n
		half++
	}
	seen := [2][]uint64{make([]uint64, words), make([]uint64, words)}
	var again [2]bool
	part := func(h int, rows []*visitGroup, off int) {
		for _, g := range rows {
			tl, a := g.tallyInto(dwell[off:off+g.n], seen[h])
			g.tallied = &tl
			again[h] = again[h] || a
			off += g.n
		}
	}
	var other sync.WaitGroup
	other.Go(func() { part(1, rows[half:], n) })
	part(0, rows[:half], 0)
	other.Wait()
	twice := again[0] || again[1]
	for w := range seen[0] {
		twice = twice || seen[0][w]&seen[1][w] != 0
	}
	if twice {
		all := t.all.tally()
		t.allTally = &all
		return
	}
	var all tiles.VisitTally
	for _, g := range rows {
		addTally(&all, g.tallied)
	}
	all.MedianDwell = median(dwell)
	t.allTally = &all
}

// byVisitor returns the group's entries in one new slice, those of each
// visitor next to each other (sorted by visitor): a least-significant-digit
// radix sort over the bytes in which visitors differ (three for a store's
// dense ids), linear where a comparison sort of a month's visits was a
// tenth of a report's time. The group is left as it was.
func (g *visitGroup) byVisitor() []visitEntry {
	and, or := ^uint64(0), uint64(0)
	for _, c := range g.chunks {
		for i := range c {
			and &= c[i].Visitor
			or |= c[i].Visitor
		}
	}
	varies := and ^ or // the bits in which some visitors differ
	out := make([]visitEntry, g.n)
	if g.n < 256 || varies == 0 {
		n := 0
		for _, c := range g.chunks {
			n += copy(out[n:], c)
		}
		if varies != 0 {
			slices.SortFunc(out, func(a, b visitEntry) int { return cmp.Compare(a.Visitor, b.Visitor) })
		}
		return out
	}
	// the first pass reads the chunks, the others one buffer into the other
	bufs, cur := [2][]visitEntry{out, nil}, -1 // cur: the buffer of the last pass
	for shift := uint(0); shift < 64; shift += 8 {
		if varies>>shift&0xff == 0 {
			continue
		}
		src := g.chunks
		if cur >= 0 {
			src = bufs[cur : cur+1]
		}
		var count [256]int
		for _, c := range src {
			for i := range c {
				count[c[i].Visitor>>shift&0xff]++
			}
		}
		pos := 0
		for d := range count {
			count[d], pos = pos, pos+count[d]
		}
		next := 0
		if cur == 0 {
			next = 1
		}
		if bufs[next] == nil {
			bufs[next] = make([]visitEntry, g.n)
		}
		dst := bufs[next]
		for _, c := range src {
			for i := range c {
				d := c[i].Visitor >> shift & 0xff
				dst[count[d]] = c[i]
				count[d]++
			}
		}
		cur = next
	}
	return bufs[cur]
}

// tallyVisits gets the visits of q once, grouped by the source when it
// can (tiles.VisitGrouper) or listed, and tallies them in total and, when
// dim has visit figures, by row.
func (s *Service) tallyVisits(ctx context.Context, q tiles.Query, dim *dimension) (*visitTally, error) {
	t := &visitTally{rows: map[int64]*visitGroup{}}
	byRow := dim != nil && dim.visits
	listed := true
	if vg, ok := s.visits.(tiles.VisitGrouper); ok {
		var by []tiles.Dim
		if byRow {
			by = []tiles.Dim{dim.dim}
		}
		err := vg.VisitGroups(ctx, q, by, func(k int64, vs []visitEntry) error {
			g := &t.all
			if byRow {
				if g = t.rows[k]; g == nil {
					g = &visitGroup{}
					t.rows[k] = g
				}
			}
			g.chunks = append(g.chunks, vs)
			g.n += len(vs)
			return nil
		})
		switch {
		case err == nil:
			listed = false
		case !errors.Is(err, tiles.ErrNotGrouped):
			return nil, fmt.Errorf("stats: grouping visits: %w", err)
		}
	}
	if listed {
		if err := s.listVisits(ctx, q, dim, t); err != nil {
			return nil, err
		}
	}
	// The tallies are the rest of the report's work on visits and need
	// nothing else: they are made here, beside the groupings if those are
	// not done yet, rather than after them (by origin at 10 M, a month of
	// the centre: the total's took 9-11 ms, then the rows').
	if byRow {
		t.tallyRows()
		return t, nil
	}
	all := t.all.tally()
	t.allTally = &all
	return t, nil
}

// listVisits puts the visits of q, listed by the source, in t: in total
// or, when dim has visit figures, by row.
func (s *Service) listVisits(ctx context.Context, q tiles.Query, dim *dimension, t *visitTally) error {
	byRow := dim != nil && dim.visits
	group := func(v *tiles.Visit) *visitGroup {
		k := dim.visitKey(v, s.origins)
		g := t.rows[k]
		if g == nil {
			g = &visitGroup{}
			t.rows[k] = g
		}
		return g
	}
	// Rows of origins (municipalities, provinces, regions) find their
	// group by the origin's code in one lookup, not two.
	var byOrigin map[string]*visitGroup
	if byRow && dim.fromOrigin() {
		byOrigin = map[string]*visitGroup{}
	}
	err := s.visits.Visits(ctx, q, func(v tiles.Visit) error {
		switch {
		case !byRow:
			t.all.add(&v)
		case byOrigin != nil:
			g := byOrigin[v.Origin]
			if g == nil {
				g = group(&v)
				byOrigin[v.Origin] = g
			}
			g.add(&v)
		case byRow:
			group(&v).add(&v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stats: listing visits: %w", err)
	}
	return nil
}

// median returns the median of xs (the mean of the two middle values for
// an even count), reordering xs; 0 for none.
func median(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := len(xs) / 2
	if len(xs) >= minBucketSelect {
		if below, at, ok := bucketMiddle(xs, m); ok {
			if len(xs)%2 == 1 {
				return float64(at)
			}
			return float64(below+at) / 2
		}
	}
	selectNth(xs, m)
	if len(xs)%2 == 1 {
		return float64(xs[m])
	}
	// xs[:m] holds the m smallest: the other middle value is their largest
	return float64(slices.Max(xs[:m])+xs[m]) / 2
}

// minBucketSelect is the least count of values whose median bucketMiddle
// finds (a month of a zone's visits: 270,000 dwell times, where
// selectNth took 5 ms of a report's CPU).
const minBucketSelect = 4096

// bucketMiddle returns the m-1-th and m-th smallest of xs (counting from
// 0; m ≥ 1) by a histogram of the values' high bits (4,096 buckets): the
// values of the bucket or two that hold them are all that is then
// selected among, so xs is read four times and not reordered. ok is false
// for a value outside [0, 2^31) (a dwell time is within a day).
func bucketMiddle(xs []int64, m int) (below, at int64, ok bool) {
	var or int64
	for _, x := range xs {
		if x < 0 || x >= 1<<31 {
			return 0, 0, false
		}
		or |= x
	}
	shift := max(bits.Len64(uint64(or))-12, 0)
	var count [4096]int32
	for _, x := range xs {
		count[x>>shift]++
	}
	// the buckets of the m-1-th and m-th values, and the count before the first
	lo, before := 0, 0
	for before+int(count[lo]) < m {
		before += int(count[lo])
		lo++
	}
	hi, upto := lo, before+int(count[lo])
	for upto <= m {
		hi++
		upto += int(count[hi])
	}
	mid := make([]int64, 0, upto-before)
	for _, x := range xs {
		if b := int(x >> shift); b >= lo && b <= hi {
			mid = append(mid, x)
		}
	}
	k := m - before // mid[k-1] and mid[k], once selected
	selectNth(mid, k)
	return slices.Max(mid[:k]), mid[k], true
}

// selectNth reorders xs so that xs[k] is the value a sort would put there,
// with no larger value before it and no smaller one after it (quickselect:
// linear on average where sorting a month's dwell times was a tenth of a
// report's time). Past a depth that random data does not reach it sorts
// what is left, so that it is never worse than a sort.
func selectNth(xs []int64, k int) {
	lo, hi := 0, len(xs) // xs[k] is within xs[lo:hi]
	for depth := 0; hi-lo > 16; depth++ {
		if depth > 64 {
			slices.Sort(xs[lo:hi])
			return
		}
		// median of three as the pivot
		a, b, c := xs[lo], xs[lo+(hi-lo)/2], xs[hi-1]
		p := max(min(a, b), min(max(a, b), c))
		// three-way partition: < p, == p, > p
		lt, i, gt := lo, lo, hi
		for i < gt {
			switch x := xs[i]; {
			case x < p:
				xs[lt], xs[i] = x, xs[lt]
				lt++
				i++
			case x > p:
				gt--
				xs[gt], xs[i] = x, xs[gt]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return // xs[lt:gt] are all p
		}
	}
	slices.Sort(xs[lo:hi])
}
