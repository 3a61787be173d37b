package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/testdb"
)

func TestConformance(t *testing.T) {
	db := testdb.New(t)
	records := sourcetest.Records(sourcetest.Seed(t), 6000)
	zones := sourcetest.Zones()
	testdb.Insert(t, db, records[:4000], zones)
	testdb.Insert(t, db, records[4000:], zones)
	s := New(db, refdata.Italy(), 0)
	sourcetest.Check(t, s, records, zones)
	sourcetest.CheckVisits(t, s, records, zones)

}

// A statement on records runs with statementSettings, sent with it in one
// batch, and they end with it: pooled connections keep their defaults.
func TestStatementSettings(t *testing.T) {
	pool := testdb.New(t)
	s := New(pool, refdata.Italy(), 0)
	ctx := context.Background()
	var defaults [2]string
	if err := pool.QueryRow(ctx, "SELECT current_setting('jit'), current_setting('work_mem')").Scan(&defaults[0], &defaults[1]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var got [2]string
		err := s.read(ctx, "reading settings", statementSettings, "SELECT current_setting('jit'), current_setting('work_mem')", nil, func(rows pgx.Rows) error {
			return rows.Scan(&got[0], &got[1])
		})
		if err != nil || got != [2]string{"off", "16MB"} {
			t.Errorf("inside: %v, %v; want off, 16MB", got, err)
		}
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var after [2]string
		err = conn.QueryRow(ctx, "SELECT current_setting('jit'), current_setting('work_mem')").Scan(&after[0], &after[1])
		conn.Release()
		if err != nil || after != defaults {
			t.Errorf("after: %v, %v; want the defaults %v", after, err, defaults)
		}
	}
}
