package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/migrations"
	"github.com/flowtiles/flowtiles/tiles"
)

// addTown adds a town without a perimeter and returns its ID.
func addTown(t *testing.T, pool *pgxpool.Pool, code string) int16 {
	t.Helper()
	tw, err := towns.Add(context.Background(), pool, tiles.Town{Code: code, Name: code})
	if err != nil {
		t.Fatal(err)
	}
	return tw.ID
}

// A store answers for its town only: the same records split over two
// towns, each town's store (from the rollup and from the records alone)
// returns exactly that town's groups and visits.
func TestConformanceTwoTowns(t *testing.T) {
	pool := testdb.New(t)
	if id := addTown(t, pool, "second"); id != 1 {
		t.Fatalf("the second town has ID %d, want 1", id)
	}
	all, byTown := sourcetest.SplitTowns(sourcetest.Records(sourcetest.Seed(t), 6000))
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, all[:4000], zones)
	testdb.Insert(t, pool, all[4000:], zones)
	cat := refdata.Italy()
	t.Run("rollup", func(t *testing.T) {
		sourcetest.CheckTowns(t, map[int16]tiles.Source{0: New(pool, cat, 0), 1: New(pool, cat, 1)}, byTown, zones)
	})
	t.Run("records", func(t *testing.T) {
		sourcetest.CheckTowns(t, map[int16]tiles.Source{
			0: &Store{pool: pool, cat: cat, town: 0, recordsOnly: true},
			1: &Store{pool: pool, cat: cat, town: 1, recordsOnly: true},
		}, byTown, zones)
	})
	if n, err := VerifyRollup(context.Background(), pool); err != nil || n != 0 {
		t.Fatalf("the rollup differs from the records in %d keys (%v)", n, err)
	}
	// a town without records has none, of either table
	empty := New(pool, cat, addTown(t, pool, "third"))
	groups, err := sourcetest.Collect(context.Background(), empty, tiles.Query{})
	if err != nil || len(groups) != 0 {
		t.Fatalf("a town without records: %v %v", groups, err)
	}
}

// A database of one town's records from before towns (migration 00006)
// migrates to town 0: every record and rollup row is the town's, and the
// town's store answers with the same figures as the records. Down and up
// again keep them too.
func TestMigrationToTowns(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	var cols int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name IN ('presence', 'presence_rollup') AND column_name = 'town'`).Scan(&cols); err != nil || cols != 0 {
		t.Fatalf("%d town columns after migrating down (%v)", cols, err)
	}
	// loaded before towns: the rollup's triggers of 00005 sum them
	seed := sourcetest.Seed(t)
	records := sourcetest.Records(seed, 3000)
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, records[:2000], zones)
	testdb.Insert(t, pool, records[2000:], zones)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var other int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM presence WHERE town <> 0) +
		(SELECT count(*) FROM presence_rollup WHERE town <> 0)`).Scan(&other); err != nil || other != 0 {
		t.Fatalf("%d rows of another town than 0 (%v)", other, err)
	}
	if n, err := VerifyRollup(ctx, pool); err != nil || n != 0 {
		t.Fatalf("the rollup differs from the records in %d keys (%v)", n, err)
	}
	s := New(pool, refdata.Italy(), 0)
	sourcetest.Check(t, s, records, zones)
	sourcetest.CheckVisits(t, s, records, zones)
	// records loaded after the migration join the town's
	more := sourcetest.Records(seed+1, 500)
	testdb.Insert(t, pool, more, zones)
	if n, err := VerifyRollup(ctx, pool); err != nil || n != 0 {
		t.Fatalf("the rollup differs from the records in %d keys (%v)", n, err)
	}
	sourcetest.Check(t, s, append(records, more...), zones)
}
