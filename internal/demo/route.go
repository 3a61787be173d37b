package demo

import (
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"
)

// Waypoints of a walk through the historic centre, north to south along
// the corso: the car park below Porta Sant'Angelo, the gate, the corso,
// Piazza dei Consoli, the corso again, Porta Perugina, the south car park.
var axis = [...]orb.Point{
	{12.4182, 42.98575}, // 0 parcheggio-nord
	{12.4179, 42.98485}, // 1 porta-sant-angelo
	{12.41785, 42.9842}, // 2 corso, north
	{12.41775, 42.9835}, // 3 corso
	{12.4177, 42.9826},  // 4 piazza-dei-consoli
	{12.4176, 42.9818},  // 5 corso, south
	{12.41745, 42.9811}, // 6 corso
	{12.4174, 42.98045}, // 7 porta-perugina
	{12.4171, 42.9796},  // 8 parcheggio-sud
}

const piazza = 4

var (
	sanFrancesco = orb.Point{12.41845, 42.9825} // largo-san-francesco, the museum
	westPark     = orb.Point{12.4156, 42.98225} // parcheggio-ovest
	westLane     = orb.Point{12.4166, 42.9824}  // the lane from the west car park to the piazza
	// the market's stalls: the north car park.
	marketMin = orb.Point{12.4174, 42.98545}
	marketMax = orb.Point{12.4190, 42.98605}
)

// Where visits start: a car park or a gate on foot.
const (
	entryNorthPark = iota
	entrySouthPark
	entryWestPark
	entryNorthGate
	entrySouthGate
)

var (
	entriesVisitor = newChoice(0.40, 0.22, 0.15, 0.12, 0.11)
	entriesRegular = newChoice(0.25, 0.15, 0.10, 0.25, 0.25)
)

// metres per degree at the town's latitude.
var (
	mLat = 111_200.0
	mLon = 111_320.0 * math.Cos(town[1]*math.Pi/180)
)

// path is a walk as a polyline with cumulative lengths (metres). Its
// arrays are fixed so that a generator can reuse one without allocating.
type path struct {
	pts [32]orb.Point
	cum [32]float64
	n   int
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
		dx, dy := (q[0]-a[0])*mLon, (q[1]-a[1])*mLat
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

// tour lays out an out-and-back walk from entry to the axis waypoint
// target, with a detour to the museum when museum is set.
func (p *path) tour(entry, target int, museum bool) {
	p.reset()
	var from int
	switch entry {
	case entryNorthPark:
		from = 0
	case entrySouthPark:
		from = len(axis) - 1
	case entryNorthGate:
		from = 1
	case entrySouthGate:
		from = len(axis) - 2
	case entryWestPark:
		p.add(westPark)
		p.add(westLane)
		from = piazza
	}
	step := 1
	if target < from {
		step = -1
	}
	for i := from; ; i += step {
		p.add(axis[i])
		if i == piazza && museum {
			p.add(sanFrancesco)
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
	if entry == entryWestPark {
		p.add(westLane)
		p.add(westPark)
	}
}

// jitter moves q by up to about r metres (a triangular distribution on
// each axis), the scatter of positions around the path.
func jitter(rng *rand.Rand, q orb.Point, r float64) orb.Point {
	dx := (rng.Float64() + rng.Float64() - 1) * r
	dy := (rng.Float64() + rng.Float64() - 1) * r
	return orb.Point{q[0] + dx/mLon, q[1] + dy/mLat}
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
