package tiles

import (
	"math"

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
	Key  int64
	Name string
	// Names are the place's name in other languages, by language code
	// ("en"), where its source gives them (a zones file's "label:en");
	// Name is the name in the town's language.
	Names      map[string]string
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
	polys []indexedPolygon
}

// indexedPolygon is a polygon with the bound of each ring (outer first).
type indexedPolygon struct {
	rings  []orb.Ring
	bounds []orb.Bound
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
			if len(p) == 0 || len(p[0]) == 0 {
				continue
			}
			ip := indexedPolygon{}
			for _, r := range p {
				if len(r) == 0 {
					continue
				}
				ip.rings = append(ip.rings, r)
				ip.bounds = append(ip.bounds, r.Bound())
			}
			e.polys = append(e.polys, ip)
		}
		zi.zones = append(zi.zones, e)
	}
	return zi
}

// contains is planar.PolygonContains with the ring bounds computed once.
func (ip *indexedPolygon) contains(p orb.Point) bool {
	if !ip.bounds[0].Contains(p) || !ringContains(ip.rings[0], p) {
		return false
	}
	for h := 1; h < len(ip.rings); h++ {
		if ip.bounds[h].Contains(p) && ringContains(ip.rings[h], p) {
			return false
		}
	}
	return true
}

// ringContains is planar.RingContains (orb v0.14, MIT) without its bound
// check, which the caller has made: points on the boundary are in.
func ringContains(r orb.Ring, point orb.Point) bool {
	c, on := rayIntersect(point, r[0], r[len(r)-1])
	if on {
		return true
	}
	for i := 0; i < len(r)-1; i++ {
		inter, on := rayIntersect(point, r[i], r[i+1])
		if on {
			return true
		}
		if inter {
			c = !c
		}
	}
	return c
}

// rayIntersect is orb's planar ray casting (from
// http://rosettacode.org/wiki/Ray-casting_algorithm#Go), copied unchanged
// so that ZoneIndex answers exactly as planar.PolygonContains.
func rayIntersect(p, s, e orb.Point) (intersects, on bool) {
	if s[0] > e[0] {
		s, e = e, s
	}
	switch p[0] {
	case s[0]:
		if p[1] == s[1] {
			return false, true
		} else if s[0] == e[0] {
			if s[1] > e[1] && s[1] >= p[1] && p[1] >= e[1] {
				return false, true
			}
			if e[1] > s[1] && e[1] >= p[1] && p[1] >= s[1] {
				return false, true
			}
		}
		p[0] = math.Nextafter(p[0], math.Inf(1))
	case e[0]:
		if p[1] == e[1] {
			return false, true
		}
		p[0] = math.Nextafter(p[0], math.Inf(1))
	}
	if p[0] < s[0] || p[0] > e[0] {
		return false, false
	}
	if s[1] > e[1] {
		if p[1] > s[1] {
			return false, false
		} else if p[1] < e[1] {
			return true, false
		}
	} else {
		if p[1] > e[1] {
			return false, false
		} else if p[1] < s[1] {
			return true, false
		}
	}
	rs := (p[1] - s[1]) / (p[0] - s[0])
	ds := (e[1] - s[1]) / (e[0] - s[0])
	if rs == ds {
		return false, true
	}
	return rs <= ds, false
}

// Mask is ZoneMask(zones, p) for the indexed zones.
func (zi *ZoneIndex) Mask(p orb.Point) uint16 {
	var m uint16
	for i := range zi.zones {
		z := &zi.zones[i]
		if !z.bound.Contains(p) {
			continue
		}
		for j := range z.polys {
			if z.polys[j].contains(p) {
				m |= z.bit
				break
			}
		}
	}
	return m
}
