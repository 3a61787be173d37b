package demo

import (
	"fmt"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/tiles"
)

// Town returns the point Deruta's demo is centred on (WGS 84), Piazza dei
// Consoli. (DemoTown.Town.Center for any demo town.)
func Town() orb.Point { return deruta.centre }

// DerutaTown is the embedded demo's first town, Deruta, in time zone tz:
// Towns(tz)[0].Town.
func DerutaTown(tz string) tiles.Town { return deruta.town(tz) }

// ZonesGeoJSON returns Deruta's embedded zones file. The slice is shared:
// do not modify it.
func ZonesGeoJSON() []byte { return deruta.zonesGeoJSON }

// Zones returns Deruta's demo zones (see DemoTown.Zones).
func Zones() []tiles.Place { return deruta.zones() }

func (s *spec) zones() []tiles.Place {
	s.zonesOnce.Do(func() { s.zonesList, s.zonesErr = parseZones(s.zonesGeoJSON) })
	if s.zonesErr != nil {
		// The file is part of the binary: failing to read it is a build bug.
		panic(fmt.Sprintf("demo: embedded zones of %s: %v", s.code, s.zonesErr))
	}
	return append([]tiles.Place(nil), s.zonesList...)
}

func parseZones(raw []byte) ([]tiles.Place, error) {
	fc, err := geojson.UnmarshalFeatureCollection(raw)
	if err != nil {
		return nil, err
	}
	if len(fc.Features) > tiles.MaxZones {
		return nil, fmt.Errorf("%d zones, at most %d", len(fc.Features), tiles.MaxZones)
	}
	out := make([]tiles.Place, 0, len(fc.Features))
	for i, f := range fc.Features {
		name := f.Properties.MustString("name", "")
		if name == "" {
			return nil, fmt.Errorf("zone %d: no name", i)
		}
		var mp orb.MultiPolygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			return nil, fmt.Errorf("zone %s: geometry %s, want a polygon", name, f.Geometry.GeoJSONType())
		}
		out = append(out, tiles.Place{
			Level: tiles.LevelZone,
			Code:  name,
			Key:   int64(i),
			Name:  f.Properties.MustString("label", name),
			Names: labelsByLanguage(f.Properties),
			Shape: mp,
			Point: inside(mp),
		})
	}
	return out, nil
}

// inside returns a point inside mp: its centroid when that is inside, else
// the middle of the widest horizontal chord through the bound's middle.
func inside(mp orb.MultiPolygon) orb.Point {
	c, _ := planar.CentroidArea(mp)
	if planar.MultiPolygonContains(mp, c) {
		return c
	}
	b := mp.Bound()
	y := (b.Min[1] + b.Max[1]) / 2
	best, bestW := b.Center(), -1.0
	const steps = 64
	var run []float64
	for i := 0; i <= steps; i++ {
		x := b.Min[0] + (b.Max[0]-b.Min[0])*float64(i)/steps
		if planar.MultiPolygonContains(mp, orb.Point{x, y}) {
			run = append(run, x)
			continue
		}
		if len(run) > 0 && run[len(run)-1]-run[0] > bestW {
			bestW, best = run[len(run)-1]-run[0], orb.Point{(run[0] + run[len(run)-1]) / 2, y}
		}
		run = run[:0]
	}
	if len(run) > 0 && run[len(run)-1]-run[0] > bestW {
		best = orb.Point{(run[0] + run[len(run)-1]) / 2, y}
	}
	return best
}

// labelsByLanguage reads the "label:LANG" properties of a zone.
func labelsByLanguage(props geojson.Properties) map[string]string {
	var out map[string]string
	for k, v := range props {
		lang, ok := strings.CutPrefix(k, "label:")
		if s, isStr := v.(string); ok && isStr && lang != "" && s != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[lang] = s
		}
	}
	return out
}
