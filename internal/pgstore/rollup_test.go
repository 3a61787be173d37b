package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// randomQuery draws a query over the records of sourcetest.Records: a
// window of whole or partial hours (or none), any filters, up to two
// dimensions, an area of whole cells, of part of cells or none, a zone
// as the area, with or without the rest.
func randomQuery(rng *rand.Rand) tiles.Query {
	var q tiles.Query
	q.Loc = sourcetest.Rome
	if rng.IntN(5) == 0 {
		q.Loc = time.UTC
	}
	f := &q.Filter
	span := 61 * 24 * 3600
	if rng.IntN(6) != 0 {
		from := sourcetest.Start.Add(time.Duration(rng.IntN(span)) * time.Second).Add(-24 * time.Hour)
		if rng.IntN(2) == 0 {
			from = from.Truncate(time.Hour)
		}
		f.From = from.UTC()
	}
	if rng.IntN(6) != 0 {
		base := f.From
		if base.IsZero() {
			base = sourcetest.Start
		}
		to := base.Add(time.Duration(1+rng.IntN(40*24*3600)) * time.Second)
		if rng.IntN(2) == 0 {
			to = to.Truncate(time.Hour).Add(time.Hour)
		}
		f.To = to.UTC()
	}
	bits := func(n int) uint32 {
		if rng.IntN(3) != 0 {
			return 0
		}
		return uint32(rng.Uint64()) & (1<<n - 1)
	}
	f.Hours = bits(24)
	f.Days = uint8(bits(7))
	f.Ages = uint8(bits(8)) &^ 1
	f.Genders = uint8(bits(4)) &^ 1
	f.Spends = uint8(bits(4)) &^ 1
	if rng.IntN(4) == 0 {
		for _, c := range []tiles.Country{{'D', 'E'}, {'F', 'R'}, tiles.Italy, {'U', 'S'}} {
			if rng.IntN(2) == 0 {
				f.Nationalities = append(f.Nationalities, c)
			}
		}
		slices.SortFunc(f.Nationalities, func(a, b tiles.Country) int { return strings.Compare(a.String(), b.String()) })
	}
	if rng.IntN(4) == 0 {
		for _, o := range []string{"054017", "054039", "054052", "058091"} {
			if rng.IntN(2) == 0 {
				f.Origins = append(f.Origins, o)
			}
		}
	}
	if rng.IntN(5) == 0 {
		z := rng.IntN(2)
		f.Zone, f.Zones = []string{"centro", "piazza"}[z], tiles.ZoneBit(z)
	}
	centre := tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])
	cx, cy := int64(centre.X)>>16, int64(centre.Y)>>16
	switch rng.IntN(4) {
	case 0: // whole cells
		q.Area = tiles.Rect{MinX: (cx - int64(rng.IntN(2))) << 16, MinY: (cy - int64(rng.IntN(2))) << 16,
			MaxX: (cx + 1 + int64(rng.IntN(2))) << 16, MaxY: (cy + 1 + int64(rng.IntN(2))) << 16}
	case 1: // anywhere
		q.Area = tiles.Rect{MinX: int64(centre.X) - rng.Int64N(1<<14), MinY: int64(centre.Y) - rng.Int64N(1<<14),
			MaxX: int64(centre.X) + rng.Int64N(1<<14), MaxY: int64(centre.Y) + rng.Int64N(1<<14)}
	}
	if rng.IntN(6) == 0 {
		q.AreaZones = tiles.ZoneBit(rng.IntN(2))
	}
	dims := []tiles.Dim{tiles.DimZone, tiles.DimMunicipality, tiles.DimProvince, tiles.DimRegion, tiles.DimNationality,
		tiles.DimHour, tiles.DimWeekday, tiles.DimDate, tiles.DimAge, tiles.DimGender, tiles.DimSpend}
	if q.Area != (tiles.Rect{}) {
		dims = append(dims, tiles.DimBin, tiles.DimBin)
		shape := tiles.Square
		if rng.IntN(3) == 0 {
			shape = tiles.Hexagon
		}
		q.Grid = tiles.NewGrid(shape, uint8(9+rng.IntN(6)))
	}
	for range rng.IntN(3) {
		d := dims[rng.IntN(len(dims))]
		if !slices.Contains(q.By, d) {
			q.By = append(q.By, d)
		}
	}
	q.WithRest = f.Narrowed() && rng.IntN(2) == 0
	return q
}

// compareRollup runs n random queries on the store with its rollup and
// on the records alone, and compares both with the reference when records
// is not nil. It returns how many the rollup took part in.
func compareRollup(t *testing.T, pool *pgxpool.Pool, rng *rand.Rand, n int, records []presence.Record) int {
	t.Helper()
	ctx := context.Background()
	withRollup, recordsOnly := New(pool, refdata.Italy(), 0), &Store{pool: pool, cat: refdata.Italy(), recordsOnly: true}
	used := 0
	for i := range n {
		q := randomQuery(rng)
		if planRollup(&q).ok {
			used++
		}
		got, err := sourcetest.Collect(ctx, withRollup, q)
		if err != nil {
			t.Fatalf("query %d %+v: %v", i, q, err)
		}
		want, err := sourcetest.Collect(ctx, recordsOnly, q)
		if err != nil {
			t.Fatalf("query %d %+v: records: %v", i, q, err)
		}
		if records != nil {
			if ref := sourcetest.Reference(records, sourcetest.Zones(), q); !slices.Equal(want, ref) {
				t.Fatalf("query %d %+v: the records' answer (%d groups) is not the reference's (%d)", i, q, len(want), len(ref))
			}
		}
		gotV, wantV := visits(t, withRollup, q), visits(t, recordsOnly, q)
		if records != nil {
			ref := sourcetest.ReferenceVisits(records, sourcetest.Zones(), q)
			sortVisits(ref)
			if !slices.Equal(wantV, ref) {
				t.Fatalf("query %d %+v: the records' visits (%d) are not the reference's (%d)", i, q, len(wantV), len(ref))
			}
		}
		if !slices.Equal(gotV, wantV) {
			t.Errorf("query %d %+v (rollup span %+v): %d visits, records give %d", i, q, planRollup(&q), len(gotV), len(wantV))
			for j := range min(len(gotV), len(wantV)) {
				if gotV[j] != wantV[j] {
					t.Logf("  #%d rollup  %+v\n      records %+v", j, gotV[j], wantV[j])
					break
				}
			}
			return used
		}
		if !slices.Equal(got, want) {
			t.Errorf("query %d %+v (rollup span %+v): %d groups, records give %d", i, q, planRollup(&q), len(got), len(want))
			for j := range min(len(got), len(want)) {
				if got[j] != want[j] {
					t.Logf("  #%d rollup  %+v\n      records %+v", j, got[j], want[j])
					break
				}
			}
			return used
		}
	}
	return used
}

func verifyRollup(t *testing.T, pool *pgxpool.Pool, when string) {
	t.Helper()
	n, err := VerifyRollup(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%s: the rollup differs from the records in %d keys", when, n)
	}
}

// Answers read from the rollup equal the records' for random queries,
// and the rollup follows every write to presence: inserts in several
// batches, a rolled-back insert, updates of zone masks, deletions and a
// truncation.
func TestRollupAnswersAsRecords(t *testing.T) {
	seed := sourcetest.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 14))
	pool := testdb.New(t)
	ctx := context.Background()
	records := sourcetest.Records(seed, 3000)
	zones := sourcetest.Zones()
	verifyRollup(t, pool, "empty")
	testdb.Insert(t, pool, records[:1000], zones)
	testdb.Insert(t, pool, records[1000:2500], zones)
	testdb.Insert(t, pool, records[2500:], zones)
	verifyRollup(t, pool, "after three batches")
	if used := compareRollup(t, pool, rng, 300, records); used < 60 {
		t.Errorf("the rollup answered %d of 300 queries: the test checks too little", used)
	}

	t.Run("rolled back insert", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO presence SELECT * FROM presence WHERE visitor IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT sum(weight) FROM presence_rollup`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		var after int64
		if err := pool.QueryRow(ctx, `SELECT sum(weight) FROM presence_rollup`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if n <= after {
			t.Errorf("inside the transaction the rollup held %d people-presences, after it %d: the insert did not reach it", n, after)
		}
		verifyRollup(t, pool, "after a rolled-back insert")
		compareRollup(t, pool, rng, 40, records)
	})
	t.Run("zone masks updated", func(t *testing.T) {
		// as areas import does when zones change: rewrite masks in place
		if _, err := pool.Exec(ctx, `UPDATE presence SET zones = (zones # 3) WHERE visitor % 5 = 0 OR weight > 10`); err != nil {
			t.Fatal(err)
		}
		verifyRollup(t, pool, "after an update of zone masks")
		compareRollup(t, pool, rng, 60, nil)
	})
	t.Run("records deleted", func(t *testing.T) {
		tag, err := pool.Exec(ctx, `DELETE FROM presence WHERE visitor % 7 = 1 OR observed_at < $1`, sourcetest.Start.AddDate(0, 0, 9))
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() == 0 {
			t.Fatal("deleted nothing")
		}
		verifyRollup(t, pool, "after a deletion")
		compareRollup(t, pool, rng, 60, nil)
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
		if n, _ := VerifyRollup(ctx, pool); n == 0 {
			t.Fatal("a write to a partition reached the rollup: the documented limit is gone, update the migration's comment")
		}
		if _, err := pool.Exec(ctx, `SELECT presence_rollup_refresh(NULL, NULL)`); err != nil {
			t.Fatal(err)
		}
		verifyRollup(t, pool, "after presence_rollup_refresh")
	})
	t.Run("truncated", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `TRUNCATE presence`); err != nil {
			t.Fatal(err)
		}
		verifyRollup(t, pool, "after TRUNCATE")
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM presence_rollup`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rollup rows after TRUNCATE (%v)", n, err)
		}
	})
}

// visits lists q's visits from src, sorted.
func visits(t *testing.T, src *Store, q tiles.Query) []tiles.Visit {
	t.Helper()
	var out []tiles.Visit
	if err := src.Visits(context.Background(), q, func(v tiles.Visit) error {
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatalf("visits of %+v: %v", q, err)
	}
	for i := range out {
		out[i].Visitor = 0 // as ReferenceVisits
	}
	sortVisits(out)
	return out
}

// sortVisits orders visits totally: as sourcetest.SortVisits, then by key.
func sortVisits(vs []tiles.Visit) {
	slices.SortFunc(vs, func(a, b tiles.Visit) int {
		if c := cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.First, b.First), cmp.Compare(a.Last, b.Last),
			cmp.Compare(a.Presences, b.Presences)); c != 0 {
			return c
		}
		switch {
		case tiles.FirstRecordLess(a, b):
			return -1
		case tiles.FirstRecordLess(b, a):
			return 1
		}
		return cmp.Compare(a.Key, b.Key)
	})
}
