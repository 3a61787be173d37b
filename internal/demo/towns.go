package demo

import (
	_ "embed"
	"math"
	"sync"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// The codes of the demo towns (tiles.Town.Code, Config.Town).
const (
	Deruta   = "deruta"
	Torgiano = "torgiano"
)

// DemoTown is one town of the embedded demo: the town to serve and the
// data that goes with it. Get one from Towns or LookupTown (the zero
// DemoTown has no data); generate its records with Config.Town set to
// Town.Code.
type DemoTown struct {
	// Town is the town as a server knows it: ID (its number in the
	// stores: Deruta 0, Torgiano 1), Code, ISTAT, names, population,
	// centre, zoom and kiosk title. Its Perimeter is left empty: the
	// municipality's boundary is towns.EmbeddedMunicipality(Town.ISTAT).
	Town tiles.Town
	spec *spec
}

// Towns returns the demo towns, Deruta first, in time zone tz. Each call
// returns fresh values the caller may modify.
func Towns(tz string) []DemoTown {
	out := make([]DemoTown, len(specs))
	for i, s := range specs {
		out[i] = DemoTown{Town: s.town(tz), spec: s}
	}
	return out
}

// LookupTown returns the demo town with code (Deruta or Torgiano), in
// time zone tz.
func LookupTown(code, tz string) (DemoTown, bool) {
	if s := specByCode(code); s != nil && code != "" {
		return DemoTown{Town: s.town(tz), spec: s}, true
	}
	return DemoTown{}, false
}

// Zones returns the town's demo zones: Level zone, Key the zone's index
// within the town (its bit in a record's zone mask), Code its name. Zone 0,
// centro-storico, contains all the others and every generated record. Each
// call returns a fresh slice of places the caller may keep; the shapes are
// shared and must not be modified.
func (t DemoTown) Zones() []tiles.Place { return t.spec.zones() }

// ZonesGeoJSON returns the town's embedded zones file (what
// testdata/CODE/zones.geojson holds). The slice is shared: do not modify it.
func (t DemoTown) ZonesGeoJSON() []byte { return t.spec.zonesGeoJSON }

// Events returns the town's events in the months from start (the days
// that bring it extra visitors), in date order.
func (t DemoTown) Events(start time.Time, months int) []Event {
	return t.spec.events(start, months)
}

// DefaultVisits is the number of visits of the town's default data set
// (Config.Records 0) over the default eight months.
func (t DemoTown) DefaultVisits() int { return int(math.Round(t.spec.scale * DefaultVisits)) }

// spec is everything the generator knows of one demo town.
type spec struct {
	id                int16
	code, istat, name string
	names             map[string]string
	title             map[string]string // the kiosk's headline by language
	zoom              float64
	centre            orb.Point // where maps open; the gravity model's origin
	zonesGeoJSON      []byte
	// scale is the town's visits relative to Deruta's (DefaultVisits).
	scale float64
	// home is the share of regulars who live in the town (the others
	// live within 20 km).
	home float64
	// salt is mixed into the seeds so that each town draws its own
	// people and days from the same seed: 0 for Deruta, whose data
	// predates the other towns.
	salt uint64
	// prefix starts the town's visitor ids ("" for Deruta).
	prefix string
	route  route
	market *market // nil: no weekly market
	fests  []festival
	// moving: a period without the first festival has it on the
	// Saturday nearest its middle, and only its first occurrence counts
	// (Deruta's rule, so that every demo period shows a festival).
	moving bool
	// metres per degree at the town's latitude.
	mLon, mLat float64

	zonesOnce sync.Once
	zonesList []tiles.Place
	zonesErr  error

	gravityOnce   sync.Once
	gravityAll    *gravity // Italian visitors
	gravityNearby *gravity // regulars from outside the town: within 20 km
}

// route is the walk through a town's historic centre: a line of
// waypoints (car park, gate, corso, piazza, corso, gate, car park), a
// detour from the piazza to its museum, and the entries visits start at.
type route struct {
	axis    []orb.Point
	piazza  int       // the axis waypoint of the main square
	museum  orb.Point // reached from the piazza and back
	entries []entry
	// how visitors and regulars pick their entry (by index in entries)
	visitors, regulars choice
}

// entry is where a visit starts: a point on the axis (a car park or a gate
// at its ends), or a way from off the axis (lead, walked in this order)
// that joins it at the piazza.
type entry struct {
	join int
	lead []orb.Point
}

// market is a town's weekly market.
type market struct {
	day      time.Weekday
	share    float64 // extra visits, relative to the day's ordinary volume
	entry    int     // the entry market visits start at
	min, max orb.Point
}

// festival is a yearly event: a weekend that brings extra visits.
type festival struct {
	name  string
	names map[string]string
	// saturday returns the festival's Saturday in year y.
	saturday func(y int, loc *time.Location) time.Time
	days     int
	share    float64 // extra visits on each day, relative to its ordinary volume
}

func newSpec(s *spec) *spec {
	s.mLat = 111_200.0
	s.mLon = 111_320.0 * math.Cos(s.centre[1]*math.Pi/180)
	return s
}

func (s *spec) town(tz string) tiles.Town {
	t := tiles.Town{ID: s.id, Code: s.code, ISTAT: s.istat, Name: s.name, Names: clone(s.names), TimeZone: tz,
		Center: s.centre, Zoom: s.zoom, Kiosk: tiles.Kiosk{Title: clone(s.title)}}
	if m, ok := refdata.Italy().Municipality(t.ISTAT); ok {
		t.Population = m.Population
	}
	return t
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// specByCode returns the town of Config.Town: "" is Deruta; nil when
// code is no demo town.
func specByCode(code string) *spec {
	if code == "" {
		return deruta
	}
	for _, s := range specs {
		if s.code == code {
			return s
		}
	}
	return nil
}

// specs are the demo towns, by ID.
var specs = []*spec{deruta, torgiano}

// zonesGeoJSON is Deruta's demo zones, drawn for the demo over the historic
// centre (not an official perimeter). testdata/deruta/zones.geojson holds
// the same bytes, for `flowtiles areas import --kind zones`.
//
//go:embed zones.geojson
var zonesGeoJSON []byte

// torgianoZones is Torgiano's, likewise (testdata/torgiano/zones.geojson).
//
//go:embed zones_torgiano.geojson
var torgianoZones []byte

// deruta: the ceramics town, the first demo. Its walk runs north to south
// along the corso: the car park below Porta Sant'Angelo, the gate, the
// corso, Piazza dei Consoli, the corso again, Porta Perugina, the south
// car park; the museum is the ceramics museum on Largo San Francesco; a
// third car park along the west walls leads to the piazza by a lane.
var deruta = newSpec(&spec{
	id: 0, code: Deruta, istat: derutaISTAT, name: "Deruta",
	title:        map[string]string{"it": "Centro storico di Deruta", "en": "Deruta's historic centre"},
	zoom:         15.5,
	centre:       orb.Point{12.4177, 42.9826}, // Piazza dei Consoli
	zonesGeoJSON: zonesGeoJSON,
	scale:        1, home: 0.6,
	route: route{
		axis: []orb.Point{
			{12.4182, 42.98575}, // 0 parcheggio-nord
			{12.4179, 42.98485}, // 1 porta-sant-angelo
			{12.41785, 42.9842}, // 2 corso, north
			{12.41775, 42.9835}, // 3 corso
			{12.4177, 42.9826},  // 4 piazza-dei-consoli
			{12.4176, 42.9818},  // 5 corso, south
			{12.41745, 42.9811}, // 6 corso
			{12.4174, 42.98045}, // 7 porta-perugina
			{12.4171, 42.9796},  // 8 parcheggio-sud
		},
		piazza: 4,
		museum: orb.Point{12.41845, 42.9825}, // largo-san-francesco
		entries: []entry{
			{join: 0}, // the north car park
			{join: 8}, // the south car park
			{join: 4, lead: []orb.Point{
				{12.4156, 42.98225}, // parcheggio-ovest
				{12.4166, 42.9824},  // the lane from the west car park to the piazza
			}},
			{join: 1}, // on foot through Porta Sant'Angelo
			{join: 7}, // on foot through Porta Perugina
		},
		visitors: newChoice(0.40, 0.22, 0.15, 0.12, 0.11),
		regulars: newChoice(0.25, 0.15, 0.10, 0.25, 0.25),
	},
	// the market's stalls: the north car park, on Tuesdays.
	market: &market{day: time.Tuesday, share: marketShare, entry: 0,
		min: orb.Point{12.4174, 42.98545}, max: orb.Point{12.4190, 42.98605}},
	fests: []festival{{
		name: "Festa della ceramica", names: map[string]string{"en": "Ceramics festival"},
		// the third Saturday of May (17-18 May in 2025)
		saturday: func(y int, loc *time.Location) time.Time { return nthSaturday(y, time.May, 3, loc) },
		days:     2, share: festivalShare,
	}},
	moving: true,
})

// torgiano: the wine town at the confluence of the Tiber and the Chiascio,
// about 12 km north of Deruta, smaller and quieter. Piazza Baglioni is at
// the coordinates the comune publishes (43.0255101 N, 12.4336748 E); the
// rest of the walk is drawn for the demo around it, north-north-west to
// south-south-east: the car park by the Torre Baglioni (outside the walls,
// towards Perugia), the tower, the corso, the piazza with the wine museum
// (MUVIT, Palazzo Graziani-Baglioni), the corso, Via Garibaldi with the
// olive oil museum, the south car park; a car park and bus stop to the
// east leads to the piazza. No weekly market; two wine weekends.
var torgiano = newSpec(&spec{
	id: 1, code: Torgiano, istat: "054053", name: "Torgiano",
	title:        map[string]string{"it": "Torgiano, il borgo del vino", "en": "Torgiano, the wine town"},
	zoom:         16,
	centre:       orb.Point{12.43367, 43.02551}, // Piazza Baglioni
	zonesGeoJSON: torgianoZones,
	scale:        0.4, home: 0.5, salt: 0x7067_1a40, prefix: "t",
	route: route{
		axis: []orb.Point{
			{12.4327, 43.0281},   // 0 parcheggio-torre
			{12.4330, 43.0272},   // 1 torre-baglioni
			{12.4333, 43.0265},   // 2 corso, north
			{12.4335, 43.0260},   // 3 corso
			{12.43367, 43.02551}, // 4 piazza-baglioni
			{12.4339, 43.0250},   // 5 corso, south
			{12.4342, 43.0245},   // 6 the end of the corso
			{12.4345, 43.0240},   // 7 via Garibaldi, museo-olivo-olio
			{12.4349, 43.0233},   // 8 parcheggio-sud
		},
		piazza: 4,
		museum: orb.Point{12.4331, 43.0254}, // museo-del-vino, across the piazza
		entries: []entry{
			{join: 0}, // the car park by the tower
			{join: 8}, // the south car park
			{join: 4, lead: []orb.Point{
				{12.4356, 43.0257}, // parcheggio-est, the bus stop
				{12.4347, 43.0256}, // the way up to the piazza
			}},
			{join: 1}, // on foot up the avenue to the tower
			{join: 7}, // on foot by Via Garibaldi
		},
		visitors: newChoice(0.32, 0.22, 0.26, 0.10, 0.10),
		regulars: newChoice(0.20, 0.20, 0.10, 0.25, 0.25),
	},
	fests: []festival{
		{
			name: "Cantine aperte", names: map[string]string{"en": "Open cellars"},
			// the weekend of the last Sunday of May
			saturday: func(y int, loc *time.Location) time.Time {
				return lastSunday(y, time.May, loc).AddDate(0, 0, -1)
			},
			days: 2, share: 1.6,
		},
		{
			name: "Festa della vendemmia", names: map[string]string{"en": "Grape harvest festival"},
			// the weekend of the last Sunday of September
			saturday: func(y int, loc *time.Location) time.Time {
				return lastSunday(y, time.September, loc).AddDate(0, 0, -1)
			},
			days: 2, share: 1.8,
		},
	},
})

// nthSaturday returns the n-th Saturday of month m of year y.
func nthSaturday(y int, m time.Month, n int, loc *time.Location) time.Time {
	t := time.Date(y, m, 1, 0, 0, 0, 0, loc)
	for t.Weekday() != time.Saturday {
		t = t.AddDate(0, 0, 1)
	}
	return t.AddDate(0, 0, 7*(n-1))
}

// lastSunday returns the last Sunday of month m of year y.
func lastSunday(y int, m time.Month, loc *time.Location) time.Time {
	t := time.Date(y, m+1, 0, 0, 0, 0, 0, loc)
	for t.Weekday() != time.Sunday {
		t = t.AddDate(0, 0, -1)
	}
	return t
}
