package demo

import (
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// perimeters returns the demo towns with their municipal perimeters from
// the embedded reference data.
func perimeters(t *testing.T) []tiles.Town {
	t.Helper()
	places, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	var out []tiles.Town
	for _, d := range Towns(TimeZone) {
		town := d.Town
		for _, p := range places {
			if p.Level == tiles.LevelMunicipality && p.Code == town.ISTAT {
				town.Perimeter = p.Shape
			}
		}
		if len(town.Perimeter) == 0 {
			t.Fatalf("no perimeter of %s (%s) in the reference data", town.Name, town.ISTAT)
		}
		out = append(out, town)
	}
	return out
}

// Every demo record lies inside its town's municipal perimeter, and none
// inside another demo town's, so that the demo loads into a database whose
// towns are Deruta and Torgiano (flowtiles towns add town --istat 054017,
// as the README does) without a buffer, and each record finds its town.
func TestDemoRecordsInsideTheirTown(t *testing.T) {
	all := perimeters(t)
	ix := tiles.NewTownIndex(all)
	for i, town := range all {
		t.Run(town.Code, func(t *testing.T) {
			n, outside := 0, 0
			cfg := Config{Town: town.Code, Seed: 1, Records: 200000, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			err := Generate(cfg, func(r presence.Record) error {
				n++
				p := orb.Point{r.Lon, r.Lat}
				if j, ok := ix.Locate(p); !ok || j != i {
					if outside++; outside <= 3 {
						t.Errorf("record at %v,%v outside %s (in town %d, %v)", r.Lon, r.Lat, town.Name, j, ok)
					}
				}
				for j, other := range all {
					if j != i && planar.MultiPolygonContains(other.Perimeter, p) {
						t.Fatalf("record at %v,%v of %s inside %s", r.Lon, r.Lat, town.Name, other.Name)
					}
				}
				return nil
			})
			if err != nil || n == 0 || outside > 0 {
				t.Fatalf("%d of %d records outside (%v)", outside, n, err)
			}
		})
	}
}

// The towns' zones and walks lie inside their perimeters, and the centre
// (where maps open) on the town itself, in its historic centre.
func TestDemoTownsInsidePerimeters(t *testing.T) {
	all := perimeters(t)
	ix := tiles.NewTownIndex(all)
	for i, d := range Towns(TimeZone) {
		in := func(what string, p orb.Point) {
			t.Helper()
			if j, ok := ix.Locate(p); !ok || j != i || !planar.MultiPolygonContains(all[i].Perimeter, p) {
				t.Errorf("%s: %s %v not inside its perimeter", d.Town.Code, what, p)
			}
		}
		in("centre", d.Town.Center)
		if !all[i].Perimeter.Bound().Contains(d.Town.Center) {
			t.Errorf("%s: centre %v outside the perimeter's bound %v", d.Town.Code, d.Town.Center, all[i].Perimeter.Bound())
		}
		for _, z := range d.Zones() {
			for _, q := range z.Shape[0][0] {
				in("zone "+z.Code, q)
			}
		}
		rt := &d.spec.route
		pts := append([]orb.Point{rt.museum}, rt.axis...)
		for _, e := range rt.entries {
			pts = append(pts, e.lead...)
		}
		if m := d.spec.market; m != nil {
			pts = append(pts, m.min, m.max)
		}
		for _, q := range pts {
			in("waypoint", q)
			if !planar.MultiPolygonContains(d.Zones()[0].Shape, q) {
				t.Errorf("%s: waypoint %v outside the historic centre", d.Town.Code, q)
			}
		}
	}
}
