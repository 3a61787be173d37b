package server

import (
	"context"
	"testing"
	"time"

	"github.com/flowtiles/flowtiles/internal/admit"
	"github.com/flowtiles/flowtiles/tiles"
)

// A tile cut from the aggregates the engine keeps is light work: it is
// served while every slot of the heavy pool is taken, where a tile that
// needs a new aggregate waits for a slot (and past the queue's wait gets
// 503). Every tile of a view after its filter's few aggregates is such a
// cut.
func TestKeptTilesNeedNoSlot(t *testing.T) {
	heavy := admit.New(admit.Config{Slots: 1, QueueWait: 50 * time.Millisecond})
	env := newTileEnv(t, func(c *Config) { c.Heavy = heavy })
	const filter = "age=35-44"
	layers := []string{tiles.LayerDensity, tiles.LayerOrigins, tiles.LayerFlows, tiles.LayerZones}
	for _, layer := range layers {
		if res, body := env.get(t, tileURL(layer, centreTile, filter)); res.StatusCode/100 != 2 {
			t.Fatalf("%s: %d %s", layer, res.StatusCode, body)
		}
	}
	release, err := heavy.Acquire(context.Background(), "192.0.2.1") // another client's long scan
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	next := tiles.TileID{Z: centreTile.Z, X: centreTile.X ^ 1, Y: centreTile.Y} // not cached, same metatile
	for _, layer := range layers {
		if res, body := env.get(t, tileURL(layer, next, filter)); res.StatusCode/100 != 2 {
			t.Fatalf("%s from kept aggregates, the heavy pool full: %d %s", layer, res.StatusCode, body)
		}
	}
	res, body := env.get(t, tileURL(tiles.LayerDensity, next, "age=18-24"))
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a tile of a new filter, the heavy pool full: %d %s, want 503 with Retry-After", res.StatusCode, body)
	}
}
