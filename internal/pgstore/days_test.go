package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// randomDayQuery draws a query of the kind a stats report about a zone or
// the whole town sends (no area, no narrowing filter): a window of a few
// hours to 40 days, starting anywhere or on an hour, by nothing, by one or
// two attributes or by hour, in the town's time zone or (one in four) in
// UTC.
func randomDayQuery(rng *rand.Rand) tiles.Query {
	q := tiles.Query{Loc: sourcetest.Rome}
	if rng.IntN(4) == 0 {
		q.Loc = time.UTC
	}
	from := sourcetest.Start.Add(time.Duration(rng.IntN(50*24*3600)) * time.Second).Add(-24 * time.Hour)
	if rng.IntN(2) == 0 {
		from = from.Truncate(time.Hour)
	}
	to := from.Add(time.Duration(3600+rng.IntN(40*24*3600)) * time.Second)
	if rng.IntN(2) == 0 {
		to = to.Truncate(time.Hour)
	}
	q.Filter.From, q.Filter.To = from.UTC(), to.UTC()
	if z := rng.IntN(3); z < 2 {
		q.AreaZones = tiles.ZoneBit(z)
	}
	attrs := []tiles.Dim{tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimNationality,
		tiles.DimAge, tiles.DimGender, tiles.DimSpend}
	switch rng.IntN(5) {
	case 0: // no grouping
	case 1:
		q.By = []tiles.Dim{tiles.DimHour}
	case 2:
		q.By = []tiles.Dim{attrs[rng.IntN(len(attrs))], attrs[rng.IntN(len(attrs))]}
		if q.By[0] == q.By[1] {
			q.By = q.By[:1]
		}
	default:
		q.By = []tiles.Dim{attrs[rng.IntN(len(attrs))]}
	}
	return q
}

// compareDays runs n random report queries on the store with its
// visitor-day tables, with the rollup alone and on the records alone, and
// compares them (and the reference, when records is not nil). It returns
// how many the visitor-day tables took part in.
func compareDays(t *testing.T, pool *pgxpool.Pool, rng *rand.Rand, n int, records []presence.Record) int {
	t.Helper()
	ctx := context.Background()
	days := New(pool, refdata.Italy(), 0)
	stores := []*Store{{pool: pool, cat: refdata.Italy(), noDays: true}, {pool: pool, cat: refdata.Italy(), recordsOnly: true}}
	used := 0
	for i := range n {
		q := randomDayQuery(rng)
		if days.planDays(&q).ok {
			used++
		}
		got, err := sourcetest.Collect(ctx, days, q)
		if err != nil {
			t.Fatalf("query %d %+v: %v", i, q, err)
		}
		gotV := visits(t, days, q)
		for j, other := range stores {
			want, err := sourcetest.Collect(ctx, other, q)
			if err != nil {
				t.Fatalf("query %d %+v: store %d: %v", i, q, j, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("query %d %+v (days %+v): %d groups, store %d (rollup, records) gives %d", i, q, days.planDays(&q), len(got), j, len(want))
				for k := range min(len(got), len(want)) {
					if got[k] != want[k] {
						t.Logf("  #%d days  %+v\n     other %+v", k, got[k], want[k])
						break
					}
				}
				return used
			}
			if wantV := visits(t, other, q); !slices.Equal(gotV, wantV) {
				t.Errorf("query %d %+v (days %+v): %d visits, store %d (rollup, records) gives %d", i, q, days.planDays(&q), len(gotV), j, len(wantV))
				return used
			}
		}
		if records != nil {
			if ref := sourcetest.Reference(records, sourcetest.Zones(), q); !slices.Equal(got, ref) {
				t.Fatalf("query %d %+v: %d groups, the reference %d", i, q, len(got), len(ref))
			}
			ref := sourcetest.ReferenceVisits(records, sourcetest.Zones(), q)
			sortVisits(ref)
			if !slices.Equal(gotV, ref) {
				t.Fatalf("query %d %+v: %d visits, the reference %d", i, q, len(gotV), len(ref))
			}
		}
	}
	return used
}

func verifyDays(t *testing.T, pool *pgxpool.Pool, when string) {
	t.Helper()
	n, err := VerifyVisitorDays(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%s: the visitor-day tables differ from the records in %d keys", when, n)
	}
}

// Report queries answered from the visitor-day tables equal the rollup's,
// the records' and the reference's, and the tables follow every write to
// presence: inserts in several batches, a rolled-back insert, updates of
// zone masks, deletions, a refresh after a write to a partition, a change
// of the town's time zone and a truncation.
func TestVisitorDaysAnswerAsRecords(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	pool := testdb.New(t)
	ctx := context.Background()
	records := sourcetest.Records(seed, 3000)
	zones := sourcetest.Zones()
	verifyDays(t, pool, "empty")
	testdb.Insert(t, pool, records[:1000], zones)
	testdb.Insert(t, pool, records[1000:2500], zones)
	testdb.Insert(t, pool, records[2500:], zones)
	verifyDays(t, pool, "after three batches")
	if used := compareDays(t, pool, rng, 200, records); used < 100 {
		t.Errorf("the visitor-day tables answered %d of 200 queries: the test checks too little", used)
	}

	t.Run("rolled back insert", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO presence SELECT * FROM presence WHERE visitor IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
		var n, h int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT sum(weight) FROM presence_visitor_day), (SELECT sum(weight) FROM presence_zone_hour)`).Scan(&n, &h); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		var after, hAfter int64
		if err := pool.QueryRow(ctx, `SELECT (SELECT sum(weight) FROM presence_visitor_day), (SELECT sum(weight) FROM presence_zone_hour)`).Scan(&after, &hAfter); err != nil {
			t.Fatal(err)
		}
		if n <= after || h <= hAfter {
			t.Errorf("inside the transaction the tables held %d and %d people-presences, after it %d and %d: the insert did not reach them", n, h, after, hAfter)
		}
		verifyDays(t, pool, "after a rolled-back insert")
		compareDays(t, pool, rng, 30, records)
	})
	t.Run("zone masks updated", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `UPDATE presence SET zones = (zones # 3) WHERE visitor % 5 = 0 OR weight > 10`); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after an update of zone masks")
		compareDays(t, pool, rng, 40, nil)
	})
	t.Run("records deleted", func(t *testing.T) {
		tag, err := pool.Exec(ctx, `DELETE FROM presence WHERE visitor % 7 = 1 OR observed_at < $1`, sourcetest.Start.AddDate(0, 0, 9))
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() == 0 {
			t.Fatal("deleted nothing")
		}
		verifyDays(t, pool, "after a deletion")
		compareDays(t, pool, rng, 40, nil)
	})
	t.Run("refresh after a write to a partition", func(t *testing.T) {
		month := sourcetest.Start.AddDate(0, 0, 15).UTC()
		tag, err := pool.Exec(ctx, fmt.Sprintf(`DELETE FROM presence_t0_y%sm%s WHERE weight > 5`, month.Format("2006"), month.Format("01")))
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() == 0 {
			t.Fatal("deleted nothing")
		}
		if n, _ := VerifyVisitorDays(ctx, pool); n == 0 {
			t.Fatal("a write to a partition reached the visitor-day tables: the documented limit is gone, update the migration's comment")
		}
		if _, err := pool.Exec(ctx, `SELECT presence_rollup_refresh(NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
		// a bounded refresh of the month, then everything
		if _, err := pool.Exec(ctx, `SELECT presence_visitor_day_refresh($1, $2)`, month.AddDate(0, -1, 0), month.AddDate(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after presence_visitor_day_refresh of two months")
		if _, err := pool.Exec(ctx, `SELECT presence_visitor_day_refresh(NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after presence_visitor_day_refresh")
		compareDays(t, pool, rng, 20, nil)
	})
	t.Run("time zone changed", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `UPDATE town SET time_zone = 'UTC' WHERE id = 0`); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after the town's time zone changed")
		compareDays(t, pool, rng, 30, nil)
		if _, err := pool.Exec(ctx, `UPDATE town SET time_zone = 'Europe/Rome' WHERE id = 0`); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after the town's time zone changed back")
	})
	t.Run("truncated", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `TRUNCATE presence`); err != nil {
			t.Fatal(err)
		}
		verifyDays(t, pool, "after TRUNCATE")
		var n int64
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM presence_visitor_day) + (SELECT count(*) FROM presence_zone_hour)`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows after TRUNCATE (%v)", n, err)
		}
	})
}

// The local days of a window: midnights at or after From and at or before
// To, in the query's zone, none where a day does not start at midnight.
func TestPlanDays(t *testing.T) {
	s := &Store{}
	rome := sourcetest.Rome
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, rome)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		from, to   string
		d0, d1     string
		ok         bool
		narrowed   bool
		area, many bool
	}{
		{from: "2025-03-01 00:00", to: "2025-03-03 00:00", d0: "2025-03-01", d1: "2025-03-03", ok: true},
		{from: "2025-03-01 05:00", to: "2025-03-03 07:00", d0: "2025-03-02", d1: "2025-03-03", ok: true},
		{from: "2025-03-29 05:00", to: "2025-04-01 07:00", d0: "2025-03-30", d1: "2025-04-01", ok: true}, // DST
		{from: "2025-03-01 05:00", to: "2025-03-02 07:00"},                                               // no whole day
		{from: "2025-03-01 00:00", to: "2025-03-03 00:00", narrowed: true},
		{from: "2025-03-01 00:00", to: "2025-03-03 00:00", area: true},
		{from: "2025-03-01 00:00", to: "2025-03-03 00:00", many: true},
	} {
		q := tiles.Query{Filter: tiles.Filter{From: at(c.from).UTC(), To: at(c.to).UTC()}, Loc: rome, AreaZones: tiles.ZoneBit(1)}
		if c.narrowed {
			q.Filter.Hours = 1
		}
		if c.area {
			q.Area = tiles.Rect{MaxX: 1 << 16, MaxY: 1 << 16}
		}
		if c.many {
			q.AreaZones |= tiles.ZoneBit(2)
		}
		p := s.planDays(&q)
		if p.ok != c.ok {
			t.Errorf("%s to %s: ok %v, want %v", c.from, c.to, p.ok, c.ok)
			continue
		}
		if !p.ok {
			continue
		}
		d0, d1 := time.Unix(int64(p.d0)*86400, 0).UTC().Format(time.DateOnly), time.Unix(int64(p.d1)*86400, 0).UTC().Format(time.DateOnly)
		if d0 != c.d0 || d1 != c.d1 || p.zone != 1 || !p.From.Equal(at(c.d0+" 00:00")) || !p.To.Equal(at(c.d1+" 00:00")) {
			t.Errorf("%s to %s: days %s to %s (%v to %v), zone %d; want %s to %s, zone 1", c.from, c.to, d0, d1, p.From, p.To, p.zone, c.d0, c.d1)
		}
	}
}
