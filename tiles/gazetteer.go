package tiles

import (
	"container/list"
	"math"
	"slices"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/simplify"
	"github.com/tidwall/rtree"
)

// Gazetteer indexes reference areas for tiles: by level and key, and by
// position (an R-tree of their bounds in world coordinates). It also caches
// their geometry cut to tiles, which does not depend on any filter. It is
// safe for concurrent use; it never modifies the Places it was given.
type Gazetteer struct {
	places []Place
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
		places: places,
		world:  make([]orb.MultiPolygon, len(places)),
		bounds: make([]Rect, len(places)),
		index:  map[Level]*rtree.RTreeGN[int64, int32]{},
		byKey:  map[Level]map[int64]int32{},
		byCode: map[Level]map[string]int32{},
		cache:  newLRU[cutKey, []cutPlace](cutCacheBytes, cutBytes),
	}
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
		tr.Insert([2]int64{b.MinX, b.MinY}, [2]int64{b.MaxX - 1, b.MaxY - 1}, int32(i))
		g.byKey[p.Level][p.Key] = int32(i)
		g.byCode[p.Level][p.Code] = int32(i)
	}
	return g
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
	return &g.places[i], true
}

// ByCode returns the place of a level with a code.
func (g *Gazetteer) ByCode(l Level, code string) (*Place, bool) {
	i, ok := g.byCode[l][code]
	if !ok {
		return nil, false
	}
	return &g.places[i], true
}

// Places returns every place of a level, in the order given to NewGazetteer.
func (g *Gazetteer) Places(l Level) []*Place {
	var out []*Place
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
	return g.bounds[i]
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
	box := orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
	dp := simplify.DouglasPeucker(0.5)
	var out []cutPlace
	for _, i := range idx {
		src := g.world[i]
		mp := make(orb.MultiPolygon, 0, len(src))
		for _, poly := range src {
			np := make(orb.Polygon, 0, len(poly))
			for _, ring := range poly {
				nr := make(orb.Ring, len(ring))
				for k, pt := range ring {
					nr[k] = orb.Point{(pt[0] - float64(r.MinX)) * scale, (pt[1] - float64(r.MinY)) * scale}
				}
				np = append(np, nr)
			}
			mp = append(mp, np)
		}
		mp = clip.MultiPolygon(box, mp)
		if len(mp) == 0 {
			continue
		}
		if s, ok := dp.Simplify(mp).(orb.MultiPolygon); ok {
			mp = s
		}
		if mp = tidyPolygons(mp); len(mp) > 0 {
			out = append(out, cutPlace{place: i, shape: mp})
		}
	}
	g.mu.Lock()
	g.cache.put(k, out)
	g.mu.Unlock()
	return out
}

// tidyPolygons rounds to integer coordinates, drops repeated points and
// rings with no area, and winds rings as MVT wants: exterior rings with
// positive area in tile coordinates (clockwise on screen), holes negative.
func tidyPolygons(mp orb.MultiPolygon) orb.MultiPolygon {
	out := mp[:0]
	for _, poly := range mp {
		np := poly[:0]
		for ri, ring := range poly {
			nr := ring[:0]
			for _, pt := range ring {
				pt = orb.Point{math.Round(pt[0]), math.Round(pt[1])}
				if len(nr) > 0 && nr[len(nr)-1] == pt {
					continue
				}
				nr = append(nr, pt)
			}
			if len(nr) > 1 && nr[0] == nr[len(nr)-1] {
				nr = nr[:len(nr)-1]
			}
			if len(nr) < 3 {
				if ri == 0 {
					break // no exterior: drop the polygon
				}
				continue
			}
			a := area2(nr)
			if a == 0 {
				if ri == 0 {
					break
				}
				continue
			}
			if (ri == 0) != (a > 0) {
				slices.Reverse(nr)
			}
			np = append(np, append(nr, nr[0]))
		}
		if len(np) > 0 && len(np[0]) > 0 {
			out = append(out, np)
		}
	}
	return out
}

// area2 is twice the signed area of a ring by the surveyor's formula.
func area2(r orb.Ring) float64 {
	var s float64
	for i := range r {
		j := (i + 1) % len(r)
		s += r[i][0]*r[j][1] - r[j][0]*r[i][1]
	}
	return s
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
