package tiles

// Valid polygons for tiles: simplification and rounding to the tile grid
// can make a ring cross itself (a narrow inlet whose two shores round to
// the same points), a hole cross its shell, or two islands overlap. GIS
// software rejects such features (GEOS: "Self-intersection"), so every
// polygon of a tile goes through makeValid, in the integer coordinates
// of the tile, with exact arithmetic.

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// ipt is a point of the tile grid.
type ipt struct{ x, y int64 }

type iring []ipt // closed implicitly: the last point is not the first

func toIRing(r orb.Ring) iring {
	out := make(iring, 0, len(r))
	for _, p := range r {
		q := ipt{int64(math.Round(p[0])), int64(math.Round(p[1]))}
		if len(out) > 0 && out[len(out)-1] == q {
			continue
		}
		out = append(out, q)
	}
	for len(out) > 1 && out[0] == out[len(out)-1] {
		out = out[:len(out)-1]
	}
	return out
}

func (r iring) orb() orb.Ring {
	out := make(orb.Ring, len(r)+1)
	for i, p := range r {
		out[i] = orb.Point{float64(p.x), float64(p.y)}
	}
	out[len(r)] = out[0]
	return out
}

// area2 is twice the signed area.
func (r iring) area2() int64 {
	var s int64
	for i := range r {
		j := (i + 1) % len(r)
		s += r[i].x*r[j].y - r[j].x*r[i].y
	}
	return s
}

func cross(o, a, b ipt) int64 { return (a.x-o.x)*(b.y-o.y) - (a.y-o.y)*(b.x-o.x) }

func sign(v int64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// onSegment reports whether p, collinear with a-b, lies within its box.
func onSegment(a, b, p ipt) bool {
	return min(a.x, b.x) <= p.x && p.x <= max(a.x, b.x) && min(a.y, b.y) <= p.y && p.y <= max(a.y, b.y)
}

// strictlyInside reports whether p lies on segment a-b, other than at its
// ends.
func strictlyInside(a, b, p ipt) bool {
	return p != a && p != b && cross(a, b, p) == 0 && onSegment(a, b, p)
}

// properCross reports whether a-b and c-d cross at one point interior to
// both.
func properCross(a, b, c, d ipt) bool {
	d1, d2 := sign(cross(a, b, c)), sign(cross(a, b, d))
	d3, d4 := sign(cross(c, d, a)), sign(cross(c, d, b))
	return d1*d2 < 0 && d3*d4 < 0
}

// clean drops repeated points, spikes (a point whose neighbours are the
// same point, or that doubles back on its segment) and points in the
// middle of a straight line.
func (r iring) clean() iring {
	out := append(iring(nil), r...)
	for changed := true; changed && len(out) >= 3; {
		changed = false
		for i := 0; i < len(out) && len(out) >= 3; {
			n := len(out)
			prev, cur, next := out[(i+n-1)%n], out[i], out[(i+1)%n]
			if cur == prev || cross(prev, cur, next) == 0 {
				out = slices.Delete(out, i, i+1)
				changed = true
				continue
			}
			i++
		}
	}
	if len(out) < 3 {
		return nil
	}
	return out
}

// segment is a ring's edge i: r[i] to r[i+1].
type segment struct {
	a, b       ipt
	ring, edge int
	minX, maxX int64
}

func segments(rings []iring) []segment {
	var out []segment
	for ri, r := range rings {
		for i := range r {
			a, b := r[i], r[(i+1)%len(r)]
			out = append(out, segment{a: a, b: b, ring: ri, edge: i, minX: min(a.x, b.x), maxX: max(a.x, b.x)})
		}
	}
	slices.SortFunc(out, func(p, q segment) int {
		switch {
		case p.minX < q.minX:
			return -1
		case p.minX > q.minX:
			return 1
		}
		return 0
	})
	return out
}

// pairs calls fn for every two segments whose boxes overlap, until it
// returns false.
func pairs(segs []segment, fn func(s, t *segment) bool) {
	for i := range segs {
		s := &segs[i]
		sy0, sy1 := min(s.a.y, s.b.y), max(s.a.y, s.b.y)
		for j := i + 1; j < len(segs) && segs[j].minX <= s.maxX; j++ {
			t := &segs[j]
			if max(t.a.y, t.b.y) < sy0 || min(t.a.y, t.b.y) > sy1 {
				continue
			}
			if !fn(s, t) {
				return
			}
		}
	}
}

// simpleLoops splits a ring into simple rings: where it touches itself it
// is cut into loops; where two of its edges cross, the crossing point
// (rounded to the grid) becomes a vertex of both, and it is cut there.
// The loops keep the ring's direction, so a loop wound the other way is a
// twist the rounding made, which the caller drops.
func (r iring) simpleLoops() []iring {
	work := []iring{r.clean()}
	var out []iring
	for round := 0; len(work) > 0; round++ {
		var next []iring
		for _, l := range work {
			if l == nil {
				continue
			}
			if l.isSimple() {
				out = append(out, l)
				continue
			}
			if round >= 8 {
				continue // could not be untangled: dropped
			}
			for _, part := range splitAtRepeats(l.withMeetings(), nil) {
				if part = part.clean(); part != nil {
					next = append(next, part)
				}
			}
		}
		work = next
	}
	return out
}

// withMeetings returns the ring with a vertex wherever another of its
// edges touches or crosses an edge (crossings rounded to the grid).
func (r iring) withMeetings() iring {
	ins := map[int][]ipt{} // edge → points to insert
	n := len(r)
	pairs(segments([]iring{r}), func(s, t *segment) bool {
		if s.edge == t.edge || (s.edge+1)%n == t.edge || (t.edge+1)%n == s.edge {
			return true // adjacent edges meet at their shared point only (clean removed overlaps)
		}
		for _, p := range []struct {
			seg *segment
			pt  ipt
		}{{s, t.a}, {s, t.b}, {t, s.a}, {t, s.b}} {
			if strictlyInside(p.seg.a, p.seg.b, p.pt) {
				ins[p.seg.edge] = append(ins[p.seg.edge], p.pt)
			}
		}
		if properCross(s.a, s.b, t.a, t.b) {
			if x, ok := intersection(s.a, s.b, t.a, t.b); ok {
				ins[s.edge] = append(ins[s.edge], x)
				ins[t.edge] = append(ins[t.edge], x)
			}
		}
		return true
	})
	var nr iring
	for i, p := range r {
		if len(nr) == 0 || nr[len(nr)-1] != p {
			nr = append(nr, p)
		}
		pts := ins[i]
		slices.SortFunc(pts, func(u, v ipt) int { return cmpI64(dist2(p, u), dist2(p, v)) })
		for _, q := range pts {
			if q != nr[len(nr)-1] && q != r[(i+1)%n] {
				nr = append(nr, q)
			}
		}
	}
	for len(nr) > 1 && nr[0] == nr[len(nr)-1] {
		nr = nr[:len(nr)-1]
	}
	return nr
}

func dist2(a, b ipt) int64 { return (a.x-b.x)*(a.x-b.x) + (a.y-b.y)*(a.y-b.y) }

// intersection is the crossing point of a-b and c-d, rounded to the grid.
func intersection(a, b, c, d ipt) (ipt, bool) {
	den := float64((b.x-a.x)*(d.y-c.y) - (b.y-a.y)*(d.x-c.x))
	if den == 0 {
		return ipt{}, false
	}
	t := float64((c.x-a.x)*(d.y-c.y)-(c.y-a.y)*(d.x-c.x)) / den
	return ipt{int64(math.Round(float64(a.x) + t*float64(b.x-a.x))), int64(math.Round(float64(a.y) + t*float64(b.y-a.y)))}, true
}

// splitAtRepeats cuts a ring at every point it passes twice: each closed
// part is a loop of its own. With one loop only it returns the ring
// itself as the first element; out collects the loops.
func splitAtRepeats(r iring, out []iring) []iring {
	var stack iring
	at := map[ipt]int{}
	for _, p := range r {
		if i, ok := at[p]; ok {
			loop := append(iring(nil), stack[i:]...)
			for _, q := range stack[i+1:] {
				delete(at, q)
			}
			stack = stack[:i+1]
			if len(loop) >= 3 {
				out = append(out, loop)
			}
			continue
		}
		at[p] = len(stack)
		stack = append(stack, p)
	}
	if len(stack) >= 3 {
		out = append([]iring{stack}, out...)
	}
	if len(out) == 0 {
		return []iring{nil}
	}
	return out
}

// isSimple reports whether no two edges of the ring meet but adjacent ones
// at their shared point.
func (r iring) isSimple() bool {
	if len(r) < 3 {
		return false
	}
	ok := true
	n := len(r)
	pairs(segments([]iring{r}), func(s, t *segment) bool {
		if s.edge == t.edge {
			return true
		}
		if (s.edge+1)%n == t.edge || (t.edge+1)%n == s.edge {
			// adjacent: only the shared point (clean removed straight and doubled-back points)
			return true
		}
		if segmentsMeet(s.a, s.b, t.a, t.b) {
			ok = false
		}
		return ok
	})
	return ok
}

// segmentsMeet reports whether two closed segments have a point in common.
func segmentsMeet(a, b, c, d ipt) bool {
	d1, d2 := cross(a, b, c), cross(a, b, d)
	d3, d4 := cross(c, d, a), cross(c, d, b)
	if sign(d1)*sign(d2) < 0 && sign(d3)*sign(d4) < 0 {
		return true
	}
	return d1 == 0 && onSegment(a, b, c) || d2 == 0 && onSegment(a, b, d) ||
		d3 == 0 && onSegment(c, d, a) || d4 == 0 && onSegment(c, d, b)
}

// conflict reports whether two rings cross or share a stretch of edge
// (touching at single points is allowed between rings).
func conflict(p, q iring) bool {
	found := false
	pairs(segments([]iring{p, q}), func(s, t *segment) bool {
		if s.ring == t.ring {
			return true
		}
		if properCross(s.a, s.b, t.a, t.b) {
			found = true
		} else if cross(s.a, s.b, t.a) == 0 && cross(s.a, s.b, t.b) == 0 {
			// collinear: overlapping by more than a point?
			if overlapLength(s.a, s.b, t.a, t.b) {
				found = true
			}
		} else {
			// a vertex of one in the middle of the other is a touch
		}
		return !found
	})
	return found
}

func overlapLength(a, b, c, d ipt) bool {
	if a.x != b.x || c.x != d.x {
		lo, hi := max(min(a.x, b.x), min(c.x, d.x)), min(max(a.x, b.x), max(c.x, d.x))
		return lo < hi
	}
	lo, hi := max(min(a.y, b.y), min(c.y, d.y)), min(max(a.y, b.y), max(c.y, d.y))
	return lo < hi
}

// inside reports whether p lies inside ring r (not on it): -1 outside, 0
// on the boundary, 1 inside.
func (r iring) locate(p ipt) int {
	in := false
	for i := range r {
		a, b := r[i], r[(i+1)%len(r)]
		if cross(a, b, p) == 0 && onSegment(a, b, p) {
			return 0
		}
		if (a.y > p.y) != (b.y > p.y) {
			// x of the edge at p.y compared with p.x, exactly
			lhs := (p.x - a.x) * (b.y - a.y)
			rhs := (b.x - a.x) * (p.y - a.y)
			if b.y-a.y > 0 && lhs < rhs || b.y-a.y < 0 && lhs > rhs {
				in = !in
			}
		}
	}
	if in {
		return 1
	}
	return -1
}

// within reports whether ring p lies inside ring q, judged by its first
// vertex not on q (rings that do not conflict are inside or outside each
// other as a whole).
func (p iring) within(q iring) bool {
	for _, v := range p {
		switch q.locate(v) {
		case 1:
			return true
		case -1:
			return false
		}
	}
	// every vertex on q: inside when p is smaller and a midpoint is inside
	a, b := p[0], p[1]
	return q.locate(ipt{(a.x + b.x) / 2, (a.y + b.y) / 2}) == 1
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// makeValid returns polygons of integer coordinates that are valid in the
// OGC sense, wound as MVT wants (exterior rings with positive area in tile
// coordinates, holes negative): rings are split where they touch or cross
// themselves (twisted parts dropped), holes that cross their shell or
// another hole are dropped, and of two polygons that overlap the smaller
// is dropped. Valid input comes out unchanged but for rounding, repeated
// points and points in the middle of a straight line.
func makeValid(mp orb.MultiPolygon) orb.MultiPolygon {
	var shells, holes []iring
	for _, poly := range mp {
		for ri, ring := range poly {
			r := toIRing(ring)
			if len(r) < 3 {
				continue
			}
			a := r.area2()
			if a == 0 {
				continue
			}
			want := ri == 0 // shells positive, holes negative
			if (a > 0) != want {
				slices.Reverse(r)
			}
			for _, l := range r.simpleLoops() {
				la := l.area2()
				switch {
				case want && la > 0:
					shells = append(shells, l)
				case !want && la < 0:
					holes = append(holes, l)
				}
			}
		}
	}
	// biggest first: of two that conflict, the smaller goes
	bySize := func(a, b iring) int { return cmpI64(abs64(b.area2()), abs64(a.area2())) }
	slices.SortStableFunc(shells, bySize)
	slices.SortStableFunc(holes, bySize)
	type polygon struct {
		shell iring
		holes []iring
	}
	var kept []polygon
	// Shells: one inside another's hole would be an island in a lake, but
	// the holes are not placed yet; shells inside shells are dropped
	// unless a hole of the bigger separates them (checked once holes are
	// placed, below).
	var inner []iring
	for _, s := range shells {
		ok := true
		nested := false
		for _, k := range kept {
			if conflict(s, k.shell) {
				ok = false
				break
			}
			if s.within(k.shell) {
				nested = true
			}
		}
		if !ok {
			continue
		}
		if nested {
			inner = append(inner, s)
			continue
		}
		kept = append(kept, polygon{shell: s})
	}
	comps := make([][]int, len(kept)) // per polygon: component of its shell (0) and holes
	for _, h := range holes {
		for i := range kept {
			k := &kept[i]
			if !h.within(k.shell) {
				continue
			}
			// A hole in no shell, or crossing its shell or another hole, is
			// dropped; so is one that would cut the interior in two by
			// touching the rings it meets (the shell, and holes touching
			// each other) at two points or more.
			ok := !conflict(h, k.shell)
			for _, o := range k.holes {
				if !ok {
					break
				}
				if conflict(h, o) || h.within(o) || o.within(h) {
					ok = false
				}
			}
			if ok {
				if comps[i] == nil {
					comps[i] = []int{0}
				}
				comp := comps[i]
				touched := map[int]int{} // component → touch points
				for ri, o := range append([]iring{k.shell}, k.holes...) {
					if n := len(touchPoints(h, o)); n > 0 {
						touched[find(comp, ri)] += n
					}
				}
				for _, n := range touched {
					if n > 1 {
						ok = false
					}
				}
				if ok {
					comp = append(comp, len(comp))
					for c := range touched {
						comp[c] = len(comp) - 1
					}
					comps[i] = comp
					k.holes = append(k.holes, h)
				}
			}
			break
		}
	}
	// islands in lakes: a nested shell that lies in a hole of its
	// container and conflicts with nothing
	for _, s := range inner {
		ok := false
		for _, k := range kept {
			for _, h := range k.holes {
				if s.within(h) && !conflict(s, h) {
					ok = true
				}
			}
		}
		for _, k := range kept {
			if !ok {
				break
			}
			if conflict(s, k.shell) {
				ok = false
			}
			for _, h := range k.holes {
				if !s.within(h) && conflict(s, h) {
					ok = false
				}
			}
		}
		if ok {
			for _, k := range kept {
				for _, o := range k.holes {
					if conflict(s, o) && !s.within(o) {
						ok = false
					}
				}
			}
		}
		if ok {
			kept = append(kept, polygon{shell: s})
		}
	}
	out := make(orb.MultiPolygon, 0, len(kept))
	for _, k := range kept {
		p := orb.Polygon{k.shell.orb()}
		for _, h := range k.holes {
			p = append(p, h.orb())
		}
		out = append(out, p)
	}
	return out
}

// find is the root of ring i in a union-find forest.
func find(parent []int, i int) int {
	for parent[i] != i {
		parent[i] = parent[parent[i]]
		i = parent[i]
	}
	return i
}

// touchPoints returns the distinct points where two rings that do not
// conflict meet.
func touchPoints(p, q iring) []ipt {
	var out []ipt
	pairs(segments([]iring{p, q}), func(s, t *segment) bool {
		if s.ring == t.ring || !segmentsMeet(s.a, s.b, t.a, t.b) {
			return true
		}
		for _, c := range []struct{ a, b, p ipt }{{s.a, s.b, t.a}, {s.a, s.b, t.b}, {t.a, t.b, s.a}, {t.a, t.b, s.b}} {
			if cross(c.a, c.b, c.p) == 0 && onSegment(c.a, c.b, c.p) && !slices.Contains(out, c.p) {
				out = append(out, c.p)
			}
		}
		return true
	})
	return out
}
