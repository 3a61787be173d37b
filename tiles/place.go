package tiles

import (
	"github.com/paulmach/orb"
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
