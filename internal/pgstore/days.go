package pgstore

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/tiles"
)

// The visitor-day table (presence_visitor_day, migration 00011) sums records
// per town, zone, local day of the town's time zone, visitor and attributes;
// presence_zone_hour sums them per town, zone and UTC hour. A stats report
// about a zone or a whole town, without narrowing filters, reads its whole
// local days from them (one row per visitor and day instead of one per
// visitor, hour and cell); the window's partial days at either end are read
// as before (rollup, records). The days hold the town's time zone: a query
// in another zone reads the whole window as before, which the statement
// decides itself (dayPlan.tzOK), so that a town's zone changed meanwhile
// never gives another answer.

// dayPlan is the part of a query's window that presence_visitor_day answers:
// the local days from d0 (included) to d1 (excluded), that is the instants
// from From to To. ok is false when it answers nothing of the query.
type dayPlan struct {
	From, To time.Time
	d0, d1   int32 // days since 1970-01-01
	zone     int16 // the zone's bit index, or -1 for the whole town
	ok       bool
}

// planDays returns the span of q that the visitor-day table answers. By
// says which dimensions the caller reads from it (attributes, or the
// hour from presence_visitor_day.hours).
func (s *Store) planDays(q *tiles.Query) dayPlan {
	if s.recordsOnly || s.noDays || q.Area != (tiles.Rect{}) || q.WithRest || q.Filter.Narrowed() ||
		q.Filter.From.IsZero() || q.Filter.To.IsZero() || bits.OnesCount16(q.AreaZones) > 1 {
		return dayPlan{}
	}
	loc := q.Loc
	if loc == nil {
		loc = time.UTC
	}
	from, ok1 := nextMidnight(q.Filter.From, loc)
	to, ok2 := nextMidnight(q.Filter.To, loc)
	if !ok1 || !ok2 {
		return dayPlan{}
	}
	if to.After(q.Filter.To) {
		// the last midnight at or before To
		l := q.Filter.To.In(loc)
		var ok bool
		if to, ok = midnight(l.Year(), l.Month(), l.Day(), loc); !ok || to.After(q.Filter.To) {
			return dayPlan{}
		}
	}
	if !from.Before(to) {
		return dayPlan{}
	}
	p := dayPlan{From: from, To: to, d0: epochDay(from.In(loc)), d1: epochDay(to.In(loc)), zone: -1, ok: true}
	if q.AreaZones != 0 {
		p.zone = int16(bits.TrailingZeros16(q.AreaZones))
	}
	return p
}

// nextMidnight returns the first local midnight at or after t; ok is false
// when that day does not start at midnight in loc.
func nextMidnight(t time.Time, loc *time.Location) (time.Time, bool) {
	l := t.In(loc)
	m, ok := midnight(l.Year(), l.Month(), l.Day(), loc)
	if ok && m.Before(t) {
		m, ok = midnight(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return m, ok
}

// midnight is the start of a local day: ok when it is 00:00:00 in loc and
// the instant before it is on the day before.
func midnight(y int, mo time.Month, d int, loc *time.Location) (time.Time, bool) {
	m := time.Date(y, mo, d, 0, 0, 0, 0, loc)
	l := m.In(loc)
	prev := m.Add(-time.Nanosecond).In(loc)
	ok := l.Hour() == 0 && l.Minute() == 0 && l.Second() == 0 && l.Nanosecond() == 0 &&
		(prev.Year() != l.Year() || prev.YearDay() != l.YearDay())
	return m, ok
}

// epochDay is the number of days from 1970-01-01 to t's date.
func epochDay(t time.Time) int32 {
	return int32(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// tzOK is the condition, evaluated once per statement, that the town's days
// are in q's time zone.
func (p dayPlan) tzOK(b *builder, q *tiles.Query) string {
	return "coalesce((SELECT t.time_zone = " + b.tz(q) + " FROM town t WHERE t.id = " + b.arg(b.town) + "::smallint), false)"
}

// where is the condition on presence_visitor_day's rows (p) of the plan.
func (p dayPlan) where(b *builder) string {
	return fmt.Sprintf("p.town = %s::smallint AND p.zone = %s::smallint AND p.day >= date '1970-01-01' + %s::int AND p.day < date '1970-01-01' + %s::int",
		b.arg(b.town), b.arg(p.zone), b.arg(p.d0), b.arg(p.d1))
}

// dayDims says whether the visitor-day table has the keys of dims: the
// attributes of the records (not their time nor their place).
func dayDims(dims []tiles.Dim) bool {
	for _, d := range dims {
		switch d {
		case tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimNationality,
			tiles.DimAge, tiles.DimGender, tiles.DimSpend:
		default:
			return false
		}
	}
	return true
}

// window returns q with its window set to [from, to).
func window(q *tiles.Query, from, to time.Time) *tiles.Query {
	w := *q
	w.Filter.From, w.Filter.To = from, to
	return &w
}

// edges returns q's windows outside the plan's days (none, one or two).
func (p dayPlan) edges(q *tiles.Query) []*tiles.Query {
	var out []*tiles.Query
	if q.Filter.From.Before(p.From) {
		out = append(out, window(q, q.Filter.From, p.From))
	}
	if p.To.Before(q.Filter.To) {
		out = append(out, window(q, p.To, q.Filter.To))
	}
	return out
}

// recordBranches returns the SELECTs of the (k0, k1, weight, visitor, rkey,
// m) rows of q (see builder.records): from the rollup where it answers
// exactly, from presence elsewhere; cond is added to each.
func (s *Store) recordBranches(b *builder, q *tiles.Query, cond string) ([]string, error) {
	var branches []string
	span := s.plan(q)
	if span.ok {
		sel, err := b.records(q, s.cat, "presence_rollup", true, span.window(b)+" AND "+cond)
		if err != nil {
			return nil, err
		}
		branches = append(branches, sel)
	}
	if rest, whole := span.rest(&q.Filter); !whole {
		sel, err := b.records(q, s.cat, "presence", false, rest(b)+" AND "+cond)
		if err != nil {
			return nil, err
		}
		branches = append(branches, sel)
	}
	return branches, nil
}

// dayBranches returns the branches of q's rows (as recordBranches) when the
// visitor-day table answers q's days: its rows for the days and the records
// of the partial days when the town's days are in q's time zone, the whole
// window as before when not. ok is false when the table answers nothing.
func (s *Store) dayBranches(b *builder, q *tiles.Query) (branches []string, ok bool, err error) {
	p := s.planDays(q)
	if !p.ok || !dayDims(q.By) {
		return nil, false, nil
	}
	tzOK := p.tzOK(b, q)
	b.joins, b.rollup = nil, true
	keys := []string{"0::bigint", "0::bigint"}
	for i, d := range q.By {
		if keys[i], err = b.key(q, d, s.cat); err != nil {
			return nil, false, err
		}
	}
	branches = append(branches, fmt.Sprintf("SELECT %s AS k0, %s AS k1, p.weight, p.visitor, p.rkey & 4294967295 AS rkey, "+
		"true AS m FROM presence_visitor_day p %s WHERE %s AND %s",
		keys[0], keys[1], strings.Join(b.joins, " "), p.where(b), tzOK))
	for _, e := range p.edges(q) {
		br, err := s.recordBranches(b, e, tzOK)
		if err != nil {
			return nil, false, err
		}
		branches = append(branches, br...)
	}
	br, err := s.recordBranches(b, q, "NOT "+tzOK)
	if err != nil {
		return nil, false, err
	}
	return append(branches, br...), true, nil
}

// hourSQL returns the statement of q's groups by local hour (q.By is
// DimHour alone) when the visitor-day and zone-hour tables answer it: the
// presences of each hour from presence_zone_hour (whole UTC hours; records
// elsewhere), its visitors from the hours of presence_visitor_day (whole
// local days; the rows of the partial days, or of the whole window when the
// town's days are in another time zone, from the rollup and records). ok is
// false when they do not answer it.
//
// With withTotal the statement also answers q without grouping (the
// group of all its records, from the same hours and visitors: each record
// is in one hour, each visitor's hours are one mask), and each row ends
// with a column that is 1 for the total's row and 0 for the hours'.
func (s *Store) hourSQL(q *tiles.Query, withTotal bool) (sql string, args []any, ok bool, err error) {
	p := s.planDays(q)
	if !p.ok || len(q.By) != 1 || q.By[0] != tiles.DimHour {
		return "", nil, false, nil
	}
	b := s.builder()
	tzOK := p.tzOK(b, q)
	// the presences per hour
	var counts []string
	span := s.plan(q)
	if span.ok {
		counts = append(counts, fmt.Sprintf("SELECT extract(hour FROM p.observed_at AT TIME ZONE %s)::bigint AS k, "+
			"p.weight AS w, p.rkey & 4294967295 AS rk, p.anonymous AS anon FROM presence_zone_hour p "+
			"WHERE p.town = %s::smallint AND p.zone = %s::smallint AND p.observed_at >= %s AND p.observed_at < %s AND %s",
			b.tz(q), b.arg(b.town), b.arg(p.zone), b.arg(q.Filter.From), b.arg(q.Filter.To), span.window(b)))
	}
	if rest, whole := span.rest(&q.Filter); !whole {
		sel, err := b.records(q, s.cat, "presence", false, rest(b))
		if err != nil {
			return "", nil, false, err
		}
		counts = append(counts, "SELECT r.k0, r.weight, r.rkey, r.visitor IS NULL FROM ("+sel+") r")
	}
	// the visitors' hours
	vis := []string{"SELECT p.visitor, p.hours AS m FROM presence_visitor_day p WHERE " + p.where(b) +
		" AND p.visitor IS NOT NULL AND " + tzOK}
	hourRows := func(q *tiles.Query, cond string) error {
		br, err := s.recordBranches(b, q, cond)
		if err != nil {
			return err
		}
		for _, sel := range br {
			vis = append(vis, "SELECT r.visitor, 1 << r.k0::int FROM ("+sel+") r WHERE r.visitor IS NOT NULL")
		}
		return nil
	}
	for _, e := range p.edges(q) {
		if err := hourRows(e, tzOK); err != nil {
			return "", nil, false, err
		}
	}
	if err := hourRows(q, "NOT "+tzOK); err != nil {
		return "", nil, false, err
	}
	// each visitor's hours (a mask), then the visitors of each mask (a few
	// thousand masks), then of each hour
	hours := ""
	if withTotal {
		hours = ", 0"
	}
	sql = fmt.Sprintf(`WITH c AS MATERIALIZED (SELECT x.k, sum(x.w)::bigint AS w, coalesce(sum(x.w) FILTER (WHERE x.anon), 0)::bigint AS aw,
        (sum(x.rk) %% 4294967296)::bigint AS rk, (coalesce(sum(x.rk) FILTER (WHERE x.anon), 0) %% 4294967296)::bigint AS ak
    FROM (%s) x(k, w, rk, anon) GROUP BY x.k),
u AS MATERIALIZED (SELECT y.m, count(*) AS n, sum(y.v & 4294967295) AS vk
    FROM (SELECT z.v, bit_or(z.m) AS m FROM (%s) z(v, m) GROUP BY z.v) y GROUP BY y.m)
SELECT c.k, 0::bigint, c.w, coalesce(v.n, 0)::bigint, c.aw, c.rk, ((coalesce(v.vk, 0) + c.ak) %% 4294967296)::bigint, 0, 0, 0, 0, 0%s
FROM c LEFT JOIN (SELECT h::bigint AS k, sum(u.n) AS n, sum(u.vk) AS vk
    FROM u CROSS JOIN generate_series(0, 23) h WHERE u.m & (1 << h) <> 0 GROUP BY h) v ON v.k = c.k
WHERE c.w > 0`, strings.Join(counts, " UNION ALL "), strings.Join(vis, " UNION ALL "), hours)
	if withTotal {
		// the visitors are those with a mask, their keys added once each
		sql += `
UNION ALL
SELECT 0, 0, sum(c.w)::bigint, (SELECT coalesce(sum(u.n), 0) FROM u)::bigint, sum(c.aw)::bigint, (sum(c.rk) % 4294967296)::bigint,
    (((SELECT coalesce(sum(u.vk), 0) FROM u) + sum(c.ak)) % 4294967296)::bigint, 0, 0, 0, 0, 0, 1
FROM c HAVING sum(c.w) > 0`
	}
	return sql, b.args, true, nil
}

// dayVisits returns the branches of visitsSQL (rows of visitor, day,
// first_at, last_at, weight and attributes) when the visitor-day table
// answers q's days, as dayBranches.
func (s *Store) dayVisits(b *builder, q *tiles.Query, branch func(q *tiles.Query, cond string) []string) ([]string, bool) {
	p := s.planDays(q)
	if !p.ok {
		return nil, false
	}
	tzOK := p.tzOK(b, q)
	out := []string{`SELECT p.visitor, (p.day - date '1970-01-01')::bigint AS day, p.first_at, p.last_at, p.weight,
        coalesce(p.origin_code::text, '') COLLATE "C" AS o, coalesce(p.nationality::text, '') COLLATE "C" AS n,
        coalesce(p.age_band, '') COLLATE "C" AS a, coalesce(p.gender, '') COLLATE "C" AS g, coalesce(p.spend_class, '') AS sp
      FROM presence_visitor_day p WHERE ` + p.where(b) + " AND p.visitor IS NOT NULL AND " + tzOK}
	// the rows of the rollup and records summed per visitor, day and
	// attributes, as visitsSQL does (the whole window, when the town's days
	// are in another zone, is as many rows as the rollup holds)
	summed := func(branches []string) string {
		return `SELECT r.visitor, r.day, min(r.first_at), max(r.last_at), sum(r.weight), r.o, r.n, r.a, r.g, r.sp
      FROM (` + strings.Join(branches, " UNION ALL ") + `) r GROUP BY r.visitor, r.day, r.o, r.n, r.a, r.g, r.sp`
	}
	var edges []string
	for _, e := range p.edges(q) {
		edges = append(edges, branch(e, tzOK)...)
	}
	if len(edges) > 0 {
		out = append(out, summed(edges))
	}
	return append(out, summed(branch(q, "NOT "+tzOK))), true
}

// VerifyVisitorDays compares presence_visitor_day and presence_zone_hour
// with the records of presence and returns how many of their keys differ:
// 0 when every figure read from them equals the records'. It reads the
// tables whole.
func VerifyVisitorDays(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	sql := `WITH d AS (SELECT town, zone, day, visitor, age_band, gender, nationality, origin_code, spend_class,
        sum(weight)::numeric AS weight, sum(rkey)::numeric AS rkey, min(first_at) AS first_at, max(last_at) AS last_at, bit_or(hours) AS hours
    FROM presence_visitor_day GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
p AS (SELECT town, zone, day, visitor, age_band, gender, nationality, origin_code, spend_class,
        sum(weight)::numeric, sum(rkey)::numeric, min(first_at), max(last_at), bit_or(hours)
    FROM (` + dayRowsOf + `) r GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
hd AS (SELECT town, zone, observed_at, anonymous, sum(weight)::numeric AS weight, sum(rkey)::numeric AS rkey
    FROM presence_zone_hour GROUP BY 1, 2, 3, 4),
hp AS (SELECT p.town, z.z, date_trunc('hour', p.observed_at, 'UTC'), p.visitor IS NULL,
        sum(p.weight)::numeric, sum(p.rkey::bigint & 4294967295)::numeric
    FROM presence p CROSS JOIN LATERAL (SELECT -1 AS z UNION ALL
        SELECT b FROM generate_series(0, 15) b WHERE p.zones & (1 << b) <> 0) z
    GROUP BY 1, 2, 3, 4)
SELECT (SELECT count(*) FROM ((SELECT * FROM d EXCEPT ALL SELECT * FROM p) UNION ALL (SELECT * FROM p EXCEPT ALL SELECT * FROM d)) x) +
    (SELECT count(*) FROM ((SELECT * FROM hd EXCEPT ALL SELECT * FROM hp) UNION ALL (SELECT * FROM hp EXCEPT ALL SELECT * FROM hd)) y)`
	var n int64
	if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
		return 0, db.Wrap(ctx, "verifying the visitor days", err)
	}
	return n, nil
}

// dayRowsOf is the rows of presence_visitor_day computed from presence
// (presence_visitor_day_of in migration 00011).
const dayRowsOf = `SELECT p.town, z.z AS zone, (p.observed_at AT TIME ZONE t.time_zone)::date AS day, p.visitor,
        p.age_band, p.gender, p.nationality, p.origin_code, p.spend_class,
        p.weight, p.rkey::bigint & 4294967295 AS rkey, p.observed_at AS first_at, p.observed_at AS last_at,
        1 << extract(hour FROM p.observed_at AT TIME ZONE t.time_zone)::int AS hours
    FROM presence p JOIN town t ON t.id = p.town
    CROSS JOIN LATERAL (SELECT -1 AS z UNION ALL SELECT b FROM generate_series(0, 15) b WHERE p.zones & (1 << b) <> 0) z`
