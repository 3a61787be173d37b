package pgstore

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/paulmach/orb/encoding/wkb"
	"github.com/pressly/goose/v3"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/migrations"
	"github.com/flowtiles/flowtiles/tiles"
)

// migratedTo migrates pool's database down to version and returns the
// provider that migrates it (goose's, over the embedded migrations).
func migratedTo(t *testing.T, pool *pgxpool.Pool, version int64) *goose.Provider {
	t.Helper()
	sqlDB := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { sqlDB.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return p
}

// insertZonesBeforeTowns writes zones into the zone table of a database
// migrated down to before zones per town (00007: no town column).
func insertZonesBeforeTowns(t *testing.T, pool *pgxpool.Pool, zones []tiles.Place) {
	t.Helper()
	for _, z := range zones {
		b, err := wkb.Marshal(z.Shape)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(context.Background(), `INSERT INTO zone (id, name, geom) VALUES ($1, $2, ST_Multi(ST_GeomFromWKB($3, 4326)))`, z.Key, z.Code, b); err != nil {
			t.Fatal(err)
		}
	}
}

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
	p := migratedTo(t, pool, 6)
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

// A database at 00007 with zones and records migrates to zones per town
// (00008): the zones become town 0's, with their ids and names, no
// record's zone mask changes, and the town's store answers with the same
// figures (its zones from Zones). Down and up again keep them too.
func TestMigrationToZonesPerTown(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	p := migratedTo(t, pool, 7)
	zones := sourcetest.Zones()
	insertZonesBeforeTowns(t, pool, zones)
	records := sourcetest.Records(sourcetest.Seed(t), 3000)
	testdb.Insert(t, pool, records, zones)
	masks := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT md5(string_agg(concat_ws('|', town, observed_at, wx, wy, weight, zones), ',' ORDER BY observed_at, wx, wy, weight, zones))
			FROM presence`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := masks()
	var nonzero int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM presence WHERE zones <> 0`).Scan(&nonzero); err != nil || nonzero == 0 {
		t.Fatalf("%d records in zones: the test checks nothing (%v)", nonzero, err)
	}
	check := func(when string) {
		t.Helper()
		var other int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM zone WHERE town <> 0`).Scan(&other); err != nil || other != 0 {
			t.Fatalf("%s: %d zones of another town than 0 (%v)", when, other, err)
		}
		if got := masks(); got != before {
			t.Fatalf("%s: the records' zone masks changed", when)
		}
		if n, err := VerifyRollup(ctx, pool); err != nil || n != 0 {
			t.Fatalf("%s: the rollup differs from the records in %d keys (%v)", when, n, err)
		}
		s := New(pool, refdata.Italy(), 0)
		got, err := s.Zones(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(zones) {
			t.Fatalf("%s: town 0's zones %+v", when, got)
		}
		for i, z := range got {
			if z.Key != zones[i].Key || z.Code != zones[i].Code {
				t.Fatalf("%s: zone %d is %d %s, want %d %s", when, i, z.Key, z.Code, zones[i].Key, zones[i].Code)
			}
		}
		sourcetest.Check(t, s, records, zones)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("migrated")
	// another town's zones may have the same ids and names now
	id := addTown(t, pool, "second")
	if _, err := pool.Exec(ctx, `INSERT INTO zone (town, id, name, geom) SELECT $1, id, name, geom FROM zone WHERE town = 0`, id); err != nil {
		t.Fatalf("the same zones for another town: %v", err)
	}
	if _, err := p.DownTo(ctx, 7); err == nil || !strings.Contains(err.Error(), "zones of 2 towns") {
		t.Fatalf("down with two towns' zones: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM zone WHERE town = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("down and up again")
}

// A database at 00007 serving two towns with the one set of zones: the
// zones become town 0's, and the other town's records lose their zone bits
// (they named zones now town 0's), the rollup following.
func TestMigrationToZonesPerTownOfTwo(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	p := migratedTo(t, pool, 7)
	zones := sourcetest.Zones()
	insertZonesBeforeTowns(t, pool, zones)
	all, byTown := sourcetest.SplitTowns(sourcetest.Records(sourcetest.Seed(t), 3000))
	if _, err := pool.Exec(ctx, `INSERT INTO town (id, code, name) VALUES (1, 'second', 'second')`); err != nil {
		t.Fatal(err)
	}
	testdb.Insert(t, pool, all, zones)
	var inZones [2]int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE town = 0 AND zones <> 0), count(*) FILTER (WHERE town = 1 AND zones <> 0) FROM presence`).
		Scan(&inZones[0], &inZones[1]); err != nil || inZones[0] == 0 || inZones[1] == 0 {
		t.Fatalf("records in zones by town %v: the test checks nothing (%v)", inZones, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	var after [2]int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE town = 0 AND zones <> 0), count(*) FILTER (WHERE town = 1 AND zones <> 0) FROM presence`).
		Scan(&after[0], &after[1]); err != nil || after[0] != inZones[0] || after[1] != 0 {
		t.Fatalf("records in zones by town %v after the migration, want [%d 0] (%v)", after, inZones[0], err)
	}
	if n, err := VerifyRollup(ctx, pool); err != nil || n != 0 {
		t.Fatalf("the rollup differs from the records in %d keys (%v)", n, err)
	}
	sourcetest.Check(t, New(pool, refdata.Italy(), 0), byTown[0], zones)
	sourcetest.Check(t, New(pool, refdata.Italy(), 1), byTown[1], nil)
}
