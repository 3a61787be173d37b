package tiles

import "time"

// Clock turns Unix seconds into local hours, weekdays and dates of one time
// zone without allocating: it remembers the zone period (between two
// daylight-saving changes) of the last instant it saw. A Clock is cheap to
// make and not safe for concurrent use: make one per scan.
type Clock struct {
	loc    *time.Location
	lo, hi int64 // [lo, hi): the cached zone period, in Unix seconds
	off    int64 // its offset from UTC, seconds
}

// NewClock returns a Clock for loc (UTC when nil).
func NewClock(loc *time.Location) *Clock {
	if loc == nil {
		loc = time.UTC
	}
	return &Clock{loc: loc, lo: 1, hi: 0}
}

// Local returns Unix seconds t shifted to local wall-clock seconds.
func (c *Clock) Local(t int64) int64 {
	if t < c.lo || t >= c.hi {
		tt := time.Unix(t, 0).In(c.loc)
		_, off := tt.Zone()
		c.off = int64(off)
		start, end := tt.ZoneBounds()
		c.lo, c.hi = -1<<62, 1<<62
		if !start.IsZero() {
			c.lo = start.Unix()
		}
		if !end.IsZero() {
			c.hi = end.Unix()
		}
	}
	return t + c.off
}

// Hour returns the local hour of day (0-23) of Unix seconds t.
func (c *Clock) Hour(t int64) int { return int(floorMod(c.Local(t), 86400) / 3600) }

// Weekday returns the local day of the week of Unix seconds t.
func (c *Clock) Weekday(t int64) time.Weekday {
	return time.Weekday(floorMod(floorDiv(c.Local(t), 86400)+4, 7)) // 1970-01-01 was a Thursday
}

// Day returns the local date of Unix seconds t as days since 1970-01-01.
func (c *Clock) Day(t int64) int64 { return floorDiv(c.Local(t), 86400) }

// DayDate converts a day number from Day back to a date.
func DayDate(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
