package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/testdb"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// Records belong to a town by where they are: once the towns have
// perimeters, a record outside every town is an invalid row (file:line) of
// a file, and an invalid record of a posted batch; nothing is written.
// A town without a perimeter (the one an existing database migrates to)
// takes every record.
func TestRecordsOutsideEveryTown(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "mixed.csv")
	rows := "observed_at,lon,lat\n" +
		"2025-05-01T09:30:00+02:00,12.4177,42.9826\n" + // Deruta's centre
		"2025-05-01T09:31:00+02:00,12.3883,43.1122\n" + // Perugia's centre
		"2025-05-01T09:32:00+02:00,12.4345,43.0257\n" // Torgiano's centre
	if err := os.WriteFile(file, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	// the migration's town has no perimeter: everything is its own
	res, err := (&Loader{Pool: pool}).LoadFile(ctx, file, Options{})
	if err != nil || res.Loaded != 3 {
		t.Fatalf("one town without a perimeter: %v %+v", err, res)
	}

	pool = testdb.New(t)
	for _, tw := range []tiles.Town{{Code: "town", ISTAT: "054017"}, {Code: "torgiano", ISTAT: "054053"}} {
		if _, err := towns.Add(ctx, pool, tw); err != nil {
			t.Fatal(err)
		}
	}
	_, err = (&Loader{Pool: pool}).LoadFile(ctx, file, Options{})
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.Count != 1 || inv.Errors[0].Error() != file+":3: lon: 12.3883,43.1122 is outside every town (town, torgiano)" {
		t.Fatalf("%v", err)
	}
	if got := count(t, pool); got.rows != 0 {
		t.Fatalf("%d rows written", got.rows)
	}
	// --skip-invalid loads the others
	res, err = (&Loader{Pool: pool}).LoadFile(ctx, file, Options{SkipInvalid: true})
	if err != nil || res.Loaded != 2 || res.Rejected != 1 {
		t.Fatalf("%v %+v", err, res)
	}

	// a posted batch
	recs := []presence.Record{
		{ObservedAt: res.From, Lon: 12.4177, Lat: 42.9826, Weight: 1},
		{ObservedAt: res.From, Lon: 12.3883, Lat: 43.1122, Weight: 1},
	}
	before := count(t, pool)
	_, err = NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "outside"}, recs)
	var re *presence.RecordError
	if !errors.As(err, &re) || re.Index != 1 || re.Column != "lon" || !strings.Contains(re.Reason, "outside every town") {
		t.Fatalf("%v", err)
	}
	if got := count(t, pool); got != before {
		t.Fatalf("%+v after a refused batch, want %+v", got, before)
	}
	if _, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "inside"}, recs[:1]); err != nil {
		t.Fatal(err)
	}
}
