package stats

import (
	"errors"
	"slices"
	"testing"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

func municipality(shape orb.MultiPolygon) tiles.Place {
	return tiles.Place{Level: tiles.LevelMunicipality, Code: "054017", Key: 54017, Name: "Deruta", Population: 9456,
		Shape: shape, Point: shape.Bound().Center()}
}

// triangle has its right angle at the south-west corner of a 200 m square
// around c: the north-east half of the square is outside it.
func triangle(c orb.Point) orb.MultiPolygon {
	const d = 0.001
	return orb.MultiPolygon{{{{c[0] - d, c[1] - d}, {c[0] + d, c[1] - d}, {c[0] - d, c[1] + d}, {c[0] - d, c[1] - d}}}}
}

// others are five visitors with no attributes, on the fixture's Monday.
var others = []person{
	{"o1", 1, 0, 0, "", "", 0, []string{"2025-03-03 10:00"}},
	{"o2", 1, 0, 0, "", "", 0, []string{"2025-03-03 10:00"}},
	{"o3", 1, 0, 0, "", "", 0, []string{"2025-03-03 10:00"}},
	{"o4", 1, 0, 0, "", "", 0, []string{"2025-03-03 10:00"}},
	{"o5", 1, 0, 0, "", "", 0, []string{"2025-03-03 10:00"}},
}

func TestMunicipalityWholeTown(t *testing.T) {
	c := sourcetest.Centre
	e := newEnv(t, 3, records(t, handFixture, c), municipality(square(c, 0.05, 0.05)))
	rep := e.report(t, "municipality=054017&from=2025-03-03&to=2025-03-04&by=age")
	zone := e.report(t, window+"&by=age")
	if got, want := asJSON(t, rep.Period), asJSON(t, zone.Period); got != want {
		t.Errorf("municipality:\n%s\nwant the zone's:\n%s", got, want)
	}
	if rep.Area.Kind != AreaMunicipality || rep.Area.Name != "Deruta" || rep.Area.Population != 9456 || rep.Area.BBox == nil {
		t.Errorf("area: %s", asJSON(t, rep.Area))
	}
	// The bbox echoed is the boundary's, not the records' extent.
	if b := rep.Area.BBox; b[0] != c[0]-0.05 || b[3] != c[1]+0.05 {
		t.Errorf("bbox %v is not the boundary's bounds", b)
	}
}

func TestMunicipalitySeparable(t *testing.T) {
	// The fixture near the right angle (inside), five visitors in the
	// north-east corner of the bounds (outside): the municipality's
	// figures are the fixture's alone.
	c := sourcetest.Centre
	in := orb.Point{c[0] - 0.0009, c[1] - 0.0009}
	recs := append(records(t, handFixture, in), records(t, others, orb.Point{c[0] + 0.0008, c[1] + 0.0008})...)
	e := newEnv(t, 3, recs, municipality(triangle(c)))
	got := e.report(t, "municipality=054017&from=2025-03-03&to=2025-03-04&by=hour")
	alone := newEnv(t, 3, records(t, handFixture, in)).report(t, window+"&by=hour")
	if a, b := asJSON(t, got.Period), asJSON(t, alone.Period); a != b {
		t.Errorf("municipality:\n%s\nwant:\n%s", a, b)
	}
	// The zone holds both groups: 5 more people.
	if v, _ := e.report(t, window).Period.Total.Visitors.Value(); v != 17 {
		t.Errorf("zone visitors %v, want 12+5", v)
	}
}

func TestMunicipalityNotSeparable(t *testing.T) {
	// Records inside the triangle near two of its corners, and outside it
	// between them: no rectangle holds the first and not the last.
	c := sourcetest.Centre
	recs := append(records(t, handFixture[:4], orb.Point{c[0] + 0.0005, c[1] - 0.0009}), records(t, handFixture[4:], orb.Point{c[0] - 0.0009, c[1] + 0.0005})...)
	recs = append(recs, records(t, others, orb.Point{c[0] + 0.0003, c[1] + 0.0003})...)
	e := newEnv(t, 3, recs, municipality(triangle(c)))
	_, err := e.try("municipality=054017")
	var fe *tiles.FilterError
	if !errors.As(err, &fe) || fe.Param != "municipality" {
		t.Fatalf("got %v, want an error naming municipality", err)
	}
	// Outside the window of the outsiders (Monday), Tuesday's records are
	// all inside and separable.
	rep, err := e.try("municipality=054017&from=2025-03-04&to=2025-03-04")
	if err != nil {
		t.Fatalf("Tuesday: %v", err)
	}
	if v, _ := rep.Period.Total.Presences.Value(); v != 10 {
		t.Errorf("Tuesday presences %v, want 10", v)
	}
}

func TestClassify(t *testing.T) {
	c := sourcetest.Centre
	shape := triangle(c)
	cell := func(lon, lat, d float64) tiles.Rect {
		return tiles.RectFromLonLat(lon-d, lat-d, lon+d, lat+d)
	}
	for _, tc := range []struct {
		lon, lat float64
		want     placement
	}{
		{c[0] - 0.0008, c[1] - 0.0008, inside},
		{c[0] + 0.0008, c[1] + 0.0008, outside},
		{c[0] + 0.01, c[1], outside},
		{c[0], c[1], cut}, // on the hypotenuse
	} {
		if got := classify(shape, cell(tc.lon, tc.lat, 0.0001), false); got != tc.want {
			t.Errorf("cell at %v,%v: %d, want %d", tc.lon, tc.lat, got, tc.want)
		}
	}
	// A hole makes a cell around it cut.
	holed := orb.MultiPolygon{append(square(c, 0.001, 0.001)[0], square(c, 0.00001, 0.00001)[0][0].Clone())}
	holed[0][1].Reverse()
	if got := classify(holed, cell(c[0], c[1], 0.0001), false); got != cut {
		t.Errorf("cell around a hole: %d, want cut", got)
	}
}

// Whether a municipality can be answered must not tell where a few people
// were: fewer than k people between the two groups never make it fail.
func TestMunicipalityAFewPeopleDoNotDecide(t *testing.T) {
	c := sourcetest.Centre
	inside := append(records(t, handFixture[:4], orb.Point{c[0] + 0.0005, c[1] - 0.0009}), records(t, handFixture[4:], orb.Point{c[0] - 0.0009, c[1] + 0.0005})...)
	between := orb.Point{c[0] + 0.0003, c[1] + 0.0003}
	for n := 1; n <= len(others); n++ {
		recs := append(slices.Clone(inside), records(t, others[:n], between)...)
		e := newEnv(t, 3, recs, municipality(triangle(c)))
		_, err := e.try("municipality=054017")
		people := int64(len(distinctVisitors(records(t, others[:n], between))))
		switch refused := err != nil; {
		case people < 3 && refused:
			t.Errorf("%d people outside the boundary made the request fail: %v", people, err)
		case people >= 3 && !refused:
			t.Errorf("%d people outside the boundary, between the groups inside: no rectangle separates them, but the request was answered", people)
		}
	}
}

func distinctVisitors(recs []presence.Record) map[int64]bool {
	m := map[int64]bool{}
	for _, r := range recs {
		m[r.Visitor] = true
	}
	return m
}
