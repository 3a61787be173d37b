package tiles

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestClockMatchesTimePackage(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(testSeed(t), 4))
	c := NewClock(loc)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := 0; i < 100000; i++ {
		// mostly increasing with jumps back, across both DST changes
		ts := base + rng.Int64N(2*365*86400)
		lt := time.Unix(ts, 0).In(loc)
		if h := c.Hour(ts); h != lt.Hour() {
			t.Fatalf("%v: hour %d, want %d", lt, h, lt.Hour())
		}
		if d := c.Weekday(ts); d != lt.Weekday() {
			t.Fatalf("%v: weekday %v, want %v", lt, d, lt.Weekday())
		}
		y, m, dd := lt.Date()
		if got := DayDate(c.Day(ts)); got != time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) {
			t.Fatalf("%v: date %v", lt, got)
		}
	}
}
