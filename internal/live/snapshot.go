package live

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/flowtiles/flowtiles/tiles"
)

// Snapshot is the state a live event carries: per zone and for the whole
// town, the people present in the last completed step (WindowStart to
// WindowEnd), in the step before, typically, and the trend. Figures move in
// whole steps: a step's figure is published once it has ended, so single
// arrivals and departures within a step never show.
type Snapshot struct {
	Time          time.Time `json:"time"`
	WindowStart   time.Time `json:"window_start"`
	WindowEnd     time.Time `json:"window_end"`
	WindowMinutes int       `json:"window_minutes"`
	DataVersion   uint64    `json:"data_version"`
	K             int64     `json:"k"`
	Town          Figures   `json:"town"`
	Zones         []Figures `json:"zones"`
}

// Figures are the live figures of one zone (or the town).
type Figures struct {
	Zone string `json:"zone,omitempty"`
	Name string `json:"name,omitempty"`
	// Present is the distinct people of the last completed step; Previous
	// of the step before it. Published as every figure is (tiles.Privacy).
	Present  tiles.Figure `json:"present"`
	Previous tiles.Figure `json:"previous"`
	Typical  Typical      `json:"typical"`
	Trend    Trend        `json:"trend"`
}

// Typical is the lower median of the published figures of the same step of
// the same weekday over the past weeks with data (tiles.Typical).
type Typical struct {
	Value      *int64 `json:"value,omitempty"`
	Suppressed bool   `json:"suppressed,omitempty"`
	Weeks      int    `json:"weeks"`
}

// Trend compares Present with Previous.
type Trend struct {
	Direction  string   `json:"direction,omitempty"` // up, down or flat
	Change     *float64 `json:"change,omitempty"`    // relative
	Suppressed bool     `json:"suppressed,omitempty"`
}

// trendThreshold is the relative change beyond which a trend is up or down.
const trendThreshold = 0.10

// figures computes snapshots from a source. Not safe for concurrent use:
// the hub's loop owns it.
type figures struct {
	src    tiles.Source
	zones  []tiles.Place // sorted by key
	priv   tiles.Privacy
	loc    *time.Location
	window time.Duration
	weeks  int

	// typical values are recomputed once per minute: past weeks change
	// rarely, and this keeps a snapshot cheap.
	typicalAt time.Time
	typical   map[int64]Typical // by zone key; town under townKey
}

// townKey is the key of the whole town in per-zone maps.
const townKey = -2

// count is the people of one window, by zone key and for the town.
type count map[int64]tiles.Group

// count returns the groups of the window [from, to).
func (f *figures) count(ctx context.Context, from, to time.Time) (count, error) {
	flt := tiles.Filter{From: from, To: to}
	out := count{}
	q := tiles.Query{Filter: flt, By: []tiles.Dim{tiles.DimZone}, Loc: f.loc}
	if err := f.src.Aggregate(ctx, q, func(g tiles.Group) error {
		out[g.Key[0]] = g
		return nil
	}); err != nil {
		return nil, fmt.Errorf("live figures %s-%s: %w", from.Format(time.TimeOnly), to.Format(time.TimeOnly), err)
	}
	q.By = nil
	if err := f.src.Aggregate(ctx, q, func(g tiles.Group) error {
		out[townKey] = g
		return nil
	}); err != nil {
		return nil, fmt.Errorf("live figures %s-%s: %w", from.Format(time.TimeOnly), to.Format(time.TimeOnly), err)
	}
	return out, nil
}

// stepEnd is the end of the last step completed at now: steps are whole
// multiples of the window since the Unix epoch (quarter hours by default,
// the same in every time zone with whole-quarter offsets).
func (f *figures) stepEnd(now time.Time) time.Time {
	return now.Truncate(f.window)
}

// snapshot computes the figures at now (whole seconds).
func (f *figures) snapshot(ctx context.Context, now time.Time) (*Snapshot, error) {
	now = now.Truncate(time.Second)
	end := f.stepEnd(now)
	cur, err := f.count(ctx, end.Add(-f.window), end)
	if err != nil {
		return nil, err
	}
	prev, err := f.count(ctx, end.Add(-2*f.window), end.Add(-f.window))
	if err != nil {
		return nil, err
	}
	if minute := now.Truncate(time.Minute); !minute.Equal(f.typicalAt) {
		if f.typical, err = f.typicals(ctx, end); err != nil {
			return nil, err
		}
		f.typicalAt = minute
	}
	s := &Snapshot{Time: now.In(f.loc), WindowStart: end.Add(-f.window).In(f.loc), WindowEnd: end.In(f.loc),
		WindowMinutes: int(f.window / time.Minute), K: f.priv.K, Zones: []Figures{}}
	s.Town = f.zone(townKey, cur, prev)
	for _, z := range f.zones {
		fz := f.zone(z.Key, cur, prev)
		fz.Zone, fz.Name = z.Code, z.Name
		s.Zones = append(s.Zones, fz)
	}
	return s, nil
}

// people is the published people of one zone (or the town) in a count.
func (f *figures) people(c count, key int64) tiles.Figure {
	g, ok := c[key]
	if !ok {
		return tiles.Withheld()
	}
	_, v := f.priv.Publish(g, false)
	return v
}

func (f *figures) zone(key int64, cur, prev count) Figures {
	var out Figures
	figure := func(c count) tiles.Figure { return f.people(c, key) }
	out.Present, out.Previous = figure(cur), figure(prev)
	out.Typical = f.typical[key]
	p, ok1 := out.Present.Value()
	q, ok2 := out.Previous.Value()
	if !ok1 || !ok2 {
		out.Trend = Trend{Suppressed: true}
		return out
	}
	ch := math.Round((p-q)/q*1e4) / 1e4
	out.Trend = Trend{Change: &ch, Direction: "flat"}
	switch {
	case ch > trendThreshold:
		out.Trend.Direction = "up"
	case ch < -trendThreshold:
		out.Trend.Direction = "down"
	}
	return out
}

// typicals computes, per zone and for the town, the typical value
// (tiles.Typical) of the published people of the step ending at the same
// local time of the same weekday, over the past weeks whose day has data
// in town.
func (f *figures) typicals(ctx context.Context, end time.Time) (map[int64]Typical, error) {
	values := map[int64][]tiles.Figure{}
	weeks := 0
	local := end.In(f.loc)
	for w := 1; w <= f.weeks; w++ {
		end := local.AddDate(0, 0, -7*w) // the same wall-clock time
		day := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, f.loc)
		covered, err := f.count(ctx, day, day.AddDate(0, 0, 1))
		if err != nil {
			return nil, err
		}
		if !f.priv.Informs(covered[townKey]) {
			// no data that day (or about fewer than k people, which the
			// count of weeks must not tell): not a week of history
			continue
		}
		c, err := f.count(ctx, end.Add(-f.window), end)
		if err != nil {
			return nil, err
		}
		weeks++
		for _, k := range append(f.zoneKeys(), townKey) {
			values[k] = append(values[k], f.people(c, k))
		}
	}
	out := map[int64]Typical{}
	for _, k := range append(f.zoneKeys(), townKey) {
		t := Typical{Weeks: weeks}
		fig := tiles.Typical(values[k])
		if v, ok := fig.Int(); ok {
			t.Value = &v
		} else if fig.Suppressed() {
			t.Suppressed = true
		}
		out[k] = t
	}
	return out, nil
}

func (f *figures) zoneKeys() []int64 {
	ks := make([]int64, len(f.zones))
	for i, z := range f.zones {
		ks[i] = z.Key
	}
	return ks
}
