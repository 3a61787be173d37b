package tiles_test

import (
	"testing"

	"github.com/paulmach/orb/encoding/mvt"

	"github.com/flowtiles/flowtiles/internal/refdata"
	"github.com/flowtiles/flowtiles/tiles"
)

// The reference context around Deruta: the municipality's boundary and
// name, its province and region, and nothing about people.
func TestContextTile(t *testing.T) {
	places, err := refdata.Places()
	if err != nil {
		t.Fatal(err)
	}
	refdata.NameProvinces(places)
	g := tiles.NewGazetteer(places)
	deruta := tiles.TileAt(12, tiles.Project(12.4177, 42.9826))
	b, err := g.ContextTile(deruta)
	if err != nil || len(b) == 0 {
		t.Fatalf("tile %v: %d bytes, %v", deruta, len(b), err)
	}
	layers, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, l := range layers {
		for _, f := range l.Features {
			for k := range f.Properties {
				switch k {
				case "level", "code", "name", "population":
				default:
					t.Errorf("%s: unexpected property %q", l.Name, k)
				}
			}
			found[l.Name+":"+f.Properties.MustString("level", "")+":"+f.Properties.MustString("name", "")] = true
		}
	}
	for _, want := range []string{"boundaries:municipality:Deruta", "labels:municipality:Deruta", "boundaries:province:Perugia", "boundaries:region:Umbria"} {
		if !found[want] {
			t.Errorf("no %s in %v", want, deruta)
		}
	}
	again, _ := g.ContextTile(deruta)
	if string(again) != string(b) {
		t.Error("the same tile twice gave different bytes")
	}
	// Zoomed out: regions, no municipalities.
	b, _ = g.ContextTile(tiles.TileAt(5, tiles.Project(12.4177, 42.9826)))
	layers, _ = mvt.Unmarshal(b)
	for _, l := range layers {
		for _, f := range l.Features {
			if f.Properties.MustString("level", "") == "municipality" {
				t.Fatalf("a municipality at zoom 5: %v", f.Properties)
			}
		}
	}
	// The open sea: nothing.
	if b, _ := g.ContextTile(tiles.TileAt(12, tiles.Project(-30, 40))); b != nil {
		t.Errorf("a tile in the Atlantic has %d bytes", len(b))
	}
}
