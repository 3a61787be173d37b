package pgstore

import (
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Local time is answerable from hourly rows in zones a whole number of
// hours off UTC, and not in one that is not.
func TestWholeHourSpan(t *testing.T) {
	for _, c := range []struct {
		zone string
		ok   bool
	}{{"Europe/Rome", true}, {"America/New_York", true}, {"Asia/Kolkata", false}, {"Australia/Adelaide", false}, {"UTC", true}} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		first, last := wholeHourSpan(loc)
		if ok := !first.IsZero(); ok != c.ok {
			t.Errorf("%s: span %v – %v, want usable %v", c.zone, first, last, c.ok)
		}
		if c.ok && first.After(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: usable only from %v", c.zone, first)
		}
	}
}

// The rollup answers whole hours, whole cells and square bins of whole
// cells; the partial hours at the window's ends are left to records.
func TestPlanRollup(t *testing.T) {
	rome, _ := time.LoadLocation("Europe/Rome")
	h := time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)
	cell := tiles.Rect{MinX: 100 << 16, MinY: 200 << 16, MaxX: 103 << 16, MaxY: 201 << 16}
	for _, c := range []struct {
		name     string
		q        tiles.Query
		ok       bool
		from, to time.Time
	}{
		{"whole hours", tiles.Query{Filter: tiles.Filter{From: h, To: h.Add(48 * time.Hour)}}, true, h, h.Add(48 * time.Hour)},
		{"partial hours", tiles.Query{Filter: tiles.Filter{From: h.Add(time.Minute), To: h.Add(5*time.Hour + time.Second)}}, true, h.Add(time.Hour), h.Add(5 * time.Hour)},
		{"within an hour", tiles.Query{Filter: tiles.Filter{From: h.Add(time.Minute), To: h.Add(time.Hour - time.Second)}}, false, time.Time{}, time.Time{}},
		{"unbounded", tiles.Query{}, true, time.Time{}, time.Time{}},
		{"unbounded, local hours", tiles.Query{By: []tiles.Dim{tiles.DimHour}, Loc: rome}, true, localTimeFirst, localTimeLast},
		{"whole cells", tiles.Query{Area: cell}, true, time.Time{}, time.Time{}},
		{"part of a cell", tiles.Query{Area: cell.Expand(1, 0)}, false, time.Time{}, time.Time{}},
		{"hexagons", tiles.Query{Area: cell, By: []tiles.Dim{tiles.DimBin}, Grid: tiles.NewGrid(tiles.Hexagon, 10)}, false, time.Time{}, time.Time{}},
		{"squares of whole cells", tiles.Query{Area: cell, By: []tiles.Dim{tiles.DimBin}, Grid: tiles.NewGrid(tiles.Square, 12)}, true, time.Time{}, time.Time{}},
		{"squares within cells", tiles.Query{Area: cell, By: []tiles.Dim{tiles.DimBin}, Grid: tiles.NewGrid(tiles.Square, 13)}, false, time.Time{}, time.Time{}},
	} {
		s := planRollup(&c.q)
		if s.ok != c.ok || s.ok && (!s.From.Equal(c.from) || !s.To.Equal(c.to)) {
			t.Errorf("%s: %+v, want ok %v from %v to %v", c.name, s, c.ok, c.from, c.to)
		}
	}
}
