package demo

import (
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"
)

// path is a walk as a polyline with cumulative lengths (metres). Its
// arrays are fixed so that a generator can reuse one without allocating.
type path struct {
	pts        [32]orb.Point
	cum        [32]float64
	n          int
	mLon, mLat float64 // metres per degree
}

func (p *path) reset() { p.n = 0 }

func (p *path) add(q orb.Point) {
	if p.n == len(p.pts) {
		return
	}
	if p.n == 0 {
		p.cum[0] = 0
	} else {
		a := p.pts[p.n-1]
		dx, dy := (q[0]-a[0])*p.mLon, (q[1]-a[1])*p.mLat
		p.cum[p.n] = p.cum[p.n-1] + math.Hypot(dx, dy)
	}
	p.pts[p.n] = q
	p.n++
}

// at returns the point at fraction f (0..1) of the path's length.
func (p *path) at(f float64) orb.Point {
	if p.n == 1 {
		return p.pts[0]
	}
	d := f * p.cum[p.n-1]
	for i := 1; i < p.n; i++ {
		if d <= p.cum[i] || i == p.n-1 {
			seg := p.cum[i] - p.cum[i-1]
			if seg <= 0 {
				return p.pts[i]
			}
			t := min(max((d-p.cum[i-1])/seg, 0), 1)
			a, b := p.pts[i-1], p.pts[i]
			return orb.Point{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t}
		}
	}
	return p.pts[p.n-1]
}

// tour lays out an out-and-back walk of the town's route from entry e
// to the axis waypoint target, with a detour to the museum when museum is
// set.
func (p *path) tour(s *spec, e *entry, target int, museum bool) {
	p.reset()
	p.mLon, p.mLat = s.mLon, s.mLat
	axis, piazza := s.route.axis, s.route.piazza
	for _, q := range e.lead {
		p.add(q)
	}
	from := e.join
	step := 1
	if target < from {
		step = -1
	}
	for i := from; ; i += step {
		p.add(axis[i])
		if i == piazza && museum {
			p.add(s.route.museum)
			p.add(axis[piazza])
		}
		if i == target {
			break
		}
	}
	// and back
	for i := target - step; ; i -= step {
		if (step > 0 && i < from) || (step < 0 && i > from) {
			break
		}
		p.add(axis[i])
	}
	for i := len(e.lead) - 1; i >= 0; i-- {
		p.add(e.lead[i])
	}
}

// jitter moves q by up to about r metres (a triangular distribution on
// each axis), the scatter of positions around the path.
func (s *spec) jitter(rng *rand.Rand, q orb.Point, r float64) orb.Point {
	dx := (rng.Float64() + rng.Float64() - 1) * r
	dy := (rng.Float64() + rng.Float64() - 1) * r
	return orb.Point{q[0] + dx/s.mLon, q[1] + dy/s.mLat}
}

// round6 rounds a coordinate to 6 decimals (~0.1 m), as the CSV writes it,
// so that generated and re-read records are equal.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// ring is a polygon's outer ring with its bound, for fast point-in-polygon
// tests (planar.RingContains recomputes the bound on every call).
type ring struct {
	pts orb.Ring
	b   orb.Bound
}

func newRing(r orb.Ring) ring { return ring{pts: r, b: r.Bound()} }

// contains reports whether p is strictly inside the ring (even-odd rule).
func (r *ring) contains(p orb.Point) bool {
	if !r.b.Contains(p) {
		return false
	}
	in := false
	pts := r.pts
	for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
		a, b := pts[i], pts[j]
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0]-a[0])*(p[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}
