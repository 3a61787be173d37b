package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowtiles/flowtiles/internal/areas"
	"github.com/flowtiles/flowtiles/internal/pgstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/tiles"
)

// rollupTotals are the presences of the rollup and of the records.
type rollupTotals struct{ rollup, records int64 }

func totals(t *testing.T, pool *pgxpool.Pool) rollupTotals {
	t.Helper()
	var r rollupTotals
	if err := pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(sum(weight), 0) FROM presence_rollup), (SELECT coalesce(sum(weight), 0) FROM presence)`).Scan(&r.rollup, &r.records); err != nil {
		t.Fatal(err)
	}
	return r
}

// rollupFresh fails the test unless presence_rollup says what the records
// say, key by key.
func rollupFresh(t *testing.T, pool *pgxpool.Pool, when string) rollupTotals {
	t.Helper()
	n, err := pgstore.VerifyRollup(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	tt := totals(t, pool)
	if n != 0 || tt.rollup != tt.records {
		t.Fatalf("%s: the rollup differs from the records in %d keys (presences %d, records %d)", when, n, tt.rollup, tt.records)
	}
	return tt
}

// failBatches makes every update of an ingest_batch row fail, as a
// database error after the records are copied would: the load's last
// statement before its commit.
func failBatches(t *testing.T, pool *pgxpool.Pool, on bool) {
	t.Helper()
	sql := `DROP TRIGGER IF EXISTS test_fail ON ingest_batch`
	if on {
		sql = `CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'test: the batch row cannot be written'; END $$;
			CREATE TRIGGER test_fail BEFORE UPDATE ON ingest_batch FOR EACH ROW EXECUTE FUNCTION test_fail()`
	}
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// Every load keeps presence_rollup equal to the records, in the load's
// own transaction: a file, a posted batch, a load that fails after its
// records are copied, a cancelled one, and zones re-imported over loaded
// records.
func TestRollupFollowsIngest(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	zones := sourcetest.Zones()
	insertZones(t, pool, zones)
	l := &Loader{Pool: pool}

	res, err := l.LoadFile(ctx, bigFile(t, 20_000), Options{})
	if err != nil || res.Loaded != 20_000 {
		t.Fatalf("load: %+v %v", res, err)
	}
	after := rollupFresh(t, pool, "after a file")
	if after.records == 0 {
		t.Fatal("nothing loaded")
	}

	recs := sourcetest.Records(sourcetest.Seed(t), 3000)
	if dup, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "posted-1"}, recs); err != nil || dup {
		t.Fatalf("posted batch: %v %v", dup, err)
	}
	after = rollupFresh(t, pool, "after a posted batch")

	// failures after the COPY (and its trigger) roll the rollup back too
	failBatches(t, pool, true)
	if _, err := l.LoadFile(ctx, bigFile(t, 5000), Options{}); err == nil {
		t.Fatal("a load whose batch row fails succeeded")
	}
	if got := rollupFresh(t, pool, "after a failed file"); got != after {
		t.Fatalf("after a failed file: %+v, want %+v", got, after)
	}
	if _, err := NewPGSink(pool, map[int16][]tiles.Place{0: zones}).Store(ctx, presence.BatchID{Checksum: "posted-2"}, recs[:500]); err == nil {
		t.Fatal("a posted batch whose batch row fails succeeded")
	}
	if got := rollupFresh(t, pool, "after a failed posted batch"); got != after {
		t.Fatalf("after a failed posted batch: %+v, want %+v", got, after)
	}
	failBatches(t, pool, false)

	cctx, cancel := context.WithCancel(ctx)
	_, err = l.LoadFile(cctx, bigFile(t, 30_000), Options{Progress: func(p Progress) {
		if p.Phase == "load" && p.Rows >= 20_000 {
			cancel()
		}
	}})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	if got := rollupFresh(t, pool, "after a cancelled load"); got != after {
		t.Fatalf("after a cancelled load: %+v, want %+v", got, after)
	}

	// zones re-imported: areas recomputes the masks of the records, and
	// the rollup follows
	im := &areas.Importer{Pool: pool}
	ir, err := im.ImportFile(ctx, "../../testdata/deruta/zones.geojson", areas.Zones)
	if err != nil {
		t.Fatal(err)
	}
	if ir.Recoded == 0 {
		t.Fatal("the re-import changed no record's zones: the test checks nothing")
	}
	rollupFresh(t, pool, "after zones were re-imported")
}
