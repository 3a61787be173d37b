package tiles

import (
	"context"
	"slices"
	"strings"
	"unsafe"

	"github.com/paulmach/orb"
)

// flow is one origin-destination pair and its published figures.
type flow struct {
	origin          *Place
	dest            string
	destKey         int64     // the zone's key, -1 for the town outside zones
	a, b            orb.Point // world coordinates
	count, visitors int64
}

// flowKey identifies the flow list of a filter at an origin level over one
// data version.
type flowKey struct {
	agg   aggKey // of the filter alone
	level Level
}

// flowsBytes approximates the memory of a flow list (its places and names
// belong to the gazetteer).
func flowsBytes(fs []flow) int { return 64 + cap(fs)*int(unsafe.Sizeof(flow{})) }

// flowList returns the published flows of a filter from origins of a
// level and from abroad, strongest first (then by origin code and
// destination), at most maxFlows: what every flows tile of the filter and
// zoom level draws from. It is computed once per filter, level and data version, for all
// the tiles of a view (each used to publish and sort every origin and zone
// pair of the filter for itself).
func (e *Engine) flowList(ctx context.Context, f Filter, level Level) ([]flow, error) {
	k := flowKey{agg: e.key(Query{Filter: f}), level: level}
	return e.aggs.flows.get(ctx, k, func(ctx context.Context) ([]flow, error) {
		e.flowRuns.Add(1)
		return e.strongestFlows(ctx, f, level)
	})
}

// strongestFlows computes flowList.
func (e *Engine) strongestFlows(ctx context.Context, f Filter, level Level) ([]flow, error) {
	narrowed := f.Narrowed()
	zone, zoned := f.ZoneIndex()
	var all []flow
	for _, ol := range []Level{level, LevelCountry} {
		groups, err := e.Aggregate(ctx, f, DimOf(ol), DimZone)
		if err != nil {
			return nil, err
		}
		all = slices.Grow(all, len(groups))
		for k, gr := range groups {
			if zoned && k[1] != int64(zone) {
				continue
			}
			count, visitors := e.priv.Publish(gr, narrowed)
			if visitors.Suppressed() {
				continue
			}
			if ol == LevelCountry && k[0] == int64(CountryIndex(Italy)) {
				continue
			}
			o, ok := e.places.Place(ol, k[0])
			if !ok {
				continue // unknown origin
			}
			dest, dp := "town", e.town
			if k[1] >= 0 {
				z, ok := e.places.Place(LevelZone, k[1])
				if !ok {
					continue
				}
				dest, dp = z.Name, z.Point
			}
			if dp == (orb.Point{}) {
				continue
			}
			ax, ay := worldFloat(o.Point[0], o.Point[1])
			bx, by := worldFloat(dp[0], dp[1])
			c, _ := count.Int()
			v, _ := visitors.Int()
			all = append(all, flow{origin: o, dest: dest, destKey: k[1], a: orb.Point{ax, ay}, b: orb.Point{bx, by}, count: c, visitors: v})
		}
	}
	slices.SortFunc(all, func(x, y flow) int {
		if x.count != y.count {
			return cmpI64(y.count, x.count)
		}
		if c := strings.Compare(x.origin.Code, y.origin.Code); c != 0 {
			return c
		}
		return strings.Compare(x.dest, y.dest)
	})
	return slices.Clone(all[:min(len(all), e.maxFlows)]), nil
}
