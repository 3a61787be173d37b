// Package pgstore is the PostGIS tiles.Source: the same aggregates as the
// in-memory store, computed in the database with parameterised SQL over
// the presence table (see migrations/), and the reference areas stored
// there. The mirror package keeps memory equal to it.
//
// A Store answers for one town (issue 17): New takes the town's ID
// (tiles.Town.ID, presence.town), and every statement that reads records,
// from presence or its rollup, is limited to that town's rows, so that a
// server of one town never publishes another's people. There is no store
// of every town's records.
package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/db"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

var (
	_ tiles.Source      = (*Store)(nil)
	_ tiles.VisitSource = (*Store)(nil)
)

// Store answers tiles.Source queries from PostGIS for one town's records.
type Store struct {
	pool *pgxpool.Pool
	cat  *refdata.Catalog
	town int16
	// recordsOnly reads presence alone, never the rollup (tests compare
	// the two).
	recordsOnly bool
	// noDays reads presence and the rollup, never the visitor-day tables
	// (tests and benchmarks compare them).
	noDays bool
}

// New returns a store of the records of town (tiles.Town.ID) in pool.
func New(pool *pgxpool.Pool, cat *refdata.Catalog, town int16) *Store {
	return &Store{pool: pool, cat: cat, town: town}
}

// Town is the ID of the town whose records the store answers for.
func (s *Store) Town() int16 { return s.town }

// builder starts a statement on the store's town.
func (s *Store) builder() *builder { return &builder{town: s.town} }

// statementSettings are the settings of the store's statements on records,
// local to their transaction (set_config's third argument):
//   - no JIT: its compiling took a third of the time of a six-month visits
//     statement, and more than it saved in each aggregate;
//   - 16 MB of work_mem: the per-visitor groups of a long window (some
//     hundred thousand) spilled to disk at the default 4 MB; 64 MB, where
//     they fit in one hash table, was slower on 2 cores (six months at
//     3 M records, issue 14).
const statementSettings = "SELECT set_config('jit', 'off', true), set_config('work_mem', '16MB', true)"

// dayStatementSettings are those of the statements that read the
// visitor-day tables (days.go): 64 MB of work_mem, where the per-visitor
// groups of six months for a zone (some 370,000 from 450,000 rows) fit in
// one hash table; at 16 MB they spilled to disk and took twice as long.
const dayStatementSettings = "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"

// read runs settings (statementSettings or dayStatementSettings) and then
// sql with args in one batch (one
// round trip; the batch is one implicit transaction, which the local
// settings last for) and calls each on every row, stopping at its first
// error, which it returns as it is; what is being done names the
// statement's errors.
func (s *Store) read(ctx context.Context, what, settings, sql string, args []any, each func(pgx.Rows) error) (err error) {
	var batch pgx.Batch
	batch.Queue(settings)
	batch.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, &batch)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = db.Wrap(ctx, what, cerr)
		}
	}()
	if _, err := br.Exec(); err != nil {
		return db.Wrap(ctx, what, err)
	}
	rows, err := br.Query()
	if err != nil {
		return db.Wrap(ctx, what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return db.Wrap(ctx, what, rows.Err())
}

// Aggregate implements tiles.Source.
func (s *Store) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	sql, args, err := s.aggregateSQL(&q, false)
	if err != nil {
		return err
	}
	return s.read(ctx, "aggregating presence", s.settings(&q), sql, args, func(rows pgx.Rows) error {
		g, err := scanGroup(ctx, rows, &q)
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// settings are those of the statement of q's groups (aggregateSQL).
func (s *Store) settings(q *tiles.Query) string {
	if s.planDays(q).ok && (dayDims(q.By) || len(q.By) == 1 && q.By[0] == tiles.DimHour) {
		return dayStatementSettings
	}
	return statementSettings
}

// scanGroup reads a group of q from a row of (k0, k1, the measures of
// Group, the measures of Group.Rest) and then extra, if any.
func scanGroup(ctx context.Context, rows pgx.Rows, q *tiles.Query, extra ...any) (tiles.Group, error) {
	var (
		g    tiles.Group
		keys [4]int64
	)
	if err := rows.Scan(append([]any{&g.Key[0], &g.Key[1], &g.Count, &g.Visitors, &g.Anonymous, &keys[0], &keys[1],
		&g.Rest.Count, &g.Rest.Visitors, &g.Rest.Anonymous, &keys[2], &keys[3]}, extra...)...); err != nil {
		return g, db.Wrap(ctx, "reading aggregates", err)
	}
	g.CountKey, g.PeopleKey = uint32(keys[0]), uint32(keys[1])
	g.Rest.CountKey, g.Rest.PeopleKey = uint32(keys[2]), uint32(keys[3])
	if !q.WithRest {
		g.Rest = tiles.Measures{}
	}
	return g, nil
}

// aggregateSQL returns the statement of q's groups and its arguments: rows
// of (k0, k1, the measures of Group, the measures of Group.Rest). With
// withTotal it also answers q without grouping (q.By must not hold
// DimZone, which repeats a record per zone), and each row ends with a
// column that is 1 for the total's row and 0 for the groups'.
func (s *Store) aggregateSQL(q *tiles.Query, withTotal bool) (string, []any, error) {
	if len(q.By) > 2 {
		return "", nil, fmt.Errorf("at most two grouping dimensions, got %d", len(q.By))
	}
	if sql, args, ok, err := s.hourSQL(q, withTotal); ok || err != nil {
		return sql, args, err
	}
	b := s.builder()
	// The records of the window, as (k0, k1, weight, visitor, rkey, m):
	// from the visitor-day table where it answers, from the rollup where
	// it answers exactly, from presence elsewhere.
	branches, ok, err := s.dayBranches(b, q)
	if err != nil {
		return "", nil, err
	}
	if !ok {
		if branches, err = s.recordBranches(b, q, "true"); err != nil {
			return "", nil, err
		}
	}
	// Two levels: per group and visitor (all records without a visitor in
	// one row per group), then per group. Distinct visitors are the rows
	// with a visitor, and the sums of keys come out without DISTINCT
	// aggregates: the people key adds each visitor's key once. The first
	// level's sums are bigints (keys mod 2^32), so that the second adds
	// integers, not numerics; they are made of sums of integers (weights
	// in two parts, below and from 2^31, keys in two halves of 16 bits),
	// whose running sums are bigints kept in the hash table, where a sum
	// of bigints keeps a 128-bit state allocated for each group (a six
	// months' 370,000 visitors took 119 MB and twice the time). Without the
	// rest, every record passes the narrowing filters (they are in the
	// WHERE): no rest sums.
	first := sumWeight("") + " AS cm, " + sumKey("") + " AS km"
	rest := "0, 0, 0, 0, 0"
	if q.WithRest {
		first = "coalesce(" + sumWeight("s.m") + ", 0) AS cm, coalesce(" + sumKey("s.m") + ", 0) AS km, " +
			"coalesce(" + sumWeight("NOT s.m") + ", 0) AS cr, coalesce(" + sumKey("NOT s.m") + ", 0) AS kr"
		rest = measures("cr", "kr", false)
	}
	if !withTotal {
		sql := fmt.Sprintf("SELECT t.k0, t.k1, %s, %s FROM ("+
			"SELECT s.k0, s.k1, s.visitor AS v, %s FROM (%s) s GROUP BY s.k0, s.k1, s.visitor) t "+
			"GROUP BY t.k0, t.k1 HAVING sum(t.cm) > 0",
			measures("cm", "km", false), rest, first, strings.Join(branches, " UNION ALL "))
		return sql, b.args, nil
	}
	// The total from the same rows: the sums add up over groups, and a
	// visitor in several groups counts once (DISTINCT: a sort of the
	// first level's visitors, not a hash of every row by visitor).
	restTotal := "0, 0, 0, 0, 0"
	if q.WithRest {
		restTotal = measures("cr", "kr", true)
	}
	sql := fmt.Sprintf("WITH t AS MATERIALIZED (SELECT s.k0, s.k1, s.visitor AS v, %s FROM (%s) s GROUP BY s.k0, s.k1, s.visitor) "+
		"SELECT t.k0, t.k1, %s, %s, 0 FROM t GROUP BY t.k0, t.k1 HAVING sum(t.cm) > 0 "+
		"UNION ALL SELECT 0, 0, %s, %s, 1 FROM t HAVING sum(t.cm) > 0",
		first, strings.Join(branches, " UNION ALL "), measures("cm", "km", false), rest, measures("cm", "km", true), restTotal)
	return sql, b.args, nil
}

// sumWeight is the sum of the weights of the rows s (where cond holds,
// unless it is empty), a bigint, from sums of integers.
func sumWeight(cond string) string {
	f := ""
	if cond != "" {
		f = " FILTER (WHERE " + cond + ")"
	}
	return fmt.Sprintf("(sum((s.weight & 2147483647)::int)%[1]s + sum((s.weight >> 31)::int)%[1]s * 2147483648)", f)
}

// sumKey is the sum mod 2^32 of the keys (each below 2^32) of the rows s
// (where cond holds, unless it is empty), a bigint, from sums of integers.
func sumKey(cond string) string {
	f := ""
	if cond != "" {
		f = " FILTER (WHERE " + cond + ")"
	}
	return fmt.Sprintf("((sum((s.rkey & 65535)::int)%[1]s + sum((s.rkey >> 16)::int)%[1]s * 65536) %% 4294967296)", f)
}

// measures is the text of the five measures of a group (Count, Visitors,
// Anonymous, CountKey, PeopleKey) from the per-visitor sums c (weights)
// and k (record keys) of the rows t (visitor v). With distinct, a visitor
// may be in several rows (the total of a grouping's rows, aggregateSQL):
// it is counted, and its key added, once; the keys' sum mod 2^32 is the
// sum of the visitors' ids mod 2^32 (a DISTINCT on the keys would drop
// visitors whose ids share their lower 32 bits).
func measures(c, k string, distinct bool) string {
	visitors := "count(*)"
	keys := "coalesce(sum(t.v & 4294967295) FILTER (WHERE t.v IS NOT NULL AND t.%[1]s > 0), 0)"
	if distinct {
		visitors = "count(DISTINCT t.v)"
		keys = "(coalesce(sum(DISTINCT t.v) FILTER (WHERE t.v IS NOT NULL AND t.%[1]s > 0), 0) %% 4294967296 + 4294967296)"
	}
	return fmt.Sprintf("sum(t.%[1]s)::bigint, "+visitors+" FILTER (WHERE t.v IS NOT NULL AND t.%[1]s > 0), "+
		"coalesce(sum(t.%[1]s) FILTER (WHERE t.v IS NULL), 0)::bigint, "+
		"(sum(t.%[2]s) %% 4294967296)::bigint, "+
		"(("+keys+" + coalesce(sum(t.%[2]s) FILTER (WHERE t.v IS NULL), 0)) %% 4294967296)::bigint", c, k)
}

// Visits implements tiles.VisitSource.
func (s *Store) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	sql, args := s.visitsSQL(q)
	// the rows of one visit come together, its first row first: the visit
	// is the first row's, with the last of all, and their presences
	var (
		v    tiles.Visit
		open bool
	)
	settings := statementSettings
	if s.planDays(&q).ok {
		settings = dayStatementSettings
	}
	// The attributes are read as the driver's bytes and parsed once per
	// distinct value: six months of a zone are 446,000 rows, and a string
	// allocated for each of their five attributes cost the server as much
	// CPU as the statement cost the database.
	var (
		visitor, day, first, last, presences int64
		origin, nat, a, g, sp                pgtype.DriverBytes
		dest                                 = []any{&visitor, &day, &first, &last, &presences, &origin, &nat, &a, &g, &sp}
		origins                              = attribute[string]{parse: func(s string) (string, error) { return s, nil }}
		nats                                 = attribute[tiles.Country]{what: "nationality", parse: tiles.ParseCountry}
		ages                                 = attribute[tiles.AgeBand]{what: "age band", parse: tiles.ParseAgeBand}
		genders                              = attribute[tiles.Gender]{what: "gender", parse: tiles.ParseGender}
		spends                               = attribute[tiles.Spend]{what: "spend class", parse: tiles.ParseSpend}
	)
	err := s.read(ctx, "listing visits", settings, sql, args, func(rows pgx.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return db.Wrap(ctx, "reading visits", err)
		}
		if open && v.Visitor == uint64(visitor) && v.Day == day {
			v.Last = max(v.Last, last)
			v.Presences += presences
			return nil
		}
		if open {
			if err := fn(v); err != nil {
				return err
			}
		}
		v = tiles.Visit{Visitor: uint64(visitor), Day: day, First: first, Last: last, Presences: presences,
			Key: tiles.VisitorKey(visitor)}
		open = true
		var err error
		if v.Origin, err = origins.of(origin); err != nil {
			return err
		}
		if v.Nationality, err = nats.of(nat); err != nil {
			return err
		}
		if v.Age, err = ages.of(a); err != nil {
			return err
		}
		if v.Gender, err = genders.of(g); err != nil {
			return err
		}
		v.Spend, err = spends.of(sp)
		return err
	})
	if err != nil || !open {
		return err
	}
	return fn(v)
}

// attribute parses the values of a column of few distinct values, each
// once.
type attribute[T any] struct {
	what   string
	parse  func(string) (T, error)
	parsed map[string]T
}

func (c *attribute[T]) of(b []byte) (T, error) {
	if v, ok := c.parsed[string(b)]; ok {
		return v, nil
	}
	v, err := c.parse(string(b))
	if err != nil {
		return v, fmt.Errorf("visit %s: %w", c.what, err)
	}
	if c.parsed == nil {
		c.parsed = map[string]T{}
	}
	c.parsed[string(b)] = v
	return v, nil
}

// visitsSQL returns the statement of q's visits and its arguments: rows of
// (visitor, day, first, last, presences, origin, nationality, age band,
// gender, spending class), several per visit when its records differ in
// attributes, ordered by visitor, day, first and attributes.
func (s *Store) visitsSQL(q tiles.Query) (string, []any) {
	b := s.builder()
	// a visit's day is local: the rollup answers like a query by date
	q.By, q.Grid, q.WithRest = []tiles.Dim{tiles.DimDate}, tiles.Grid{}, false
	tz := b.tz(&q)
	branch := func(q *tiles.Query, table string, rollup bool, first, last, extra string) string {
		b.rollup = rollup
		base, narrow := b.where(q)
		return fmt.Sprintf(`SELECT p.visitor, ((p.observed_at AT TIME ZONE %s)::date - date '1970-01-01')::bigint AS day,
        %s AS first_at, %s AS last_at, p.weight,
        coalesce(p.origin_code::text, '') COLLATE "C" AS o, coalesce(p.nationality::text, '') COLLATE "C" AS n,
        coalesce(p.age_band, '') COLLATE "C" AS a, coalesce(p.gender, '') COLLATE "C" AS g, coalesce(p.spend_class, '') AS sp
      FROM %s p WHERE %s AND %s AND %s AND p.visitor IS NOT NULL`, tz, first, last, table, base, narrow, extra)
	}
	// the rollup where it answers, records elsewhere, with cond
	records := func(q *tiles.Query, cond string) []string {
		var out []string
		span := s.plan(q)
		if span.ok {
			out = append(out, branch(q, "presence_rollup", true, "p.first_at", "p.last_at", span.window(b)+" AND "+cond))
		}
		if rest, whole := span.rest(&q.Filter); !whole {
			out = append(out, branch(q, "presence", false, "p.observed_at", "p.observed_at", rest(b)+" AND "+cond))
		}
		return out
	}
	order := "CASE r.sp WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 0 END"
	if branches, ok := s.dayVisits(b, &q, records); ok {
		// The visitor-day rows are nearly one per visit and attributes
		// already: they are ordered as they are, not summed first (the
		// hashed aggregate of 450,000 rows was half the statement). Visits
		// merges a visit's rows into its first: the row of the least first
		// record and attributes, as the least sum below.
		sql := fmt.Sprintf(`SELECT r.visitor, r.day, extract(epoch FROM r.first_at)::bigint,
    extract(epoch FROM r.last_at)::bigint, r.weight::bigint, r.o, r.n, r.a, r.g, r.sp
FROM (%s) r
ORDER BY r.visitor, r.day, r.first_at, r.o, r.n, r.a, r.g, %s`, strings.Join(branches, " UNION ALL "), order)
		return sql, b.args
	}
	// The rows of one visitor, day and attributes are summed (a hashed
	// aggregate: the rows of a visit mostly share their attributes), and
	// the sums ordered by visitor, day, first and attributes: each visit's
	// rows come together, its first first (Visits merges them). Rollup rows
	// order by their first record: of the records in one second, the first
	// by FirstRecordLess is in the least row, and so in the least sum.
	sql := fmt.Sprintf(`SELECT r.visitor, r.day, extract(epoch FROM min(r.first_at))::bigint,
    extract(epoch FROM max(r.last_at))::bigint, sum(r.weight)::bigint, r.o, r.n, r.a, r.g, r.sp
FROM (%s) r
GROUP BY r.visitor, r.day, r.o, r.n, r.a, r.g, r.sp
ORDER BY r.visitor, r.day, min(r.first_at), r.o, r.n, r.a, r.g, %s`, strings.Join(records(&q, "true"), " UNION ALL "), order)
	return sql, b.args
}
