package tiles

import (
	"context"
	"math"
)

// OriginID is the feature id of an origin area in the origins layer: its
// level and its group key (ISTAT code as a number, CountryIndex), the same
// in every tile and zoom.
func OriginID(l Level, key int64) uint64 {
	return uint64(l)<<32 | uint64(uint32(key))
}

// FlowID is the feature id of a flow: the origin's level and key and the
// destination zone's key (-1: the town outside zones), the same in every
// tile and zoom. It stays below 2^53, so that JavaScript reads it exactly.
func FlowID(origin Level, key, destKey int64) uint64 {
	return uint64(origin)<<40 | uint64(uint32(key))<<8 | uint64(uint8(destKey+1))
}

// Bounds is a rectangle of world coordinates with an empty state, for
// unions.
type bounds struct {
	r  Rect
	ok bool
}

func (b *bounds) add(r Rect) {
	if r.Empty() {
		return
	}
	if !b.ok {
		b.r, b.ok = r, true
		return
	}
	b.r = Rect{MinX: min(b.r.MinX, r.MinX), MinY: min(b.r.MinY, r.MinY), MaxX: max(b.r.MaxX, r.MaxX), MaxY: max(b.r.MaxY, r.MaxY)}
}

func (b *bounds) addPoint(x, y float64) {
	b.add(Rect{MinX: int64(math.Floor(x)), MinY: int64(math.Floor(y)), MaxX: int64(math.Floor(x)) + 1, MaxY: int64(math.Floor(y)) + 1})
}

// OriginBounds returns where the origins layer has published figures for
// a filter: the union of the reference areas (regions, provinces,
// municipalities, countries) whose visitors are published. The areas are
// reference data and the figures behind them are about at least k people
// (Privacy.Publish), so the bounds tell nothing the tiles do not. ok is
// false when nothing is published.
func (e *Engine) OriginBounds(ctx context.Context, f Filter) (Rect, bool, error) {
	var b bounds
	narrowed := f.Narrowed()
	for _, l := range []Level{LevelRegion, LevelProvince, LevelMunicipality, LevelCountry} {
		groups, err := e.Aggregate(ctx, f, DimOf(l))
		if err != nil {
			return Rect{}, false, err
		}
		for k, gr := range groups {
			if l == LevelCountry && k[0] == int64(CountryIndex(Italy)) {
				continue // Italians are drawn by region, province or municipality
			}
			if _, visitors := e.priv.Publish(gr, narrowed); visitors.Suppressed() {
				continue
			}
			if p, ok := e.places.Place(l, k[0]); ok {
				b.add(e.places.Bounds(p))
			}
		}
	}
	return b.r, b.ok, nil
}

// FlowBounds returns where the flows layer draws lines for a filter: the
// union of the end points of the published flows drawn at any zoom
// (origins' representative points and zones' points, reference data).
func (e *Engine) FlowBounds(ctx context.Context, f Filter) (Rect, bool, error) {
	var b bounds
	for _, l := range []Level{LevelRegion, LevelProvince, LevelMunicipality} {
		all, err := e.flowList(ctx, f, l)
		if err != nil {
			return Rect{}, false, err
		}
		for rank, fl := range all {
			if rank >= e.maxFlows {
				break
			}
			b.addPoint(fl.a[0], fl.a[1])
			b.addPoint(fl.b[0], fl.b[1])
		}
	}
	return b.r, b.ok, nil
}

// LevelBounds returns the union of the areas of a level (the zones, for
// the zones layer): reference data.
func (g *Gazetteer) LevelBounds(l Level) (Rect, bool) {
	var b bounds
	if g.base != nil {
		if r, ok := g.base.LevelBounds(l); ok {
			b.add(r)
		}
	}
	for i := range g.places {
		if g.places[i].Level == l {
			b.add(g.bounds[i])
		}
	}
	return b.r, b.ok
}
