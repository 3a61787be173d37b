package tiles_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"golang.org/x/sync/errgroup"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/presence"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// The flow cap is on the strongest flows of the filter, not per tile: a
// drawn line is in every tile it crosses, so it never stops at a tile edge
// because the next tile had stronger flows of its own.
func TestFlowsAreWholeAcrossTiles(t *testing.T) {
	// people from seven municipalities, 20 to 80 each, all in the centre
	var recs []presence.Record
	for i, code := range []string{"054017", "054039", "054052", "054001", "058091", "001272", "054053"} {
		for v := range 20 + 10*i {
			recs = append(recs, presence.Record{
				ObservedAt: sourcetest.Start.Add(1e9 * 60 * 60 * 12), Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1],
				Weight: 1, Visitor: presence.VisitorHash(fmt.Sprintf("%s-%d", code, v)), Origin: code, Nationality: tiles.Italy,
			})
		}
	}
	const maxFlows = 3
	e := newEngineWith(t, recs, nil, tiles.Config{Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome, Town: sourcetest.Centre, MaxFlows: maxFlows})

	const z = 9 // municipalities
	var lo, hi tiles.TileID
	lo = tiles.TileAt(z, tiles.Project(7.0, 46.0)) // north-west of Turin (001272)
	hi = tiles.TileAt(z, tiles.Project(13.5, 41.5))
	drawn := map[string]map[tiles.TileID]bool{} // origin → tiles drawing it
	lines := map[string][2]orb.Point{}
	for x := lo.X; x <= hi.X; x++ {
		for y := lo.Y; y <= hi.Y; y++ {
			id := tiles.TileID{Z: z, X: x, Y: y}
			bt, err := e.Tile(context.Background(), tiles.Request{Layer: tiles.LayerFlows, Tile: id, Filter: tiles.Filter{}})
			if err != nil {
				t.Fatal(err)
			}
			l := decode(t, bt)[tiles.LayerFlows]
			if l == nil {
				continue
			}
			if len(l.Features) > maxFlows {
				t.Errorf("%v: %d flows, cap %d", id, len(l.Features), maxFlows)
			}
			for _, f := range l.Features {
				o := f.Properties["origin"].(string)
				if drawn[o] == nil {
					drawn[o] = map[tiles.TileID]bool{}
				}
				drawn[o][id] = true
			}
		}
	}
	// the three strongest: the last three codes (80, 70, 60 people)
	if len(drawn) != maxFlows || drawn["001272"] == nil || drawn["054053"] == nil || drawn["058091"] == nil {
		t.Fatalf("flows drawn: %v", keys(drawn))
	}
	for _, p := range testPlaces() {
		if p.Level == tiles.LevelMunicipality && drawn[p.Code] != nil {
			lines[p.Code] = [2]orb.Point{p.Point, sourcetest.Centre}
		}
	}
	for code, ln := range lines {
		// every tile the line passes through (sampled finely) draws it
		for i := 1; i < 1000; i++ {
			f := float64(i) / 1000
			w := tiles.Project(ln[0][0]+(ln[1][0]-ln[0][0])*f, ln[0][1]+(ln[1][1]-ln[0][1])*f)
			id := tiles.TileAt(z, w)
			if !drawn[code][id] {
				t.Fatalf("flow from %s passes through %v but that tile does not draw it", code, id)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The flow list of a filter is computed once for all the flows tiles of a
// view, at once or one after the other, and again when the filter or the
// data change.
func TestFlowListOncePerFilter(t *testing.T) {
	people := func(code string, n int, at time.Duration) []presence.Record {
		var recs []presence.Record
		for v := range n {
			recs = append(recs, presence.Record{
				ObservedAt: sourcetest.Start.Add(at), Lon: sourcetest.Centre[0], Lat: sourcetest.Centre[1],
				Weight: 1, Visitor: presence.VisitorHash(fmt.Sprintf("%s-%d-%v", code, v, at)), Origin: code, Nationality: tiles.Italy,
			})
		}
		return recs
	}
	s := memstore.New(refdata.Italy())
	if err := s.Add(append(people("054039", 40, time.Hour), people("058091", 30, time.Hour)...), tiles.NewZoneIndex(nil)); err != nil {
		t.Fatal(err)
	}
	e := tiles.NewEngine(s, tiles.NewGazetteer(testPlaces()), tiles.Config{Privacy: tiles.UnperturbedForTests(15), Loc: sourcetest.Rome, Town: sourcetest.Centre, MaxFlows: 1})
	const z = 9
	c := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
	view := func(f tiles.Filter) map[string]bool { // 6×4 tiles, six at a time
		var mu sync.Mutex
		origins := map[string]bool{}
		var g errgroup.Group
		g.SetLimit(6)
		for dx := range uint32(6) {
			for dy := range uint32(4) {
				g.Go(func() error {
					bt, err := e.Tile(context.Background(), tiles.Request{Layer: tiles.LayerFlows, Tile: tiles.TileID{Z: z, X: c.X - 3 + dx, Y: c.Y - 2 + dy}, Filter: f})
					if err != nil {
						return err
					}
					if l := decode(t, bt)[tiles.LayerFlows]; l != nil {
						mu.Lock()
						for _, f := range l.Features {
							origins[f.Properties["origin"].(string)] = true
						}
						mu.Unlock()
					}
					return nil
				})
			}
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		return origins
	}
	check := func(step string, f tiles.Filter, runs int64, strongest string) {
		t.Helper()
		if o := view(f); len(o) != 1 || !o[strongest] {
			t.Fatalf("%s: flows from %v, want %s alone", step, o, strongest)
		}
		if n := tiles.FlowListsComputed(e); n != runs {
			t.Fatalf("%s: %d flow lists computed, want %d", step, n, runs)
		}
	}
	all := tiles.Filter{}
	check("first view", all, 1, "054039")
	check("the same view again", all, 1, "054039")
	late := tiles.Filter{From: sourcetest.Start.Add(30 * time.Minute)}
	check("another filter", late, 2, "054039")
	// new data: a stronger origin
	if err := s.Add(people("001272", 60, 2*time.Hour), tiles.NewZoneIndex(nil)); err != nil {
		t.Fatal(err)
	}
	check("after new data", all, 3, "001272")
}
