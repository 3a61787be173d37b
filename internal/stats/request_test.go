package stats

import (
	"errors"
	"net/url"
	"testing"

	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	cases := []struct{ query, param string }{
		{"", "zone|municipality|bbox"},
		{"from=2025-03-01", "zone|municipality|bbox"},
		{"zone=centro&bbox=12,42,13,43", "bbox"},
		{"municipality=054017&zone=centro", "municipality"},
		{"zone=nowhere", "zone"},
		{"zone=", "zone"},
		{"municipality=54017", "municipality"},
		{"municipality=ABCDEF", "municipality"},
		{"municipality=054039", "municipality"}, // no boundary loaded
		{"bbox=12,42,13", "bbox"},
		{"bbox=12,42,13,x", "bbox"},
		{"bbox=13,42,12,43", "bbox"},
		{"bbox=12,43,13,43", "bbox"},
		{"bbox=12,42,190,43", "bbox"},
		{"bbox=12,-89,13,43", "bbox"},
		{"bbox=NaN,42,13,43", "bbox"},
		{"zone=centro&by=week", "by"},
		{"zone=centro&hours=25", "hours"},
		{"zone=centro&age=12-15", "age"},
		{"zone=centro&from=yesterday", "from"},
		{"zone=centro&origin=999999", "origin"},
		{"zone=centro&from=2025-03-04&to=2025-03-03", "to"},
		{"zone=centro&from=2025-03-04&to=2025-03-05&compare_from=2025-03-01", "compare_to"},
		{"zone=centro&from=2025-03-04&to=2025-03-05&compare_to=2025-03-01", "compare_from"},
		{"zone=centro&from=2025-03-04&to=2025-03-05&compare_from=bad&compare_to=2025-03-02", "compare_from"},
		{"zone=centro&from=2025-03-04&to=2025-03-05&compare_from=2025-03-03&compare_to=2025-03-04", "compare_from"}, // overlap
		{"zone=centro&compare_from=2025-03-03&compare_to=2025-03-03", "from"},
		{"zone=centro&from=2025-03-04&compare_from=2025-03-01&compare_to=2025-03-02", "to"},
	}
	for _, c := range cases {
		_, err := e.try(c.query)
		var fe *tiles.FilterError
		if !errors.As(err, &fe) {
			t.Errorf("%q: %v, want a *tiles.FilterError", c.query, err)
			continue
		}
		if fe.Param != c.param {
			t.Errorf("%q: error names %q, want %q (%v)", c.query, fe.Param, c.param, err)
		}
	}
	// Adjacent periods do not overlap.
	if _, err := e.try("zone=centro&from=2025-03-04&to=2025-03-04&compare_from=2025-03-03&compare_to=2025-03-03"); err != nil {
		t.Errorf("adjacent comparison: %v", err)
	}
}

func TestBBoxSnapping(t *testing.T) {
	parse := func(s string) AreaSpec {
		t.Helper()
		r, err := ParseRequest(url.Values{"bbox": {s}}, sourcetest.Rome, nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return r.Area
	}
	a := parse("12.4160,42.9815,12.4195,42.9838")
	const step = 1 << SnapBits
	r := a.Rect
	if r.MinX%step != 0 || r.MinY%step != 0 || r.MaxX%step != 0 || r.MaxY%step != 0 {
		t.Errorf("not snapped: %+v", r)
	}
	asked := tiles.RectFromLonLat(12.4160, 42.9815, 12.4195, 42.9838)
	if r.MinX > asked.MinX || r.MinY > asked.MinY || r.MaxX < asked.MaxX || r.MaxY < asked.MaxY {
		t.Errorf("snapped %+v does not hold %+v", r, asked)
	}
	if r.MaxX-r.MinX-(asked.MaxX-asked.MinX) >= 2*step {
		t.Errorf("snapped too far: %+v from %+v", r, asked)
	}
	// Boxes a few metres apart snap to the same box: they cannot be
	// differenced.
	for _, s := range []string{"12.41601,42.98151,12.41951,42.98381", "12.41605,42.9815,12.41949,42.98379"} {
		if b := parse(s).Rect; b != r {
			t.Errorf("%s snapped to %+v, want %+v", s, b, r)
		}
	}
	if a.Requested != [4]float64{12.4160, 42.9815, 12.4195, 42.9838} {
		t.Errorf("requested: %v", a.Requested)
	}
}

func TestBBoxFigures(t *testing.T) {
	e := newEnv(t, 3, records(t, handFixture, sourcetest.Centre))
	// A box around the records gives the zone's figures (all records are
	// in centro), and echoes the snapped box.
	rep := e.report(t, "from=2025-03-03&to=2025-03-04&bbox=12.4176,42.9825,12.4178,42.9827")
	zone := e.report(t, window)
	if got, want := asJSON(t, rep.Period.Total), asJSON(t, zone.Period.Total); got != want {
		t.Errorf("bbox total %s, want the zone's %s", got, want)
	}
	b := rep.Area.BBox
	if rep.Area.Kind != AreaBBox || b == nil || b[0] > 12.4176 || b[1] > 42.9825 || b[2] < 12.4178 || b[3] < 42.9827 || rep.Area.Requested == nil {
		t.Errorf("area: %s", asJSON(t, rep.Area))
	}
	// A box elsewhere has nobody: the total is withheld, nothing else.
	rep = e.report(t, "bbox=12.5,43.1,12.51,43.11")
	if !rep.Period.Total.Suppressed || len(rep.Period.TopOrigins) != 0 {
		t.Errorf("empty box: %s", asJSON(t, rep.Period))
	}
}
