package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/internal/towns"
	"github.com/flowtiles/flowtiles/tiles"
)

// The memory sink places records in the towns it is given, and a batch of
// a town's token (BatchID.Town) is stored only when all its records lie in
// that town: otherwise a *presence.TownError lists those that do not (the
// first presence.MaxListedErrors, all counted), and nothing is stored.
// (The HTTP tests run both sinks: internal/server/ingest_towns_test.go.)
func TestMemorySinkTowns(t *testing.T) {
	var ts []tiles.Town
	for i, c := range [][2]string{{"deruta", "054017"}, {"torgiano", "054053"}} {
		shape, ok, err := towns.EmbeddedMunicipality(c[1])
		if err != nil || !ok {
			t.Fatal(c, ok, err)
		}
		ts = append(ts, tiles.Town{ID: int16(i), Code: c[0], Name: c[0], Perimeter: shape})
	}
	s := memstore.New(refdata.Italy())
	sink := NewMemorySink(s, sourcetest.Zones(), ts)
	ctx := context.Background()
	when := time.Date(2025, 5, 1, 9, 30, 0, 0, sourcetest.Rome)
	rec := func(lon, lat float64) presence.Record {
		return presence.Record{ObservedAt: when, Lon: lon, Lat: lat, Weight: 1}
	}
	deruta, torgiano, perugia := rec(12.4177, 42.9826), rec(12.4345, 43.0257), rec(12.3883, 43.1122)

	recs := []presence.Record{deruta, torgiano, deruta, perugia}
	_, err := sink.Store(ctx, presence.BatchID{Checksum: "mixed", Town: "deruta"}, recs)
	var te *presence.TownError
	if !errors.As(err, &te) || te.Count != 2 || fmt.Sprint(te.Rows) != "[record 2: in town torgiano record 4: outside every town]" || te.Missing {
		t.Fatalf("%v %+v", err, te)
	}
	many := make([]presence.Record, 250)
	for i := range many {
		many[i] = torgiano
	}
	if _, err := sink.Store(ctx, presence.BatchID{Checksum: "many", Town: "deruta"}, many); !errors.As(err, &te) ||
		te.Count != 250 || len(te.Rows) != presence.MaxListedErrors {
		t.Fatalf("%v", err)
	}
	if _, err := sink.Store(ctx, presence.BatchID{Checksum: "gone", Town: "spello"}, recs[:1]); !errors.As(err, &te) ||
		!te.Missing || te.Error() != "the token's town spello is not a town of this server: nothing stored" {
		t.Fatalf("a town the sink does not have: %v", err)
	}
	if n := s.Stats().Rows; n != 0 {
		t.Fatalf("%d rows stored by refused batches", n)
	}
	// its own town's records, and any town's for a token of every town
	if _, err := sink.Store(ctx, presence.BatchID{Checksum: "own", Town: "torgiano"}, []presence.Record{torgiano}); err != nil {
		t.Fatal(err)
	}
	both := []presence.Record{deruta, torgiano}
	if _, err := sink.Store(ctx, presence.BatchID{Checksum: "any"}, both); err != nil {
		t.Fatal(err)
	}
	if both[0].Town != 0 || both[1].Town != 1 {
		t.Errorf("towns %d %d, want 0 1", both[0].Town, both[1].Town)
	}
	// a token of every town: a record outside every town is invalid
	var re *presence.RecordError
	if _, err := sink.Store(ctx, presence.BatchID{Checksum: "outside"}, []presence.Record{deruta, perugia}); !errors.As(err, &re) || re.Index != 1 {
		t.Fatalf("%v", err)
	}
	if n := s.Stats().Rows; n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	// without towns a town's token writes nothing
	if _, err := NewMemorySink(s, nil, nil).Store(ctx, presence.BatchID{Checksum: "none", Town: "deruta"}, both); !errors.As(err, &te) || !te.Missing {
		t.Fatalf("no towns: %v", err)
	}
}
