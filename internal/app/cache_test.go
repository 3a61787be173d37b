package app

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --cache-mb=0 (NoTileCache): no tile is cached, but the aggregates are
// kept, so the second tile of a metatile is cut from what the first one
// computed, without a heavy slot; below zero neither is kept.
func TestNoTileCacheKeepsAggregates(t *testing.T) {
	for _, c := range []struct {
		name           string
		cfg            Config
		hits, admitted float64
	}{
		{"default", Config{}, 1, 1},
		{"no tile cache", Config{NoTileCache: true}, 0, 1},
		{"no cache", Config{CacheBytes: -1}, 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.DemoRecords, cfg.DemoStart, cfg.MetricsListen = 20000, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), MetricsOnMain
			_, srv := start(t, cfg)
			// two tiles of one 8×8 metatile over the centre, the first twice
			for _, path := range []string{"/tiles/density/16/35024/24080.mvt", "/tiles/density/16/35024/24080.mvt", "/tiles/density/16/35025/24081.mvt"} {
				if code, body := get(t, srv.URL+path+"?from=2025-02-01&to=2025-03-01"); code != 200 && code != 204 {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
			}
			_, body := get(t, srv.URL+"/metrics")
			m := metricValues(string(body))
			if m["flowtiles_tile_cache_hits_total"] != c.hits || m["flowtiles_heavy_admitted_total"] != c.admitted {
				t.Errorf("tile cache hits %v, heavy requests admitted %v; want %v and %v",
					m["flowtiles_tile_cache_hits_total"], m["flowtiles_heavy_admitted_total"], c.hits, c.admitted)
			}
		})
	}
}

// metricValues reads the unlabelled samples of a Prometheus text page.
func metricValues(page string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m
}
