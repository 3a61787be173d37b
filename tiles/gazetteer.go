package tiles

import (
	"container/list"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/clip/smartclip"
	"github.com/paulmach/orb/planar"
	"github.com/paulmach/orb/simplify"
	"github.com/tidwall/rtree"
)

// Gazetteer indexes reference areas for tiles: by level and key, and by
// position (an R-tree of their bounds in world coordinates). It also caches
// their geometry cut to tiles, which does not depend on any filter. It is
// safe for concurrent use; it never modifies the Places it was given.
//
// A gazetteer made by With shares its base's places, indexes and cut
// geometry, and adds places of other levels (a town's zones): a server of
// many towns keeps one copy of the reference areas.
type Gazetteer struct {
	// base holds the places before off (nil: none); they keep their
	// indexes here, and their levels' indexes and cut geometry are
	// base's.
	base   *Gazetteer
	off    int32
	places []Place            // place off+i is places[i]
	world  []orb.MultiPolygon // places[i].Shape in world coordinates
	bounds []Rect
	index  map[Level]*rtree.RTreeGN[int64, int32]
	byKey  map[Level]map[int64]int32
	byCode map[Level]map[string]int32

	mu    sync.Mutex
	cache *lru[cutKey, []cutPlace]
}

type cutKey struct {
	level Level
	tile  TileID
}

// cutPlace is a place's geometry in one tile's extent coordinates.
type cutPlace struct {
	place int32
	shape orb.MultiPolygon
}

// NewGazetteer indexes places (which it owns from now on).
func NewGazetteer(places []Place) *Gazetteer {
	g := &Gazetteer{
		index:  map[Level]*rtree.RTreeGN[int64, int32]{},
		byKey:  map[Level]map[int64]int32{},
		byCode: map[Level]map[string]int32{},
		cache:  newLRU[cutKey, []cutPlace](cutCacheBytes, cutBytes),
	}
	g.add(places)
	return g
}

// With returns a gazetteer of g's places and places (which it owns from
// now on), sharing g's: their indexes, geometry and cut geometry are g's,
// not copies. places should be of levels g has none of (a town's zones
// over the reference areas); where one is not, the result is a gazetteer
// of its own, a copy.
func (g *Gazetteer) With(places []Place) *Gazetteer {
	for i := range places {
		if g.index[places[i].Level] != nil {
			all := make([]Place, 0, int(g.off)+len(g.places)+len(places))
			for j := range g.off + int32(len(g.places)) {
				all = append(all, *g.place(j))
			}
			return NewGazetteer(append(all, places...))
		}
	}
	n := &Gazetteer{
		base:   g,
		off:    g.off + int32(len(g.places)),
		index:  maps.Clone(g.index),
		byKey:  maps.Clone(g.byKey),
		byCode: maps.Clone(g.byCode),
		cache:  newLRU[cutKey, []cutPlace](cutCacheBytes, cutBytes),
	}
	n.add(places)
	return n
}

// add indexes places as g's own, after its base's.
func (g *Gazetteer) add(places []Place) {
	g.places = places
	g.world = make([]orb.MultiPolygon, len(places))
	g.bounds = make([]Rect, len(places))
	for i := range places {
		p := &places[i]
		mp := make(orb.MultiPolygon, len(p.Shape))
		b := Rect{MinX: math.MaxInt64, MinY: math.MaxInt64, MaxX: math.MinInt64, MaxY: math.MinInt64}
		for pi, poly := range p.Shape {
			mp[pi] = make(orb.Polygon, len(poly))
			for ri, ring := range poly {
				r := make(orb.Ring, len(ring))
				for k, pt := range ring {
					x, y := worldFloat(pt[0], pt[1])
					r[k] = orb.Point{x, y}
					b.MinX, b.MaxX = min(b.MinX, int64(math.Floor(x))), max(b.MaxX, int64(math.Ceil(x))+1)
					b.MinY, b.MaxY = min(b.MinY, int64(math.Floor(y))), max(b.MaxY, int64(math.Ceil(y))+1)
				}
				mp[pi][ri] = r
			}
		}
		if len(p.Shape) == 0 { // a place known only by its point
			w := Project(p.Point[0], p.Point[1])
			b = Rect{int64(w.X), int64(w.Y), int64(w.X) + 1, int64(w.Y) + 1}
		}
		g.world[i], g.bounds[i] = mp, b
		tr := g.index[p.Level]
		if tr == nil {
			tr = &rtree.RTreeGN[int64, int32]{}
			g.index[p.Level] = tr
			g.byKey[p.Level] = map[int64]int32{}
			g.byCode[p.Level] = map[string]int32{}
		}
		id := g.off + int32(i)
		tr.Insert([2]int64{b.MinX, b.MinY}, [2]int64{b.MaxX - 1, b.MaxY - 1}, id)
		g.byKey[p.Level][p.Key] = id
		g.byCode[p.Level][p.Code] = id
	}
}

// place returns place i (its base's below off).
func (g *Gazetteer) place(i int32) *Place {
	if i < g.off {
		return g.base.place(i)
	}
	return &g.places[i-g.off]
}

// boundsOf returns the world rectangle of place i.
func (g *Gazetteer) boundsOf(i int32) Rect {
	if i < g.off {
		return g.base.boundsOf(i)
	}
	return g.bounds[i-g.off]
}

// worldOf returns the shape of place i in world coordinates.
func (g *Gazetteer) worldOf(i int32) orb.MultiPolygon {
	if i < g.off {
		return g.base.worldOf(i)
	}
	return g.world[i-g.off]
}

func worldFloat(lon, lat float64) (float64, float64) {
	lat = max(min(lat, MaxLat), -MaxLat)
	x := (lon + 180) / 360
	s := math.Sin(lat * math.Pi / 180)
	y := 0.5 - math.Log((1+s)/(1-s))/(4*math.Pi)
	return x * float64(WorldSize), y * float64(WorldSize)
}

// Place returns the place of a level with a group key.
func (g *Gazetteer) Place(l Level, key int64) (*Place, bool) {
	i, ok := g.byKey[l][key]
	if !ok {
		return nil, false
	}
	return g.place(i), true
}

// ByCode returns the place of a level with a code.
func (g *Gazetteer) ByCode(l Level, code string) (*Place, bool) {
	i, ok := g.byCode[l][code]
	if !ok {
		return nil, false
	}
	return g.place(i), true
}

// Places returns every place of a level, in the order given to NewGazetteer.
func (g *Gazetteer) Places(l Level) []*Place {
	var out []*Place
	if g.base != nil {
		out = g.base.Places(l)
	}
	for i := range g.places {
		if g.places[i].Level == l {
			out = append(out, &g.places[i])
		}
	}
	return out
}

// Bounds returns the world rectangle of a place.
func (g *Gazetteer) Bounds(p *Place) Rect {
	i, ok := g.byCode[p.Level][p.Code]
	if !ok {
		return Rect{}
	}
	return g.boundsOf(i)
}

// cutCacheBytes bounds the memory of cut geometry kept for reuse.
const cutCacheBytes = 64 << 20

func cutBytes(cs []cutPlace) int {
	n := 64
	for _, c := range cs {
		for _, p := range c.shape {
			for _, r := range p {
				n += 16*len(r) + 24
			}
		}
	}
	return n
}

// Buffer is how far (in extent units) geometry extends past a tile's edge.
const Buffer = 64

// cut returns the places of a level that overlap a tile, with their shapes
// projected, simplified and clipped to the tile (extent coordinates, with
// Buffer). The result is shared: callers must not modify it.
func (g *Gazetteer) cut(l Level, t TileID) []cutPlace {
	if g.base != nil && g.base.index[l] != nil {
		return g.base.cut(l, t) // the same places, the same indexes
	}
	k := cutKey{l, t}
	g.mu.Lock()
	if v, ok := g.cache.get(k); ok {
		g.mu.Unlock()
		return v
	}
	g.mu.Unlock()
	tr := g.index[l]
	if tr == nil {
		return nil
	}
	r := t.Rect()
	pad := r.MaxX - r.MinX // a whole tile: generous, bounds are cheap
	q := r.Expand(pad/16, pad/16)
	var idx []int32
	tr.Search([2]int64{q.MinX, q.MinY}, [2]int64{q.MaxX - 1, q.MaxY - 1}, func(_, _ [2]int64, i int32) bool {
		idx = append(idx, i)
		return true
	})
	slices.Sort(idx)
	scale := float64(Extent) / float64(t.Size())
	var out []cutPlace
	for _, i := range idx {
		if mp := cutShape(g.worldOf(i), r, scale); len(mp) > 0 {
			out = append(out, cutPlace{place: i, shape: mp})
		}
	}
	g.mu.Lock()
	g.cache.put(k, out)
	g.mu.Unlock()
	return out
}

// cutShape projects a shape (world coordinates) to a tile whose
// rectangle is r, simplifies it and clips it to the tile with Buffer, as
// valid polygons of integer coordinates (makeValid). It keeps the shape's
// topology: a first clip to a wider box bounds the work for big areas
// (its seams lie outside the tile), rounding comes before the
// simplification, which keeps a subset of the rounded points, and the
// final clip to the tile walks the box's edges instead of drawing seams
// along them (orb's smartclip).
func cutShape(src orb.MultiPolygon, r Rect, scale float64) orb.MultiPolygon {
	wide := orb.Bound{Min: orb.Point{-2 * Buffer, -2 * Buffer}, Max: orb.Point{Extent + 2*Buffer, Extent + 2*Buffer}}
	box := orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
	mp := make(orb.MultiPolygon, 0, len(src))
	for _, poly := range src {
		np := make(orb.Polygon, 0, len(poly))
		for _, ring := range poly {
			nr := make(orb.Ring, len(ring))
			for k, pt := range ring {
				nr[k] = orb.Point{math.Round((pt[0] - float64(r.MinX)) * scale), math.Round((pt[1] - float64(r.MinY)) * scale)}
			}
			np = append(np, nr)
		}
		mp = append(mp, np)
	}
	if !mp.Bound().Intersects(box) {
		return nil
	}
	mp = clip.MultiPolygon(wide, mp)
	if len(mp) == 0 {
		return nil
	}
	if s, ok := simplify.DouglasPeucker(0.5).Simplify(mp).(orb.MultiPolygon); ok {
		mp = s
	}
	mp = makeValid(mp)
	if len(mp) == 0 {
		return nil
	}
	if b := mp.Bound(); b.Min[0] < box.Min[0] || b.Min[1] < box.Min[1] || b.Max[0] > box.Max[0] || b.Max[1] > box.Max[1] {
		var clipped orb.MultiPolygon
		for _, p := range mp {
			c := smartclip.Polygon(box, p, orb.CCW)
			if len(c) == 0 && polygonHolds(p, box.Center()) {
				// the tile lies inside, with any holes wholly in it
				c = orb.MultiPolygon{{box.ToRing()}}
				for _, h := range p[1:] {
					if hb := h.Bound(); box.Contains(hb.Min) && box.Contains(hb.Max) {
						c[0] = append(c[0], h)
					}
				}
			}
			clipped = append(clipped, c...)
		}
		mp = makeValid(clipped)
	}
	return mp
}

// polygonHolds reports whether p (a valid polygon) contains pt.
func polygonHolds(p orb.Polygon, pt orb.Point) bool {
	return planar.PolygonContains(p, pt)
}

// lru is a least-recently-used cache bounded by the total cost of its
// values. Not safe for concurrent use.
type lru[K comparable, V any] struct {
	max, used int
	cost      func(V) int
	order     *list.List
	items     map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	k    K
	v    V
	cost int
}

func newLRU[K comparable, V any](maxCost int, cost func(V) int) *lru[K, V] {
	return &lru[K, V]{max: maxCost, cost: cost, order: list.New(), items: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).v, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.items[k]; ok {
		c.order.Remove(e)
		c.used -= e.Value.(*lruEntry[K, V]).cost
		delete(c.items, k)
	}
	cost := c.cost(v)
	if cost > c.max {
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{k, v, cost})
	c.used += cost
	for c.used > c.max {
		e := c.order.Back()
		c.order.Remove(e)
		ent := e.Value.(*lruEntry[K, V])
		c.used -= ent.cost
		delete(c.items, ent.k)
	}
}
