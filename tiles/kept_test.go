package tiles_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// gatedSource counts the queries it answers and, when gate is set,
// holds each until gate is closed, telling asked.
type gatedSource struct {
	*memstore.Store
	calls atomic.Int64
	gate  chan struct{}
	asked chan struct{}
}

func (s *gatedSource) Aggregate(ctx context.Context, q tiles.Query, fn func(tiles.Group) error) error {
	s.calls.Add(1)
	if s.gate != nil {
		s.asked <- struct{}{}
		<-s.gate
	}
	return s.Store.Aggregate(ctx, q, fn)
}

// AggregateMany is Aggregate for several groupings: one query.
func (s *gatedSource) AggregateMany(ctx context.Context, q tiles.Query, by [][]tiles.Dim, fn func(int, tiles.Group) error) error {
	s.calls.Add(1)
	if s.gate != nil {
		s.asked <- struct{}{}
		<-s.gate
	}
	return s.Store.AggregateMany(ctx, q, by, fn)
}

func keptEngine(t *testing.T, recs []presence.Record) (*tiles.Engine, *gatedSource) {
	t.Helper()
	zones := sourcetest.Zones()
	store := memstore.New(refdata.Italy())
	if err := store.Add(recs, tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	src := &gatedSource{Store: store}
	return tiles.NewEngine(src, tiles.NewGazetteer(testPlaces()), tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}), src
}

// Under KeptOnly an engine answers from the aggregates it keeps, byte for
// byte as it would compute them, and asks its source nothing: it returns
// ErrNotKept where it would have to.
func TestKeptOnly(t *testing.T) {
	recs := sourcetest.Records(sourcetest.Seed(t), 3000)
	e, src := keptEngine(t, recs)
	ref, _ := keptEngine(t, recs) // renders each tile by itself
	ctx := context.Background()
	for layer, z := range map[string]uint8{tiles.LayerDensity: 14, tiles.LayerOrigins: 6, tiles.LayerFlows: 9, tiles.LayerZones: 14} {
		// a filter of its own (one hour left out): a layer's aggregates
		// computed would be another's kept (a view's whole-area
		// groupings are one pass)
		f := tiles.Filter{Hours: (1<<24 - 1) &^ (1 << len(layer) << z)}
		at := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
		next := tiles.TileID{Z: at.Z, X: at.X ^ 1, Y: at.Y} // in the same metatile
		req := func(id tiles.TileID) tiles.Request { return tiles.Request{Layer: layer, Tile: id, Filter: f} }
		before := src.calls.Load()
		if _, err := e.Tile(tiles.KeptOnly(ctx), req(at)); !errors.Is(err, tiles.ErrNotKept) {
			t.Fatalf("%s: a tile of aggregates not computed: %v, want ErrNotKept", layer, err)
		}
		if n := src.calls.Load(); n != before {
			t.Fatalf("%s: KeptOnly asked the source %d times", layer, n-before)
		}
		if _, err := e.Tile(ctx, req(at)); err != nil {
			t.Fatal(err)
		}
		computed := src.calls.Load()
		for _, id := range []tiles.TileID{at, next} {
			got, err := e.Tile(tiles.KeptOnly(ctx), req(id))
			if err != nil {
				t.Fatalf("%s %v from kept aggregates: %v", layer, id, err)
			}
			want, err := ref.Tile(ctx, req(id))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || id == at && len(want) == 0 {
				t.Fatalf("%s %v from kept aggregates: %d bytes, alone %d", layer, id, len(got), len(want))
			}
		}
		if n := src.calls.Load(); n != computed {
			t.Fatalf("%s: tiles from kept aggregates asked the source %d times", layer, n-computed)
		}
	}
}

// Under KeptOnly an engine waits for an aggregate another caller is
// computing, rather than answer ErrNotKept or compute it again.
func TestKeptOnlyJoinsComputation(t *testing.T) {
	e, src := keptEngine(t, sourcetest.Records(sourcetest.Seed(t), 3000))
	src.gate, src.asked = make(chan struct{}), make(chan struct{}, 16)
	ctx := context.Background()
	req := tiles.Request{Layer: tiles.LayerZones, Tile: tiles.TileAt(14, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))}
	type result struct {
		b   []byte
		err error
	}
	first, joined := make(chan result, 1), make(chan result, 1)
	go func() {
		b, err := e.Tile(ctx, req)
		first <- result{b, err}
	}()
	<-src.asked // the first caller's aggregate is being computed
	go func() {
		b, err := e.Tile(tiles.KeptOnly(ctx), req)
		joined <- result{b, err}
	}()
	for tiles.AggregateCallers(e) < 2 { // until the second waits for it too
		select {
		case r := <-joined:
			t.Fatalf("under KeptOnly, before the computation ended: %d bytes, %v", len(r.b), r.err)
		case <-time.After(time.Millisecond):
		}
	}
	close(src.gate)
	a, b := <-first, <-joined
	if a.err != nil || b.err != nil || !bytes.Equal(a.b, b.b) || len(a.b) == 0 {
		t.Fatalf("computing: %d bytes, %v; joined under KeptOnly: %d bytes, %v", len(a.b), a.err, len(b.b), b.err)
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("the source was asked %d times, want once", n)
	}
}
