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
}

// New returns a store of the records of town (tiles.Town.ID) in pool.
func New(pool *pgxpool.Pool, cat *refdata.Catalog, town int16) *Store {
	return &Store{pool: pool, cat: cat, town: town}
}

// Town is the ID of the town whose records the store answers for.
func (s *Store) Town() int16 { return s.town }

// builder starts a statement on the store's town.
func (s *Store) builder() *builder { return &builder{town: s.town} }

// Aggregate implements tiles.Source.
func (s *Store) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	if len(q.By) > 2 {
		return fmt.Errorf("at most two grouping dimensions, got %d", len(q.By))
	}
	b := s.builder()
	// The records of the window, as (k0, k1, weight, visitor, rkey, m):
	// from the rollup where it answers exactly, from presence elsewhere.
	var branches []string
	span := s.plan(&q)
	if span.ok {
		sel, err := b.records(&q, s.cat, "presence_rollup", true, span.window(b))
		if err != nil {
			return err
		}
		branches = append(branches, sel)
	}
	if rest, whole := span.rest(&q.Filter); !whole {
		sel, err := b.records(&q, s.cat, "presence", false, rest(b))
		if err != nil {
			return err
		}
		branches = append(branches, sel)
	}
	// Two levels: per group and visitor (all records without a visitor in
	// one row per group), then per group. Distinct visitors are the rows
	// with a visitor, and the sums of keys come out without DISTINCT
	// aggregates: the people key adds each visitor's key once.
	measures := func(c, k string) string {
		return fmt.Sprintf("sum(t.%[1]s)::bigint, count(*) FILTER (WHERE t.v IS NOT NULL AND t.%[1]s > 0), "+
			"coalesce(sum(t.%[1]s) FILTER (WHERE t.v IS NULL), 0)::bigint, "+
			"(sum(t.%[2]s) %% 4294967296)::bigint, "+
			"((coalesce(sum(t.v & 4294967295) FILTER (WHERE t.v IS NOT NULL AND t.%[1]s > 0), 0) + "+
			"coalesce(sum(t.%[2]s) FILTER (WHERE t.v IS NULL), 0)) %% 4294967296)::bigint", c, k)
	}
	sql := fmt.Sprintf("SELECT t.k0, t.k1, %s, %s FROM ("+
		"SELECT s.k0, s.k1, s.visitor AS v, "+
		"coalesce(sum(s.weight) FILTER (WHERE s.m), 0) AS cm, coalesce(sum(s.rkey) FILTER (WHERE s.m), 0) AS km, "+
		"coalesce(sum(s.weight) FILTER (WHERE NOT s.m), 0) AS cr, coalesce(sum(s.rkey) FILTER (WHERE NOT s.m), 0) AS kr "+
		"FROM (%s) s GROUP BY s.k0, s.k1, s.visitor) t "+
		"GROUP BY t.k0, t.k1 HAVING sum(t.cm) > 0",
		measures("cm", "km"), measures("cr", "kr"), strings.Join(branches, " UNION ALL "))
	rows, err := s.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return db.Wrap(ctx, "aggregating presence", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g    tiles.Group
			keys [4]int64
		)
		if err := rows.Scan(&g.Key[0], &g.Key[1], &g.Count, &g.Visitors, &g.Anonymous, &keys[0], &keys[1],
			&g.Rest.Count, &g.Rest.Visitors, &g.Rest.Anonymous, &keys[2], &keys[3]); err != nil {
			return db.Wrap(ctx, "reading aggregates", err)
		}
		g.CountKey, g.PeopleKey = uint32(keys[0]), uint32(keys[1])
		g.Rest.CountKey, g.Rest.PeopleKey = uint32(keys[2]), uint32(keys[3])
		if !q.WithRest {
			g.Rest = tiles.Measures{}
		}
		if err := fn(g); err != nil {
			return err
		}
	}
	return db.Wrap(ctx, "aggregating presence", rows.Err())
}

// Visits implements tiles.VisitSource.
func (s *Store) Visits(ctx context.Context, q tiles.Query, fn func(tiles.Visit) error) error {
	b := s.builder()
	// a visit's day is local: the rollup answers like a query by date
	q.By, q.Grid, q.WithRest = []tiles.Dim{tiles.DimDate}, tiles.Grid{}, false
	tz := b.tz(&q)
	branch := func(table string, rollup bool, first, last, extra string) string {
		b.rollup = rollup
		base, narrow := b.where(&q)
		return fmt.Sprintf(`SELECT p.visitor, ((p.observed_at AT TIME ZONE %s)::date - date '1970-01-01')::bigint AS day,
        %s AS first_at, %s AS last_at, p.weight,
        coalesce(p.origin_code::text, '') COLLATE "C" AS o, coalesce(p.nationality::text, '') COLLATE "C" AS n,
        coalesce(p.age_band, '') COLLATE "C" AS a, coalesce(p.gender, '') COLLATE "C" AS g, coalesce(p.spend_class, '') AS sp
      FROM %s p WHERE %s AND %s AND %s AND p.visitor IS NOT NULL`, tz, first, last, table, base, narrow, extra)
	}
	var branches []string
	span := s.plan(&q)
	if span.ok {
		branches = append(branches, branch("presence_rollup", true, "p.first_at", "p.last_at", span.window(b)))
	}
	if rest, whole := span.rest(&q.Filter); !whole {
		branches = append(branches, branch("presence", false, "p.observed_at", "p.observed_at", rest(b)))
	}
	// rollup rows order by their first record: of the records in one
	// second, the first by FirstRecordLess is in the least row
	sql := fmt.Sprintf(`SELECT DISTINCT ON (s.visitor, s.day) s.visitor, s.day,
    extract(epoch FROM min(s.first_at) OVER w)::bigint, extract(epoch FROM max(s.last_at) OVER w)::bigint,
    (sum(s.weight) OVER w)::bigint, s.o, s.n, s.a, s.g, s.sp
FROM (%s) s
WINDOW w AS (PARTITION BY s.visitor, s.day)
ORDER BY s.visitor, s.day, s.first_at, s.o, s.n, s.a, s.g,
    CASE s.sp WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 0 END`, strings.Join(branches, " UNION ALL "))
	rows, err := s.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return db.Wrap(ctx, "listing visits", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v                     tiles.Visit
			visitor               int64
			origin, nat, a, g, sp string
		)
		if err := rows.Scan(&visitor, &v.Day, &v.First, &v.Last, &v.Presences, &origin, &nat, &a, &g, &sp); err != nil {
			return db.Wrap(ctx, "reading visits", err)
		}
		v.Visitor = uint64(visitor)
		v.Key = tiles.VisitorKey(visitor)
		v.Origin = origin
		var err error
		if v.Nationality, err = tiles.ParseCountry(nat); err != nil {
			return fmt.Errorf("visit nationality: %w", err)
		}
		if v.Age, err = tiles.ParseAgeBand(a); err != nil {
			return fmt.Errorf("visit age band: %w", err)
		}
		if v.Gender, err = tiles.ParseGender(g); err != nil {
			return fmt.Errorf("visit gender: %w", err)
		}
		if v.Spend, err = tiles.ParseSpend(sp); err != nil {
			return fmt.Errorf("visit spend class: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return db.Wrap(ctx, "listing visits", rows.Err())
}
