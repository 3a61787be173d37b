package tiles_test

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"testing"

	"github.com/flowtiles/flowtiles/internal/memstore"
	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/internal/sourcetest"
	"github.com/flowtiles/flowtiles/tiles"
)

// A town's gazetteer made from the reference areas' With its zones answers
// as one made of all the places: the same places, bounds, context tiles
// and zones tiles; yet it costs next to nothing, sharing the reference
// areas (a server of 25 towns made 25 copies of them: ~27 MiB a town).
func TestGazetteerWith(t *testing.T) {
	ref, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	refdata.NameProvinces(ref)
	zones := sourcetest.Zones()
	whole := tiles.NewGazetteer(append(slices.Clone(ref), zones...))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	base := tiles.NewGazetteer(slices.Clone(ref))
	runtime.ReadMemStats(&after)
	baseBytes := after.TotalAlloc - before.TotalAlloc
	runtime.ReadMemStats(&before)
	town := base.With(slices.Clone(zones))
	runtime.ReadMemStats(&after)
	if withBytes := after.TotalAlloc - before.TotalAlloc; withBytes*100 > baseBytes {
		t.Errorf("With(zones) allocated %d bytes, the reference areas %d: not shared", withBytes, baseBytes)
	}

	for _, l := range []tiles.Level{tiles.LevelZone, tiles.LevelMunicipality, tiles.LevelProvince, tiles.LevelRegion, tiles.LevelCountry} {
		want, got := whole.Places(l), town.Places(l)
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("level %v: %d places, want %d", l, len(got), len(want))
		}
		for i, p := range want {
			if got[i].Code != p.Code {
				t.Fatalf("level %v place %d: %s, want %s", l, i, got[i].Code, p.Code)
			}
			bp, ok := town.ByCode(l, p.Code)
			kp, ok2 := town.Place(l, p.Key)
			if !ok || !ok2 || bp.Code != p.Code || kp.Key != p.Key || town.Bounds(bp) != whole.Bounds(p) {
				t.Fatalf("level %v: %s looked up as %+v %+v", l, p.Code, bp, kp)
			}
		}
		wb, wok := whole.LevelBounds(l)
		gb, gok := town.LevelBounds(l)
		if wb != gb || wok != gok {
			t.Fatalf("level %v bounds %v %v, want %v %v", l, gb, gok, wb, wok)
		}
	}
	if _, ok := base.Place(tiles.LevelZone, zones[0].Key); ok {
		t.Fatal("the base gazetteer got the town's zones")
	}

	ctx := context.Background()
	store := memstore.New(refdata.Italy())
	if err := store.Add(sourcetest.Records(sourcetest.Seed(t), 3000), tiles.NewZoneIndex(zones)); err != nil {
		t.Fatal(err)
	}
	cfg := tiles.Config{Privacy: tiles.UnperturbedForTests(1), Loc: sourcetest.Rome, Town: sourcetest.Centre}
	we, te := tiles.NewEngine(store, whole, cfg), tiles.NewEngine(store, town, cfg)
	drawn := 0
	for z := uint8(6); z <= 16; z += 2 {
		tid := tiles.TileAt(z, tiles.Project(sourcetest.Centre[0], sourcetest.Centre[1]))
		wc, err1 := whole.ContextTile(tid)
		tc, err2 := town.ContextTile(tid)
		if err1 != nil || err2 != nil || !bytes.Equal(wc, tc) {
			t.Fatalf("context tile %v: %d bytes, want %d (%v %v)", tid, len(tc), len(wc), err1, err2)
		}
		for _, layer := range []string{tiles.LayerZones, tiles.LayerOrigins} {
			req := tiles.Request{Layer: layer, Tile: tid}
			wt, err1 := we.Tile(ctx, req)
			tt, err2 := te.Tile(ctx, req)
			if err1 != nil || err2 != nil || !bytes.Equal(wt, tt) {
				t.Fatalf("%s tile %v: %d bytes, want %d (%v %v)", layer, tid, len(tt), len(wt), err1, err2)
			}
			drawn += len(wt)
		}
	}
	if drawn == 0 {
		t.Fatal("no zones or origins drawn: the test compares nothing")
	}

	// zones of a level the base has: a gazetteer of its own, still right
	dup := base.With([]tiles.Place{*whole.Places(tiles.LevelRegion)[0]})
	if n := len(dup.Places(tiles.LevelRegion)); n != len(whole.Places(tiles.LevelRegion))+1 {
		t.Fatalf("a region added again: %d regions", n)
	}
}
