package tiles

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
)

// Versioned is implemented by sources whose data changes: the version
// changes whenever it does, and keys the engine's caches.
type Versioned interface {
	Version() uint64
}

// Config sets up an Engine.
type Config struct {
	Privacy  Privacy        // the disclosure rules (required)
	Loc      *time.Location // the town's time zone (UTC when nil)
	Town     orb.Point      // where flows of records outside every zone end
	MaxFlows int            // the strongest flows of a filter that are drawn (50 when 0)
	// Metatile is the width, in tiles, of the square blocks of tiles of a
	// zoom whose density bins are aggregated together, once per filter,
	// and cut into tiles (8 when 0). 1 aggregates each tile's bins by
	// itself and keeps nothing: the server caches whole tiles already.
	Metatile int
	// CacheBytes bounds the memory of the per-filter aggregates the engine
	// keeps (64 MiB when 0; negative: none are kept, concurrent requests
	// still share one computation).
	CacheBytes int
	// Aggregates, when set, keeps the engine's aggregates within a budget
	// it shares with other engines (the towns of one server), instead of
	// a CacheBytes of its own.
	Aggregates *Aggregates
}

// Aggregates is one memory budget for the per-filter aggregates of several
// engines: one LRU, so that a server of many towns keeps at most its
// budget however many towns it serves, and a busy town may use what quiet
// ones leave. Safe for concurrent use.
type Aggregates struct {
	s     *shared[aggKey, map[[2]int64]Group]
	flows *shared[flowKey, []flow] // flowList
}

// NewAggregates returns a budget of maxBytes (64 MiB when 0; negative:
// nothing is kept, concurrent requests still share one computation).
func NewAggregates(maxBytes int) *Aggregates {
	if maxBytes == 0 {
		maxBytes = DefaultCacheBytes
	}
	flowBytes := maxBytes / 16 // about 4 KiB a list: 1,000 lists by default
	if maxBytes < 0 {
		flowBytes = -1
	}
	return &Aggregates{s: newShared[aggKey](maxBytes, aggBytes), flows: newShared[flowKey](flowBytes, flowsBytes)}
}

// DefaultMetatile and DefaultCacheBytes are the defaults of Config.
const (
	DefaultMetatile   = 8
	DefaultCacheBytes = 64 << 20
)

// Engine renders the tile layers from a Source and reference areas. It is
// safe for concurrent use.
type Engine struct {
	src      Source
	places   *Gazetteer
	priv     Privacy
	loc      *time.Location
	town     orb.Point
	maxFlows int
	metatile uint32
	flowRuns atomic.Int64 // flow lists computed (tests)

	// aggs are the per-filter aggregates: whole-area groupings (origins,
	// flows, zones, totals) and the density bins of metatiles, each
	// computed once for all concurrent requests.
	aggs *Aggregates

	mu     sync.Mutex
	extent struct {
		version uint64
		r       Rect
		ok      bool
	}
}

// aggKey identifies a Query of the engine (whose Loc is the engine's and
// WithRest follows from the filter) over one data version.
type aggKey struct {
	engine  *Engine // whose: a budget may be shared (Aggregates)
	filter  string  // canonical: Filter.Values, and the zone bits
	by      [2]Dim
	grid    Grid
	area    Rect
	version uint64
}

// aggBytes approximates the memory of an aggregate: a map entry is a
// [2]int64 key and a Group, with the map's slack and control bytes.
func aggBytes(m map[[2]int64]Group) int {
	const entry = int(unsafe.Sizeof([2]int64{}) + unsafe.Sizeof(Group{}))
	return 256 + len(m)*(entry*3/2)
}

// NewEngine returns an engine over src and places.
func NewEngine(src Source, places *Gazetteer, cfg Config) *Engine {
	e := &Engine{src: src, places: places, priv: cfg.Privacy, loc: cfg.Loc, town: cfg.Town, maxFlows: cfg.MaxFlows}
	if e.loc == nil {
		e.loc = time.UTC
	}
	if e.maxFlows <= 0 {
		e.maxFlows = 50
	}
	e.metatile = DefaultMetatile
	if cfg.Metatile > 0 {
		e.metatile = uint32(cfg.Metatile)
	}
	e.aggs = cfg.Aggregates
	if e.aggs == nil {
		e.aggs = NewAggregates(cfg.CacheBytes)
	}
	return e
}

// Privacy returns the engine's privacy rule.
func (e *Engine) Privacy() Privacy { return e.priv }

// Source returns the engine's source.
func (e *Engine) Source() Source { return e.src }

// Places returns the engine's reference areas.
func (e *Engine) Places() *Gazetteer { return e.places }

// Location returns the town's time zone.
func (e *Engine) Location() *time.Location { return e.loc }

// Request asks for one tile of one layer.
type Request struct {
	Layer  string
	Tile   TileID
	Filter Filter
	Shape  Shape // density bins
}

// LayerError is returned for a layer name the engine does not serve.
type LayerError struct{ Name string }

func (e *LayerError) Error() string {
	return fmt.Sprintf("unknown layer %q (want one of %s)", e.Name, strings.Join(LayerNames(), ", "))
}

// Tile renders a tile as an uncompressed Mapbox Vector Tile (2.1). It
// returns nil for a tile with no features. The same request over the same
// data always gives the same bytes.
func (e *Engine) Tile(ctx context.Context, r Request) ([]byte, error) {
	var (
		layers mvt.Layers
		err    error
	)
	switch r.Layer {
	case LayerDensity:
		layers, err = e.density(ctx, r)
	case LayerOrigins:
		layers, err = e.origins(ctx, r)
	case LayerFlows:
		layers, err = e.flows(ctx, r)
	case LayerZones:
		layers, err = e.zones(ctx, r)
	default:
		return nil, &LayerError{r.Layer}
	}
	if err != nil {
		return nil, fmt.Errorf("%s tile %v: %w", r.Layer, r.Tile, err)
	}
	nonEmpty := layers[:0]
	for _, l := range layers {
		if len(l.Features) > 0 {
			nonEmpty = append(nonEmpty, l)
		}
	}
	if len(nonEmpty) == 0 {
		return nil, nil
	}
	b, err := mvt.Marshal(nonEmpty)
	if err != nil {
		return nil, fmt.Errorf("%s tile %v: encoding: %w", r.Layer, r.Tile, err)
	}
	return b, nil
}

func newLayer(name string) *mvt.Layer {
	return &mvt.Layer{Name: name, Version: 2, Extent: Extent}
}

// density renders the bins overlapping the tile as polygons (each with an id
// unique across the zoom) and, for the bins whose centre lies in the tile,
// their centres as points for heatmaps.
func (e *Engine) density(ctx context.Context, r Request) (mvt.Layers, error) {
	g := NewGrid(r.Shape, r.Tile.Z)
	tr := r.Tile.Rect()
	narrowed := r.Filter.Narrowed()
	groups, err := e.bins(ctx, r.Tile, r.Filter, g)
	if err != nil {
		return nil, err
	}
	polys, points := newLayer(LayerDensity), newLayer(LayerDensityPoints)
	g.Bins(tr, func(b Bin) {
		id := g.ID(b)
		gr, ok := groups[[2]int64{int64(id)}]
		if !ok {
			return
		}
		ring := make(orb.Ring, 0, 7)
		for _, v := range g.Ring(b) {
			x, y := r.Tile.ToExtent(v[0], v[1])
			ring = append(ring, orb.Point{float64(x), float64(y)})
		}
		ring = append(ring, ring[0])
		f := geojson.NewFeature(orb.Polygon{ring})
		f.ID = id
		count, people := e.priv.Publish(gr, narrowed)
		c, allow := count.Int()
		v, _ := people.Int()
		if allow {
			f.Properties = geojson.Properties{"count": c, "visitors": v}
		} else {
			f.Properties = geojson.Properties{"suppressed": true}
		}
		polys.Features = append(polys.Features, f)
		cx, cy := g.Centre(b)
		if allow && tr.Contains(World{X: uint32(cx), Y: uint32(cy)}) && cx >= 0 && cy >= 0 {
			x, y := r.Tile.ToExtent(cx, cy)
			p := geojson.NewFeature(orb.Point{float64(x), float64(y)})
			p.ID = id
			p.Properties = geojson.Properties{"count": c, "visitors": v}
			points.Features = append(points.Features, p)
		}
	})
	return mvt.Layers{polys, points}, nil
}

// bins returns the groups of the bins of grid g (keyed by Grid.ID) around
// tile t: every bin that overlaps t, with all its records (also those
// beyond t's edge). They come from the tile's metatile, the block of
// Metatile×Metatile tiles of the zoom containing t, aggregated once per
// filter for all its tiles: a bin's records all lie within the block
// widened by twice the bin's reach, exactly as within the tile so
// widened, so its groups and Rest are those the tile alone would get.
func (e *Engine) bins(ctx context.Context, t TileID, f Filter, g Grid) (map[[2]int64]Group, error) {
	dx, dy := g.Reach()
	n := min(e.metatile, uint32(1)<<t.Z)
	q := Query{Filter: f, By: []Dim{DimBin}, Grid: g, Loc: e.loc, WithRest: f.Narrowed()}
	if n == 1 {
		q.Area = t.Rect().Expand(2*dx, 2*dy)
		return e.collect(ctx, q)
	}
	size := t.Size()
	x0, y0 := int64(t.X/n*n)*size, int64(t.Y/n*n)*size
	block := Rect{MinX: x0, MinY: y0, MaxX: x0 + int64(n)*size, MaxY: y0 + int64(n)*size}
	q.Area = block.Expand(2*dx, 2*dy)
	return e.cached(ctx, q)
}

// collect runs q on the source and returns its groups by key.
func (e *Engine) collect(ctx context.Context, q Query) (map[[2]int64]Group, error) {
	if keptOnly(ctx) {
		return nil, ErrNotKept
	}
	m := map[[2]int64]Group{}
	if err := e.src.Aggregate(ctx, q, func(g Group) error {
		m[g.Key] = g
		return nil
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// cached is collect computed once for all concurrent callers and kept per
// data version (for a minute at most over an unversioned source). q.Loc
// must be the engine's and q.WithRest q.Filter.Narrowed(). The returned
// map is shared: it must not be modified.
func (e *Engine) cached(ctx context.Context, q Query) (map[[2]int64]Group, error) {
	return e.aggs.s.get(ctx, e.key(q), func(ctx context.Context) (map[[2]int64]Group, error) {
		return e.collect(ctx, q)
	})
}

// key returns the aggKey of q, over the source's current data version.
func (e *Engine) key(q Query) aggKey {
	k := aggKey{engine: e, filter: q.Filter.Values().Encode() + "&zones=" + strconv.FormatUint(uint64(q.Filter.Zones), 10), grid: q.Grid, area: q.Area}
	copy(k.by[:], q.By)
	if v, ok := e.src.(Versioned); ok {
		k.version = v.Version()
	} else {
		k.version = uint64(time.Now().Unix() / 60) // unversioned: a minute at most
	}
	return k
}

// ExtentZoom is the zoom whose tiles make up Extent (about 10 km across in
// central Italy).
const ExtentZoom = 12

// Extent returns where the data may be said to lie: the bounding box of the
// zoom-12 tiles within around that hold at least K people over all time
// (Privacy.Informs). The exact extent of the records would tell where the
// outermost person was. ok is false when no such tile exists. Cached per
// data version.
func (e *Engine) Extent(ctx context.Context, around Rect) (Rect, bool, error) {
	v, versioned := e.src.(Versioned)
	e.mu.Lock()
	if versioned && e.extent.version == v.Version() && e.extent.version != 0 {
		r, ok := e.extent.r, e.extent.ok
		e.mu.Unlock()
		return r, ok, nil
	}
	e.mu.Unlock()
	if around.Empty() {
		return Rect{}, false, nil
	}
	g := NewGrid(Square, ExtentZoom-4) // bins of a zoom-8 grid are zoom-12 tiles
	var version uint64
	if versioned {
		version = v.Version()
	}
	var r Rect
	ok := false
	cols := WorldSize/g.W + 2
	groups, err := e.cached(ctx, Query{Area: around.Expand(g.W, g.W).Clamp(), By: []Dim{DimBin}, Grid: g, Loc: e.loc})
	if err != nil {
		return Rect{}, false, fmt.Errorf("data extent: %w", err)
	}
	for _, gr := range groups {
		if !e.priv.Informs(gr) {
			continue
		}
		row, col := gr.Key[0]/cols, gr.Key[0]%cols
		cell := Rect{MinX: col * g.W, MinY: row * g.W, MaxX: (col + 1) * g.W, MaxY: (row + 1) * g.W}
		if !ok {
			r, ok = cell, true
			continue
		}
		r = Rect{MinX: min(r.MinX, cell.MinX), MinY: min(r.MinY, cell.MinY), MaxX: max(r.MaxX, cell.MaxX), MaxY: max(r.MaxY, cell.MaxY)}
	}
	e.mu.Lock()
	e.extent.version, e.extent.r, e.extent.ok = version, r, ok
	e.mu.Unlock()
	return r, ok, nil
}

// OriginLevel is the level of origin areas shown at zoom z: regions up to
// zoom 6, provinces at 7-8, municipalities from 9.
func OriginLevel(z uint8) Level {
	switch {
	case z <= 6:
		return LevelRegion
	case z <= 8:
		return LevelProvince
	}
	return LevelMunicipality
}

// DimOf returns the grouping dimension of an origin level.
func DimOf(l Level) Dim {
	switch l {
	case LevelRegion:
		return DimRegion
	case LevelProvince:
		return DimProvince
	case LevelCountry:
		return DimNationality
	case LevelZone:
		return DimZone
	}
	return DimMunicipality
}

// Aggregate runs a whole-area query with the engine's time zone and
// privacy needs, computed once for all concurrent callers and kept per
// filter and data version: the origins, flows and zones of a view are the
// same for all its tiles. The returned map must not be modified.
//
// Over a MultiSource, the first of a view's whole-area groupings of a
// filter (viewGroupings) that is asked for computes them all, in one call
// of the source, and keeps them: the view asks for the others next.
func (e *Engine) Aggregate(ctx context.Context, f Filter, by ...Dim) (map[[2]int64]Group, error) {
	q := Query{Filter: f, By: by, Loc: e.loc, WithRest: f.Narrowed()}
	if _, ok := e.src.(MultiSource); ok {
		if set, i := viewGroupings(by); set != nil {
			return e.cachedMany(ctx, q, set, i)
		}
	}
	return e.cached(ctx, q)
}

// viewGroupings returns the whole-area groupings that a view of a filter
// asks for at the origin level of by (municipalities unless by is about
// provinces or regions), and the index of by among them; nil when by is
// not one of them. The origins layer asks for the origins, the
// nationalities and the total, the flows layer for the origins and the
// nationalities by zone, the zones layer for the zones.
func viewGroupings(by []Dim) ([][]Dim, int) {
	level := DimMunicipality
	for _, d := range by {
		if d == DimProvince || d == DimRegion {
			level = d
		}
	}
	set := [][]Dim{{level}, {DimNationality}, nil, {level, DimZone}, {DimNationality, DimZone}, {DimZone}}
	for i, s := range set {
		if slices.Equal(s, by) {
			return set, i
		}
	}
	return nil, -1
}

// cachedMany is cached for q grouped by set[i], computed together with
// q's other groupings of set that are neither kept nor being computed,
// in one call of the source (a MultiSource), and kept with them.
func (e *Engine) cachedMany(ctx context.Context, q Query, set [][]Dim, i int) (map[[2]int64]Group, error) {
	keys := make([]aggKey, len(set))
	k := e.key(q) // (one data version for all)
	for j, by := range set {
		keys[j] = k
		keys[j].by = [2]Dim{}
		copy(keys[j].by[:], by)
	}
	return e.aggs.s.getMany(ctx, keys, i, func(ctx context.Context, want []int) ([]map[[2]int64]Group, error) {
		by := make([][]Dim, len(want))
		for n, j := range want {
			by[n] = set[j]
		}
		// the groups in lists first, then maps of their size: a map grown
		// group by group (tens of thousands of origins by zone) rehashed
		// them at every doubling
		lists := make([][]Group, len(want))
		if err := AggregateMany(ctx, e.src, q, by, func(n int, g Group) error {
			lists[n] = append(lists[n], g)
			return nil
		}); err != nil {
			return nil, err
		}
		out := make([]map[[2]int64]Group, len(want))
		for n, gs := range lists {
			out[n] = make(map[[2]int64]Group, len(gs))
			for _, g := range gs {
				out[n][g.Key] = g
			}
		}
		return out, nil
	})
}

func (e *Engine) origins(ctx context.Context, r Request) (mvt.Layers, error) {
	level := OriginLevel(r.Tile.Z)
	home, err := e.Aggregate(ctx, r.Filter, DimOf(level))
	if err != nil {
		return nil, err
	}
	abroad, err := e.Aggregate(ctx, r.Filter, DimNationality)
	if err != nil {
		return nil, err
	}
	total, err := e.Aggregate(ctx, r.Filter)
	if err != nil {
		return nil, err
	}
	narrowed := r.Filter.Narrowed()
	_, all := e.priv.Publish(total[[2]int64{}], narrowed)
	people, _ := all.Int()
	layer := newLayer(LayerOrigins)
	add := func(l Level, groups map[[2]int64]Group) {
		for _, c := range e.places.cut(l, r.Tile) {
			p := e.places.place(c.place)
			if l == LevelCountry && p.Code == Italy.String() {
				continue // Italians are shown by municipality, province or region
			}
			gr, ok := groups[[2]int64{p.Key}]
			if !ok || gr.Count == 0 {
				continue
			}
			f := geojson.NewFeature(c.shape)
			f.ID = OriginID(l, p.Key)
			f.Properties = geojson.Properties{"code": p.Code, "name": p.Name, "level": l.String()}
			if count, visitors := e.priv.Publish(gr, narrowed); !visitors.Suppressed() {
				c, _ := count.Int()
				v, _ := visitors.Int()
				f.Properties["count"] = c
				f.Properties["visitors"] = v
				if people > 0 {
					f.Properties["share"] = round(float64(v)/float64(people), 4)
				}
				if p.Population > 0 {
					f.Properties["per_1000_residents"] = round(float64(v)*1000/float64(p.Population), 2)
				}
			} else {
				f.Properties["suppressed"] = true
			}
			layer.Features = append(layer.Features, f)
		}
	}
	add(LevelCountry, abroad)
	add(level, home)
	return mvt.Layers{layer}, nil
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func (e *Engine) flows(ctx context.Context, r Request) (mvt.Layers, error) {
	all, err := e.flowList(ctx, r.Filter, OriginLevel(r.Tile.Z))
	if err != nil {
		return nil, err
	}
	tr := r.Tile.Rect()
	scale := float64(Extent) / float64(r.Tile.Size())
	box := orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
	layer := newLayer(LayerFlows)
	// The cap is on the flows' rank over the whole filter, not per tile: a
	// line is drawn in every tile it crosses or in none, so it never ends
	// at a tile edge because a neighbouring tile had stronger flows.
	for rank, fl := range all {
		if rank >= e.maxFlows {
			break
		}
		if math.Max(fl.a[0], fl.b[0]) < float64(tr.MinX) || math.Min(fl.a[0], fl.b[0]) > float64(tr.MaxX) ||
			math.Max(fl.a[1], fl.b[1]) < float64(tr.MinY) || math.Min(fl.a[1], fl.b[1]) > float64(tr.MaxY) {
			continue
		}
		ls := orb.LineString{
			{(fl.a[0] - float64(tr.MinX)) * scale, (fl.a[1] - float64(tr.MinY)) * scale},
			{(fl.b[0] - float64(tr.MinX)) * scale, (fl.b[1] - float64(tr.MinY)) * scale},
		}
		parts := clip.LineString(box, ls)
		var mls orb.MultiLineString
		for _, p := range parts {
			for i := range p {
				p[i] = orb.Point{math.Round(p[i][0]), math.Round(p[i][1])}
			}
			if len(p) >= 2 && p[0] != p[len(p)-1] {
				mls = append(mls, p)
			}
		}
		if len(mls) == 0 {
			continue
		}
		var geom orb.Geometry = mls
		if len(mls) == 1 {
			geom = mls[0]
		}
		f := geojson.NewFeature(geom)
		f.ID = FlowID(fl.origin.Level, fl.origin.Key, fl.destKey)
		f.Properties = geojson.Properties{
			"flow":   fl.origin.Code + ">" + fl.dest,
			"origin": fl.origin.Code, "origin_name": fl.origin.Name, "origin_level": fl.origin.Level.String(),
			"destination": fl.dest, "count": fl.count, "visitors": fl.visitors, "rank": int64(rank + 1),
		}
		layer.Features = append(layer.Features, f)
	}
	return mvt.Layers{layer}, nil
}

func cmpI64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *Engine) zones(ctx context.Context, r Request) (mvt.Layers, error) {
	groups, err := e.Aggregate(ctx, r.Filter, DimZone)
	if err != nil {
		return nil, err
	}
	narrowed := r.Filter.Narrowed()
	layer := newLayer(LayerZones)
	for _, c := range e.places.cut(LevelZone, r.Tile) {
		p := e.places.place(c.place)
		f := geojson.NewFeature(c.shape)
		f.ID = uint64(p.Key)
		f.Properties = geojson.Properties{"code": p.Code, "name": p.Name, "zone": strconv.FormatInt(p.Key, 10)}
		gr, ok := groups[[2]int64{p.Key}]
		if !ok || gr.Count == 0 {
			// nobody: no figure at all (zero is not published either)
			layer.Features = append(layer.Features, f)
			continue
		}
		count, visitors := e.priv.Publish(gr, narrowed)
		if c, ok := count.Int(); ok {
			v, _ := visitors.Int()
			f.Properties["count"] = c
			f.Properties["visitors"] = v
		} else {
			f.Properties["suppressed"] = true
		}
		layer.Features = append(layer.Features, f)
	}
	return mvt.Layers{layer}, nil
}
