package tiles_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// The towns of one server share one budget of aggregates (Aggregates):
// each town's engine still answers with its own records' figures for the
// same filter, keeps them for its next requests, and asks its source
// again when the budget keeps nothing (serve --cache-mb=-1).
func TestEnginesShareAggregates(t *testing.T) {
	ctx := context.Background()
	seed := sourcetest.Seed(t)
	zones := sourcetest.Zones()
	source := func(records int, s uint64) *countingSource {
		store := memstore.New(refdata.Italy())
		if err := store.Add(sourcetest.Records(s, records), tiles.NewZoneIndex(zones)); err != nil {
			t.Fatal(err)
		}
		return &countingSource{Store: store, asked: map[string]int{}}
	}
	srcA, srcB := source(3000, seed), source(1500, seed+1)
	cfg := func(a *tiles.Aggregates) tiles.Config {
		return tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre, Aggregates: a}
	}
	places := tiles.NewGazetteer(testPlaces())
	shared := tiles.NewAggregates(0)
	a, b := tiles.NewEngine(srcA, places, cfg(shared)), tiles.NewEngine(srcB, places, cfg(shared))
	req := tiles.Request{Layer: tiles.LayerOrigins, Tile: tiles.TileAt(6, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1])), Filter: parseFilter(t, "age=35-44")}
	tile := func(e *tiles.Engine) []byte {
		t.Helper()
		out, err := e.Tile(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ta, tb := tile(a), tile(b)
	// alone, each with its own cache
	wantA, wantB := tile(tiles.NewEngine(srcA, places, cfg(nil))), tile(tiles.NewEngine(srcB, places, cfg(nil)))
	if len(wantA) == 0 || !bytes.Equal(ta, wantA) || !bytes.Equal(tb, wantB) || bytes.Equal(wantA, wantB) {
		t.Fatalf("engines sharing aggregates drew %d and %d bytes, alone %d and %d", len(ta), len(tb), len(wantA), len(wantB))
	}
	before, _ := srcA.counts()
	if !bytes.Equal(tile(a), wantA) {
		t.Fatal("the second request differs")
	}
	if after, _ := srcA.counts(); after != before {
		t.Fatalf("the source was asked %d times again: the shared budget kept nothing", after-before)
	}
	none := tiles.NewEngine(srcA, places, cfg(tiles.NewAggregates(-1)))
	tile(none)
	before, _ = srcA.counts()
	tile(none)
	if after, _ := srcA.counts(); after == before {
		t.Fatal("a budget that keeps nothing kept an aggregate")
	}
}
