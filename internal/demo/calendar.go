package demo

import (
	"slices"
	"time"
)

// The demo's rhythms: relative visit volumes by month, weekday and hour of
// arrival, public holidays, a weekly market and festival weekends (each
// town has its own: towns.go), the same in every demo town.
// They are shaped after the CITIES figures for Deruta (about 300,000 visits
// from January to August 2025) and the habits of a small Italian town:
// shops close from 13:00 to 15:30, Sundays and Saturdays are busy, summer
// evenings are long.

// monthWeight is the relative volume by month (index 0 = January).
var monthWeight = [12]float64{0.55, 0.6, 0.8, 1.05, 1.15, 1.1, 1.2, 1.3, 1.1, 0.95, 0.7, 0.85}

// dowWeight is the relative volume by weekday (index 0 = Sunday).
var dowWeight = [7]float64{1.55, 0.75, 0.85, 0.85, 0.9, 1.0, 1.45}

// Arrival hour profiles (local time), relative weights by hour 0..23.
var (
	// weekdays: morning and late afternoon peaks, a lull while shops close.
	hoursWorkday = [24]float64{0.02, 0.01, 0.01, 0.01, 0.01, 0.03, 0.1, 0.5, 1.5, 3, 5, 6, 4.5, 2, 1.3, 2.2, 4, 5.5, 5.5, 3.5, 2, 1.2, 0.6, 0.2}
	// Sundays and holidays: a later morning, a long lunch, an evening stroll.
	hoursHoliday = [24]float64{0.05, 0.02, 0.01, 0.01, 0.01, 0.01, 0.05, 0.2, 0.7, 2, 4.5, 6.5, 5.5, 2.5, 1.5, 2.5, 4.5, 6, 6, 4.5, 2.5, 1.5, 0.7, 0.3}
	// the market: Tuesday mornings.
	hoursMarket = [24]float64{7: 1.5, 8: 4, 9: 6, 10: 6.5, 11: 5, 12: 2}
	// the festival: from late morning into the night.
	hoursFestival = [24]float64{10: 1.5, 11: 2.5, 12: 2, 13: 1.5, 14: 1.5, 15: 2.5, 16: 3.5, 17: 4.5, 18: 5, 19: 5, 20: 5, 21: 4.5, 22: 3, 23: 1}
)

// summerEvening multiplies arrivals from 19:00 to 22:59 from June to August.
const summerEvening = 1.6

const (
	marketShare   = 0.35 // extra visits of Deruta's Tuesday market, relative to the day's ordinary volume
	festivalShare = 2.0  // extra visits on each day of Deruta's festival, relative to its ordinary volume
)

// dayPlan is what one day of the period brings.
type dayPlan struct {
	index    int
	start    time.Time // local midnight
	end      time.Time // the next local midnight
	holiday  bool      // a Sunday or a public holiday
	market   bool
	festival bool
	// expected visits relative to the base rate: ordinary, market, festival
	wOrdinary, wMarket, wFestival float64
	hours                         *[24]float64
}

// plan lays out the days of [start, start+months) in town s.
func plan(s *spec, start time.Time, months int) []dayPlan {
	y, m, d := start.Date()
	loc := start.Location()
	first := time.Date(y, m, d, 0, 0, 0, 0, loc)
	stop := first.AddDate(0, months, 0)
	fests := s.festivals(first, stop)
	var days []dayPlan
	for t, i := first, 0; t.Before(stop); i++ {
		next := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		p := dayPlan{index: i, start: t, end: next}
		wd := t.Weekday()
		p.holiday = wd == time.Sunday || isHoliday(t)
		dw := dowWeight[wd]
		if p.holiday && wd != time.Sunday {
			dw = dowWeight[time.Sunday]
		}
		p.wOrdinary = monthWeight[t.Month()-1] * dw
		p.market = s.market != nil && wd == s.market.day && !p.holiday
		if p.market {
			p.wMarket = s.market.share * p.wOrdinary
		}
		for _, f := range fests {
			for k := range f.days {
				if sameDate(t, f.from.AddDate(0, 0, k)) {
					p.festival = true
					p.wFestival = f.share * p.wOrdinary
				}
			}
		}
		p.hours = &hoursWorkday
		if p.holiday || wd == time.Saturday {
			p.hours = &hoursHoliday
		}
		days = append(days, p)
		t = next
	}
	return days
}

// occurrence is one festival weekend of a period.
type occurrence struct {
	*festival
	from time.Time // its first day, local midnight
}

// festivals returns the festival weekends of town s in [from, to), in
// date order: every occurrence that falls wholly in the period, or for a
// town whose festival moves (Deruta), its first one, else one on the
// Saturday nearest the middle of the period.
func (s *spec) festivals(from, to time.Time) []occurrence {
	var out []occurrence
	if s.moving {
		if t := s.movingSaturday(from, to); !t.IsZero() {
			out = append(out, occurrence{&s.fests[0], t})
		}
		return out
	}
	loc := from.Location()
	for y := from.Year(); y <= to.Year(); y++ {
		for i := range s.fests {
			f := &s.fests[i]
			t := f.saturday(y, loc)
			if !t.Before(from) && t.AddDate(0, 0, f.days).Compare(to) <= 0 {
				out = append(out, occurrence{f, t})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b occurrence) int { return a.from.Compare(b.from) })
	return out
}

// movingSaturday is the Saturday of the town's first festival: its date
// (for Deruta the third Saturday of May, 17-18 May in 2025) when it falls
// in [from, to), else the Saturday nearest the middle of the period; zero
// when the period holds no whole weekend.
func (s *spec) movingSaturday(from, to time.Time) time.Time {
	loc := from.Location()
	for y := from.Year(); y <= to.Year(); y++ {
		t := s.fests[0].saturday(y, loc)
		if !t.Before(from) && t.AddDate(0, 0, 2).Compare(to) <= 0 {
			return t
		}
	}
	mid := from.Add(to.Sub(from) / 2)
	t := time.Date(mid.Year(), mid.Month(), mid.Day(), 0, 0, 0, 0, loc)
	for t.Weekday() != time.Saturday {
		t = t.AddDate(0, 0, -1)
	}
	if t.Before(from) || t.AddDate(0, 0, 2).After(to) {
		return time.Time{}
	}
	return t
}

func sameDate(a, b time.Time) bool {
	ya, ma, da := a.Date()
	yb, mb, db := b.Date()
	return ya == yb && ma == mb && da == db
}

// isHoliday reports Italy's national public holidays (besides Sundays).
func isHoliday(t time.Time) bool {
	switch m, d := t.Month(), t.Day(); {
	case m == time.January && (d == 1 || d == 6),
		m == time.April && d == 25,
		m == time.May && d == 1,
		m == time.June && d == 2,
		m == time.August && d == 15,
		m == time.November && d == 1,
		m == time.December && (d == 8 || d == 25 || d == 26):
		return true
	}
	e := easter(t.Year()).AddDate(0, 0, 1) // Easter Monday
	return t.Month() == e.Month() && t.Day() == e.Day()
}

// easter returns Easter Sunday (Gregorian calendar, anonymous algorithm).
func easter(y int) time.Time {
	a, b, c := y%19, y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Date(y, time.Month(month), day, 0, 0, 0, 0, time.UTC)
}
