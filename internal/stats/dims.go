package stats

import (
	"fmt"
	"strconv"
	"time"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// ByNames lists the values of the by parameter, in the order documented.
var ByNames = []string{"hour", "dow", "date", "age", "gender", "nationality", "origin", "province", "region", "spend", "zone"}

// dimension is a grouping of stats rows: the Source dimension behind it,
// how its keys read, and how a visit maps to a row.
type dimension struct {
	name string
	dim  tiles.Dim
	// visits: rows carry visit figures (visits, dwell); repeat: and repeat
	// visitors. A visit belongs to one row: by its day, or by the
	// attributes of its first record.
	visits, repeat bool
	// level of the rows' places, for names and per-1,000 rates (0: none).
	level tiles.Level
}

var dimensions = map[string]dimension{
	"hour":        {name: "hour", dim: tiles.DimHour},
	"dow":         {name: "dow", dim: tiles.DimWeekday, visits: true},
	"date":        {name: "date", dim: tiles.DimDate, visits: true},
	"age":         {name: "age", dim: tiles.DimAge, visits: true, repeat: true},
	"gender":      {name: "gender", dim: tiles.DimGender, visits: true, repeat: true},
	"nationality": {name: "nationality", dim: tiles.DimNationality, visits: true, repeat: true, level: tiles.LevelCountry},
	"origin":      {name: "origin", dim: tiles.DimMunicipality, visits: true, repeat: true, level: tiles.LevelMunicipality},
	"province":    {name: "province", dim: tiles.DimProvince, visits: true, repeat: true, level: tiles.LevelProvince},
	"region":      {name: "region", dim: tiles.DimRegion, visits: true, repeat: true, level: tiles.LevelRegion},
	"spend":       {name: "spend", dim: tiles.DimSpend, visits: true, repeat: true},
	// zone: the town's zones (a record in two zones is in both rows; the
	// key is the zone index, as in the zones tile layer), records in no
	// zone under "unknown"
	"zone": {name: "zone", dim: tiles.DimZone, level: tiles.LevelZone},
}

// unknownKey is the row key of the group whose attribute is not given.
const unknownKey = "unknown"

var dayKeys = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

var genderLabels = map[tiles.Gender]string{tiles.GenderF: "female", tiles.GenderM: "male", tiles.GenderX: "other"}

// known reports whether a group key is a known value (not "not given").
// Hours, weekdays and dates are always known.
func (d dimension) known(k int64) bool {
	switch d.dim {
	case tiles.DimHour, tiles.DimWeekday, tiles.DimDate:
		return true
	case tiles.DimZone:
		return k >= 0
	}
	return k != 0
}

// order is the sort position of a key: the natural order of the dimension,
// Monday first for weekdays, unknown values last.
func (d dimension) order(k int64) int64 {
	switch {
	case d.dim == tiles.DimWeekday:
		return (k + 6) % 7
	case !d.known(k):
		return 1 << 62
	}
	return k
}

// key renders a group key as the row key.
func (d dimension) key(k int64) string {
	if !d.known(k) {
		return unknownKey
	}
	switch d.dim {
	case tiles.DimHour:
		return strconv.FormatInt(k, 10)
	case tiles.DimWeekday:
		return dayKeys[k%7]
	case tiles.DimDate:
		return tiles.DayDate(k).Format(time.DateOnly)
	case tiles.DimAge:
		return tiles.AgeBand(k).String()
	case tiles.DimGender:
		return tiles.Gender(k).String()
	case tiles.DimSpend:
		return tiles.Spend(k).String()
	case tiles.DimNationality:
		return tiles.CountryAt(uint8(k)).String()
	case tiles.DimMunicipality:
		return fmt.Sprintf("%06d", k)
	case tiles.DimProvince:
		return fmt.Sprintf("%03d", k)
	case tiles.DimRegion:
		return fmt.Sprintf("%02d", k)
	}
	return strconv.FormatInt(k, 10)
}

// label is a human-readable name of a group key.
func (d dimension) label(k int64, names *naming) string {
	if !d.known(k) {
		return "unknown"
	}
	switch d.dim {
	case tiles.DimHour:
		return fmt.Sprintf("%02d:00–%02d:59", k, k)
	case tiles.DimWeekday:
		return time.Weekday(k).String()
	case tiles.DimGender:
		return genderLabels[tiles.Gender(k)]
	case tiles.DimSpend:
		return tiles.Spend(k).String() + " spending"
	case tiles.DimNationality, tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimZone:
		if n := names.name(d.level, k, d.key(k)); n != "" {
			return n
		}
	}
	return d.key(k)
}

// visitKey is the group key of the row a visit belongs to: the same key the
// Source gives the visit's records in this dimension.
func (d dimension) visitKey(v *tiles.Visit, origins map[string]originKeys) int64 {
	switch d.dim {
	case tiles.DimDate:
		return v.Day
	case tiles.DimWeekday:
		return int64(tiles.DayDate(v.Day).Weekday())
	case tiles.DimAge:
		return int64(v.Age)
	case tiles.DimGender:
		return int64(v.Gender)
	case tiles.DimSpend:
		return int64(v.Spend)
	case tiles.DimNationality:
		return int64(tiles.CountryIndex(v.Nationality))
	case tiles.DimMunicipality:
		return origins[v.Origin].municipality
	case tiles.DimProvince:
		return origins[v.Origin].province
	case tiles.DimRegion:
		return origins[v.Origin].region
	}
	return 0
}

// fromOrigin tells whether d's key of a visit is its origin's.
func (d dimension) fromOrigin() bool {
	return d.dim == tiles.DimMunicipality || d.dim == tiles.DimProvince || d.dim == tiles.DimRegion
}

// originKeys are the group keys of an origin municipality at each level.
type originKeys struct{ municipality, province, region int64 }

// originIndex maps every municipality code of the catalog to its keys.
func originIndex(cat *refdata.Catalog) map[string]originKeys {
	m := make(map[string]originKeys, len(cat.Municipalities))
	atoi := func(s string) int64 {
		v, _ := strconv.ParseInt(s, 10, 64)
		return v
	}
	for _, mu := range cat.Municipalities {
		m[mu.Code] = originKeys{atoi(mu.Code), atoi(mu.ProvinceCode), atoi(mu.RegionCode)}
	}
	return m
}

// naming finds the names and populations of places: the gazetteer first,
// then the municipality catalog (which knows every municipality, province
// and region by code).
type naming struct {
	places *tiles.Gazetteer
	cat    *refdata.Catalog
	// from the catalog: province and region names and populations
	provinces, regions map[string]placeInfo
}

type placeInfo struct {
	name       string
	population int64
}

func newNaming(places *tiles.Gazetteer, cat *refdata.Catalog) *naming {
	n := &naming{places: places, cat: cat, provinces: map[string]placeInfo{}, regions: map[string]placeInfo{}}
	if cat == nil {
		return n
	}
	for _, m := range cat.Municipalities {
		p := n.provinces[m.ProvinceCode]
		p.name, p.population = m.Province, p.population+m.Population
		n.provinces[m.ProvinceCode] = p
		r := n.regions[m.RegionCode]
		r.name, r.population = m.Region, r.population+m.Population
		n.regions[m.RegionCode] = r
	}
	return n
}

// info returns the name and population of a place of a level, by its group
// key and code; an empty name when unknown.
func (n *naming) info(l tiles.Level, key int64, code string) placeInfo {
	if n.places != nil {
		if p, ok := n.places.Place(l, key); ok {
			return placeInfo{name: p.Name, population: p.Population}
		}
	}
	if n.cat == nil {
		return placeInfo{}
	}
	switch l {
	case tiles.LevelMunicipality:
		if m, ok := n.cat.Municipality(code); ok {
			return placeInfo{name: m.Name, population: m.Population}
		}
	case tiles.LevelProvince:
		return n.provinces[code]
	case tiles.LevelRegion:
		return n.regions[code]
	}
	return placeInfo{}
}

func (n *naming) name(l tiles.Level, key int64, code string) string { return n.info(l, key, code).name }
