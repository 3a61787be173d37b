package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/tiles"
)

// The rollup (presence_rollup, migrations 00005 and 00007) sums records
// per town, UTC hour, z16 cell (rollupCell world units across), zone mask,
// visitor and attribute combination. Its rows carry presence's column names, with the
// hour's start as observed_at and the cell's corner as wx, wy, so that the
// query text of the records serves it unchanged wherever that text gives a
// row the same answer as each of its records:
//   - a window: whole hours; the window's partial hours (and hours where
//     local time is not whole hours off UTC) are read from records;
//   - an area: whole cells (a rectangle on cell lines, or none);
//   - bins: squares a whole number of cells wide (hexagons: records);
//   - local hours, weekdays and dates: the same for every second of a UTC
//     hour when the time zone is a whole number of hours off UTC and
//     changes offset only on the hour.
// Visitors keep their rows apart in the rollup, so distinct counts and the
// keys of distinct visitors stay exact.

// rollupCell is the width of a rollup cell in world units (a z16 tile).
const rollupCell = int64(1) << 16

// rollupSpan is the part of a query's window read from the rollup:
// [From, To) with a zero bound meaning unbounded. ok is false when the
// rollup answers nothing of the query.
type rollupSpan struct {
	From, To time.Time
	ok       bool
}

// localTimeSpan bounds the rollup of queries that use local time: the
// zone is checked between these instants; outside them, records answer.
var (
	localTimeFirst = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	localTimeLast  = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// plan returns the span of q's window that the rollup answers (none when
// the store reads records only).
func (s *Store) plan(q *tiles.Query) rollupSpan {
	if s.recordsOnly {
		return rollupSpan{}
	}
	return planRollup(q)
}

// window is the condition on the rollup's rows of the span.
func (sp rollupSpan) window(b *builder) string {
	cond := []string{"true"}
	if !sp.From.IsZero() {
		cond = append(cond, "p.observed_at >= "+b.arg(sp.From))
	}
	if !sp.To.IsZero() {
		cond = append(cond, "p.observed_at < "+b.arg(sp.To))
	}
	return strings.Join(cond, " AND ")
}

// planRollup returns the span of q's window that the rollup can answer.
func planRollup(q *tiles.Query) rollupSpan {
	if q.Area != (tiles.Rect{}) {
		a := q.Area.Clamp()
		if a.Empty() || a.MinX%rollupCell != 0 || a.MaxX%rollupCell != 0 || a.MinY%rollupCell != 0 || a.MaxY%rollupCell != 0 {
			return rollupSpan{}
		}
	}
	local := q.Filter.Hours != 0 || q.Filter.Days != 0
	for _, d := range q.By {
		switch d {
		case tiles.DimBin:
			if q.Grid.Shape != tiles.Square || q.Grid.W <= 0 || q.Grid.W%rollupCell != 0 {
				return rollupSpan{}
			}
		case tiles.DimHour, tiles.DimWeekday, tiles.DimDate:
			local = true
		}
	}
	s := rollupSpan{From: ceilHour(q.Filter.From), To: floorHour(q.Filter.To), ok: true}
	if local && q.Loc != nil && q.Loc != time.UTC {
		first, last := wholeHourSpan(q.Loc)
		if first.IsZero() {
			return rollupSpan{}
		}
		if s.From.IsZero() || s.From.Before(first) {
			s.From = first
		}
		if s.To.IsZero() || s.To.After(last) {
			s.To = last
		}
	}
	if !s.From.IsZero() && !s.To.IsZero() && !s.From.Before(s.To) {
		return rollupSpan{}
	}
	return s
}

// ceilHour is t rounded up to a whole UTC hour (zero stays zero).
func ceilHour(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	h := t.Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h.UTC()
}

// floorHour is t rounded down to a whole UTC hour (zero stays zero).
func floorHour(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Hour).UTC()
}

type hourSpan struct{ first, last time.Time }

var wholeHourSpans sync.Map // zone name → hourSpan

// wholeHourSpan returns the longest span ending at localTimeLast in which
// loc is always a whole number of hours off UTC and changes offset only on
// whole hours (a zero first: none).
func wholeHourSpan(loc *time.Location) (first, last time.Time) {
	if v, ok := wholeHourSpans.Load(loc.String()); ok {
		s := v.(hourSpan)
		return s.first, s.last
	}
	first, last = localTimeFirst, localTimeLast
	t := localTimeFirst.In(loc)
	for t.Before(localTimeLast) {
		start, end := t.ZoneBounds()
		_, off := t.Zone()
		good := off%3600 == 0 && (end.IsZero() || end.Unix()%3600 == 0)
		if !good || (!start.IsZero() && start.After(localTimeFirst) && start.Unix()%3600 != 0) {
			// not usable up to the end of this period (when that end is
			// not on the hour, the next period is not usable either)
			first = end.UTC()
		}
		if end.IsZero() {
			break
		}
		if !end.After(t) {
			// ZoneBounds may end a rule-based period where it starts
			// (seen at 2040-12-31 in Europe/Rome): step over it
			end = t.Add(time.Hour)
		}
		t = end.In(loc)
	}
	if first.IsZero() || !first.Before(last) {
		first = time.Time{}
	}
	wholeHourSpans.Store(loc.String(), hourSpan{first, last})
	return first, last
}

// rest says which records the rollup leaves to presence: whole is true
// when the rollup holds the whole window of f; otherwise cond is the
// condition on presence for the rest (the window itself is added by
// builder.where).
func (s rollupSpan) rest(f *tiles.Filter) (cond func(b *builder) string, whole bool) {
	if !s.ok {
		return func(*builder) string { return "true" }, false
	}
	same := func(a, b time.Time) bool { return a.IsZero() == b.IsZero() && (a.IsZero() || a.Equal(b)) }
	if same(s.From, f.From) && same(s.To, f.To) {
		return nil, true
	}
	return func(b *builder) string {
		var or []string
		if !s.From.IsZero() {
			or = append(or, "p.observed_at < "+b.arg(s.From))
		}
		if !s.To.IsZero() {
			or = append(or, "p.observed_at >= "+b.arg(s.To))
		}
		return "(" + strings.Join(or, " OR ") + ")"
	}, false
}

// rollupOf is the rollup's row key and measures computed from a relation
// of presence rows (the text of the triggers of migrations 00005, 00007).
const rollupOf = `SELECT p.town, date_trunc('hour', p.observed_at, 'UTC') AS observed_at, (p.wx >> 16) << 16 AS wx, (p.wy >> 16) << 16 AS wy,
    p.zones, p.visitor, p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
    sum(p.weight)::numeric AS weight, sum(p.rkey::bigint & 4294967295) %% 4294967296 AS rkey,
    min(p.observed_at) AS first_at, max(p.observed_at) AS last_at
FROM %s p GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11`

// VerifyRollup compares presence_rollup with the records of presence and
// returns how many rollup keys (town, hour, cell, zones, visitor,
// attributes) differ: 0 when every figure read from the rollup equals the records'.
// It reads both tables whole.
func VerifyRollup(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	sql := `WITH r AS (SELECT town, observed_at, wx, wy, zones, visitor, age_band, gender, nationality, origin_code, spend_class,
        sum(weight)::numeric AS weight, sum(rkey) % 4294967296 AS rkey, min(first_at) AS first_at, max(last_at) AS last_at
    FROM presence_rollup GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),
p AS (` + fmt.Sprintf(rollupOf, "presence") + `)
SELECT count(*) FROM ((SELECT * FROM r EXCEPT ALL SELECT * FROM p) UNION ALL (SELECT * FROM p EXCEPT ALL SELECT * FROM r)) d`
	var n int64
	if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
		return 0, db.Wrap(ctx, "verifying the rollup", err)
	}
	return n, nil
}
