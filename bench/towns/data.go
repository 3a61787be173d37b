package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/flowtiles/flowtiles/internal/demo"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// benchTown is one town of the bench database and how its records are
// made: Deruta and Torgiano by their own demo generators, every other
// town by Deruta's, its records moved from Deruta's piazza to a point
// inside the town's municipality.
type benchTown struct {
	// Town is what `towns.Add` is given: Code, ISTAT, Name, Center,
	// Zoom, and the municipality's boundary from the embedded reference
	// data as Perimeter (Add takes the database's own when it has one).
	Town tiles.Town
	// gen is the demo town whose generator makes the records.
	gen string
	// shift is added to every generated record's lon and lat.
	shift orb.Point
	// index is the town's position in the list (0: Deruta): it salts the
	// seed of a moved town, so that each draws its own people and days.
	index int
}

// Umbrian municipalities are those of the provinces of Perugia (054) and
// Terni (055).
func umbrian(istat string) bool {
	return strings.HasPrefix(istat, "054") || strings.HasPrefix(istat, "055")
}

// derutaISTAT and torgianoISTAT are the demo towns' municipalities.
const (
	derutaISTAT   = "054017"
	torgianoISTAT = "054053"
)

// pickTowns returns n real Umbrian municipalities as bench towns: Deruta,
// Torgiano, then the others by ISTAT code. Umbria has 92.
func pickTowns(n int) ([]benchTown, error) {
	places, err := refdata.Places()
	if err != nil {
		return nil, err
	}
	var ms []tiles.Place
	for _, p := range places {
		if p.Level == tiles.LevelMunicipality && umbrian(p.Code) {
			ms = append(ms, p)
		}
	}
	rank := func(code string) int {
		switch code {
		case derutaISTAT:
			return 0
		case torgianoISTAT:
			return 1
		}
		return 2
	}
	slices.SortFunc(ms, func(a, b tiles.Place) int {
		if d := rank(a.Code) - rank(b.Code); d != 0 {
			return d
		}
		return strings.Compare(a.Code, b.Code)
	})
	if n < 1 || n > len(ms) {
		return nil, fmt.Errorf("towns: %d towns asked, the embedded reference data has %d Umbrian municipalities", n, len(ms))
	}
	if ms[0].Code != derutaISTAT || ms[1].Code != torgianoISTAT {
		return nil, errors.New("towns: Deruta or Torgiano missing from the embedded reference data")
	}
	deruta, _ := demo.LookupTown(demo.Deruta, demo.TimeZone)
	out := make([]benchTown, n)
	for i, p := range ms[:n] {
		t := tiles.Town{Code: townCode(p.Name), ISTAT: p.Code, Name: p.Name, Population: p.Population,
			Perimeter: p.Shape, TimeZone: demo.TimeZone}
		b := benchTown{index: i}
		switch p.Code {
		case derutaISTAT:
			b.gen = demo.Deruta
		case torgianoISTAT:
			b.gen = demo.Torgiano
		default:
			b.gen = demo.Deruta
			c := deruta.Town.Center
			b.shift = orb.Point{p.Point[0] - c[0], p.Point[1] - c[1]}
		}
		dt, _ := demo.LookupTown(b.gen, demo.TimeZone)
		t.Center = orb.Point{dt.Town.Center[0] + b.shift[0], dt.Town.Center[1] + b.shift[1]}
		t.Zoom = dt.Town.Zoom
		b.Town = t
		out[i] = b
	}
	return out, nil
}

// townCode turns a municipality's name into a town code: lower case,
// accents dropped, every other run of non-alphanumerics a hyphen
// ("Città della Pieve" is citta-della-pieve).
func townCode(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		switch r {
		case 'à', 'á':
			r = 'a'
		case 'è', 'é':
			r = 'e'
		case 'ì', 'í':
			r = 'i'
		case 'ò', 'ó':
			r = 'o'
		case 'ù', 'ú':
			r = 'u'
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	s := b.String()
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	return s
}

// config is the demo generator's configuration for the town's records:
// records per town, from start for months, the seed salted by the town's
// position for a moved town (Deruta and Torgiano keep the seed: their
// records are the demo's).
func (b benchTown) config(seed uint64, records int, start time.Time, months int) demo.Config {
	if b.shift != (orb.Point{}) {
		seed = seed*1000 + uint64(b.index)
	}
	return demo.Config{Town: b.gen, Seed: seed, Records: records, Start: start, Months: months}
}

// generate streams the town's records of cfg that lie inside it (ix
// locates them at want) to fn, with their visitor ids, and counts those
// kept and those dropped for lying outside. A moved town's records are
// moved by its shift, its visitor ids start with its code, and the
// regulars who live in Deruta live in the town instead. r points into a
// buffer reused after fn returns.
func (b benchTown) generate(cfg demo.Config, ix *tiles.TownIndex, want int, fn func(r *presence.Record, id string) error) (kept, dropped int, err error) {
	moved := b.shift != (orb.Point{})
	var idb []byte
	err = demo.GenerateWithIDs(cfg, func(r *presence.Record, id string) error {
		if moved {
			r.Lon += b.shift[0]
			r.Lat += b.shift[1]
			if r.Origin == derutaISTAT {
				r.Origin = b.Town.ISTAT
			}
			if id != "" {
				idb = append(append(append(idb[:0], b.Town.Code...), '-'), id...)
				id = string(idb)
				r.Visitor = presence.VisitorHash(id)
			}
		}
		if i, ok := ix.Locate(orb.Point{r.Lon, r.Lat}); !ok || i != want {
			dropped++
			return nil
		}
		r.Town = ix.Town(want).ID
		kept++
		return fn(r, id)
	})
	return kept, dropped, err
}

// errDayDone stops the generator at the end of a daily batch's day.
var errDayDone = errors.New("day done")

// daily streams the town's records of one day, day (a date in the demo's
// time zone), at the rate of records over the period of start and months:
// a town's daily batch (the same seed: the same regulars come back).
func (b benchTown) daily(seed uint64, records int, start time.Time, months int, day time.Time, ix *tiles.TownIndex, want int, fn func(r *presence.Record, id string) error) (kept int, err error) {
	loc, err := time.LoadLocation(demo.TimeZone)
	if err != nil {
		return 0, err
	}
	period, err := demo.Days(demo.Config{Town: b.gen, Start: start, Months: months})
	if err != nil {
		return 0, err
	}
	y, m, d := day.Date()
	first := time.Date(y, m, d, 0, 0, 0, 0, loc)
	month := demo.Config{Town: b.gen, Start: first, Months: 1}
	days, err := demo.Days(month)
	if err != nil {
		return 0, err
	}
	cfg := b.config(seed, max(1, records*days/period), first, 1)
	end := first.AddDate(0, 0, 1)
	kept, _, err = b.generate(cfg, ix, want, func(r *presence.Record, id string) error {
		if !r.ObservedAt.Before(end) {
			return errDayDone
		}
		return fn(r, id)
	})
	if errors.Is(err, errDayDone) {
		err = nil
		kept-- // the record that ended the day was counted, not written
	}
	return kept, err
}
