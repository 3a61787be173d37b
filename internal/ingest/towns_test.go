package ingest

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Each record is stored in the town it lies in, by a file's load and by a
// posted batch, and the rollup sums it there: two towns with perimeters
// (Deruta, Torgiano) and the migration's town without one, which takes the
// records outside both.
func TestRecordsStoredInTheirTown(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	ids := map[string]int16{"town": 0}
	for _, tw := range []tiles.Town{{Code: "deruta", ISTAT: "054017"}, {Code: "torgiano", ISTAT: "054053"}} {
		added, err := towns.Add(ctx, pool, tw)
		if err != nil {
			t.Fatal(err)
		}
		ids[tw.Code] = added.ID
	}
	if ids["deruta"] == ids["torgiano"] || ids["deruta"] == 0 || ids["torgiano"] == 0 {
		t.Fatalf("town IDs %v", ids)
	}
	file := filepath.Join(t.TempDir(), "towns.csv")
	rows := "observed_at,lon,lat,weight\n" +
		"2025-05-01T09:30:00+02:00,12.4177,42.9826,1\n" + // Deruta's centre
		"2025-05-01T09:31:00+02:00,12.4345,43.0257,2\n" + // Torgiano's centre
		"2025-05-01T09:32:00+02:00,12.3883,43.1122,3\n" + // Perugia's centre: the town without a perimeter
		"2025-05-01T09:33:00+02:00,12.4180,42.9830,4\n" // Deruta again
	if err := os.WriteFile(file, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := (&Loader{Pool: pool}).LoadFile(ctx, file, Options{}); err != nil || res.Loaded != 4 {
		t.Fatalf("%v %+v", err, res)
	}
	at := time.Date(2025, 5, 2, 10, 0, 0, 0, time.UTC)
	recs := []presence.Record{
		{ObservedAt: at, Lon: 12.4345, Lat: 43.0257, Weight: 5},                      // Torgiano
		{ObservedAt: at.Add(time.Minute), Lon: 12.4177, Lat: 42.9826, Weight: 6},     // Deruta
		{ObservedAt: at.Add(2 * time.Minute), Lon: 12.4350, Lat: 43.0260, Weight: 7}, // Torgiano
	}
	if _, err := NewPGSink(pool, nil).Store(ctx, presence.BatchID{Checksum: "two towns"}, recs); err != nil {
		t.Fatal(err)
	}
	want := map[int32]int16{1: ids["deruta"], 2: ids["torgiano"], 3: ids["town"], 4: ids["deruta"],
		5: ids["torgiano"], 6: ids["deruta"], 7: ids["torgiano"]}
	r, err := pool.Query(ctx, "SELECT weight, town FROM presence")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int16{}
	for r.Next() {
		var w int32
		var town int16
		if err := r.Scan(&w, &town); err != nil {
			t.Fatal(err)
		}
		got[w] = town
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("towns by weight %v, want %v", got, want)
	}
	// the rollup sums each town's records apart
	var weights [3]int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(weight) FILTER (WHERE town = $1), 0), coalesce(sum(weight) FILTER (WHERE town = $2), 0),
		coalesce(sum(weight) FILTER (WHERE town = 0), 0) FROM presence_rollup`, ids["deruta"], ids["torgiano"]).Scan(&weights[0], &weights[1], &weights[2]); err != nil {
		t.Fatal(err)
	}
	if weights != [3]int64{1 + 4 + 6, 2 + 5 + 7, 3} {
		t.Fatalf("rollup weights of deruta, torgiano, town: %v", weights)
	}
}
