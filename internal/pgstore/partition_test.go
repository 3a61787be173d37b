package pgstore

import (
	"context"
	"testing"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// A database of two towns partitioned by month alone (00009) migrates to
// partitions by town, then month (00010): every record in its town's
// month, none lost or changed; a month of one town's records is moved
// whole (the same table, its indexes attached), months of both towns are
// copied; each town's store answers with its records, the rollup agrees,
// and new loads go to their towns' partitions. Down and up again keep
// every record too.
func TestMigrationToTownPartitions(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	p := migratedTo(t, pool, 9)
	second := addTown(t, pool, "second")
	seed := sourcetest.Seed(t)
	all, byTown := sourcetest.SplitTowns(sourcetest.Records(seed, 3000))
	// a month of town 0's records alone, a year later
	alone := sourcetest.Records(seed+1, 500)
	for i := range alone {
		alone[i].ObservedAt = alone[i].ObservedAt.AddDate(1, 0, 0)
	}
	zones := sourcetest.Zones()
	testdb.Insert(t, pool, all, zones)
	testdb.Insert(t, pool, alone, zones)
	byTown[0] = append(byTown[0], alone...)
	month := alone[0].ObservedAt.UTC().Format("y2006m01")
	var aloneOID uint32
	if err := pool.QueryRow(ctx, "SELECT 'presence_"+month+"'::regclass::oid").Scan(&aloneOID); err != nil {
		t.Fatal(err)
	}
	rows := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `SELECT count(*) || ':' || md5(string_agg(concat_ws('|', town, observed_at, wx, wy, weight, visitor, age_band,
			gender, nationality, origin_code, spend_class, zones, rkey, batch_id), ',' ORDER BY town, observed_at, wx, wy, weight, visitor, rkey))
			FROM presence`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := rows()
	check := func(when string) {
		t.Helper()
		if got := rows(); got != before {
			t.Fatalf("%s: the records are %s, were %s", when, got, before)
		}
		if n, err := VerifyRollup(ctx, pool); err != nil || n != 0 {
			t.Fatalf("%s: the rollup differs from the records in %d keys (%v)", when, n, err)
		}
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("migrated")
	// every record in its town's month, the leaves indexed as the parent
	var misplaced, unindexed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM presence
		WHERE tableoid::regclass::text <> format('presence_t%s_%s', town, to_char(observed_at AT TIME ZONE 'UTC', '"y"YYYY"m"MM'))`).Scan(&misplaced); err != nil || misplaced != 0 {
		t.Fatalf("%d records out of their town's month's partition (%v)", misplaced, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_partition_tree('presence') pt
		WHERE pt.isleaf AND (SELECT count(*) FROM pg_index i WHERE i.indrelid = pt.relid) <> 2`).Scan(&unindexed); err != nil || unindexed != 0 {
		t.Fatalf("%d partitions without the two indexes of presence (%v)", unindexed, err)
	}
	var movedOID uint32
	if err := pool.QueryRow(ctx, "SELECT 'presence_t0_"+month+"'::regclass::oid").Scan(&movedOID); err != nil || movedOID != aloneOID {
		t.Fatalf("town 0's month alone is table %d, was %d (%v): copied, not moved", movedOID, aloneOID, err)
	}
	cat := refdata.Italy()
	sourcetest.CheckTowns(t, map[int16]tiles.Source{0: New(pool, cat, 0), second: New(pool, cat, second)}, byTown, zones)

	// loads after it: into the towns' partitions, the rollup following
	more, moreByTown := sourcetest.SplitTowns(sourcetest.Records(seed+2, 600))
	testdb.Insert(t, pool, more, zones)
	for town, rs := range moreByTown {
		byTown[town] = append(byTown[town], rs...)
	}
	before = rows()
	check("loaded after")
	sourcetest.CheckTowns(t, map[int16]tiles.Source{0: New(pool, cat, 0), second: New(pool, cat, second)}, byTown, zones)

	if _, err := p.DownTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	check("down")
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM presence
		WHERE tableoid::regclass::text <> 'presence_' || to_char(observed_at AT TIME ZONE 'UTC', '"y"YYYY"m"MM')`).Scan(&misplaced); err != nil || misplaced != 0 {
		t.Fatalf("down: %d records out of their month's partition (%v)", misplaced, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("up again")
}
