package tiles

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Level is the kind of a reference area.
type Level uint8

// Levels of reference areas.
const (
	LevelMunicipality Level = iota + 1
	LevelProvince
	LevelRegion
	LevelCountry
	LevelZone
)

var levelNames = [...]string{"", "municipality", "province", "region", "country", "zone"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "unknown"
}

// Place is a reference area: an origin (municipality, province, region,
// country) or a destination (a town zone).
type Place struct {
	Level Level
	// Code identifies the place within its level: ISTAT code ("054017",
	// "054", "10"), ISO 3166-1 alpha-2 ("DE"), or the zone name.
	Code string
	// Key is the place's group key in the matching Dim: the ISTAT code as a
	// number, CountryIndex for countries, the zone index for zones.
	Key        int64
	Name       string
	Population int64            // 0 when unknown (zones)
	Shape      orb.MultiPolygon // WGS 84
	Point      orb.Point        // representative point, inside the shape
}

// MaxZones is the number of town zones a deployment may define: a record's
// zone membership is a 16-bit mask.
const MaxZones = 16

// ZoneMask returns the bit mask of the zones containing p (WGS 84): bit
// z.Key for each zone z whose shape contains p. Every loader computes zone
// membership with this function.
func ZoneMask(zones []Place, p orb.Point) uint16 {
	var m uint16
	for i := range zones {
		z := &zones[i]
		if z.Key < 0 || z.Key >= MaxZones {
			continue
		}
		if z.Shape.Bound().Contains(p) && planar.MultiPolygonContains(z.Shape, p) {
			m |= 1 << z.Key
		}
	}
	return m
}

// ZoneIndex answers ZoneMask for many points against the same zones, with
// each zone's and polygon's bounds computed once. Its answers are exactly
// ZoneMask's. It is read-only once built and safe for concurrent use.
type ZoneIndex struct {
	zones []indexedZone
}

type indexedZone struct {
	bit   uint16
	bound orb.Bound
	polys []orb.Polygon
	pb    []orb.Bound
}

// NewZoneIndex indexes zones (Level zone, Key 0..MaxZones-1).
func NewZoneIndex(zones []Place) *ZoneIndex {
	zi := &ZoneIndex{}
	for i := range zones {
		z := &zones[i]
		if z.Key < 0 || z.Key >= MaxZones || len(z.Shape) == 0 {
			continue
		}
		e := indexedZone{bit: 1 << z.Key, bound: z.Shape.Bound()}
		for _, p := range z.Shape {
			if len(p) == 0 {
				continue
			}
			e.polys = append(e.polys, p)
			e.pb = append(e.pb, p[0].Bound())
		}
		zi.zones = append(zi.zones, e)
	}
	return zi
}

// Mask is ZoneMask(zones, p) for the indexed zones.
func (zi *ZoneIndex) Mask(p orb.Point) uint16 {
	var m uint16
	for i := range zi.zones {
		z := &zi.zones[i]
		if !z.bound.Contains(p) {
			continue
		}
		for j, poly := range z.polys {
			if z.pb[j].Contains(p) && planar.PolygonContains(poly, p) {
				m |= z.bit
				break
			}
		}
	}
	return m
}
