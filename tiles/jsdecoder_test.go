package tiles_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/paulmach/orb"
)

// jsDecoded is what static/test/decode-mvt.mjs prints for one tile.
type jsDecoded map[string]struct {
	Version  int `json:"version"`
	Extent   int `json:"extent"`
	Features []struct {
		ID         *float64       `json:"id"`
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
		Geometry   [][][2]float64 `json:"geometry"`
	} `json:"features"`
}

// The golden tiles decode with @mapbox/vector-tile (MapLibre's decoder) to
// exactly the features, ids, properties and coordinates the engine wrote.
func TestGoldenTilesDecodeInJavaScript(t *testing.T) {
	modules := filepath.Join("..", "static", "node_modules", "@mapbox", "vector-tile")
	if _, err := os.Stat(modules); err != nil {
		if os.Getenv("FLOWTILES_TEST_STRICT") == "1" {
			t.Fatalf("the JavaScript decoder is not installed (%v): run npm ci in static/", err)
		}
		t.Skip("static/node_modules missing: run scripts/test, which installs the JavaScript decoder")
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.mvt"))
	if len(files) == 0 {
		t.Fatal("no golden tiles")
	}
	out, err := exec.Command("node", append([]string{filepath.Join("..", "static", "test", "decode-mvt.mjs")}, files...)...).Output()
	if err != nil {
		t.Fatalf("node decoder: %v", err)
	}
	var all map[string]jsDecoded
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		b, _ := os.ReadFile(file)
		want := decode(t, b)
		got := all[file]
		if len(got) != len(want) {
			t.Errorf("%s: %d layers in JavaScript, %d in Go", file, len(got), len(want))
		}
		for name, wl := range want {
			gl, ok := got[name]
			if !ok || gl.Extent != 4096 || gl.Version != 2 || len(gl.Features) != len(wl.Features) {
				t.Errorf("%s %s: JavaScript sees %+v features/extent/version", file, name, len(gl.Features))
				continue
			}
			for i, wf := range wl.Features {
				gf := gl.Features[i]
				if wf.ID != nil && (gf.ID == nil || int64(*gf.ID) != num(wf.ID)) {
					t.Errorf("%s %s #%d: id %v, want %v", file, name, i, gf.ID, wf.ID)
				}
				for k, v := range wf.Properties {
					jv := gf.Properties[k]
					if _, isBool := v.(bool); isBool {
						if jv != v {
							t.Errorf("%s %s #%d: %s=%v, want %v", file, name, i, k, jv, v)
						}
						continue
					}
					if s, isStr := v.(string); isStr {
						if jv != s {
							t.Errorf("%s %s #%d: %s=%v, want %v", file, name, i, k, jv, v)
						}
						continue
					}
					if f, ok := jv.(float64); !ok || f != toFloat(v) {
						t.Errorf("%s %s #%d: %s=%v, want %v", file, name, i, k, jv, v)
					}
				}
				if len(gf.Properties) != len(wf.Properties) {
					t.Errorf("%s %s #%d: properties %v, want %v", file, name, i, gf.Properties, wf.Properties)
				}
				if !slices.EqualFunc(flatten(wf.Geometry), gf.Geometry, slices.Equal) {
					t.Errorf("%s %s #%d: geometry %v, want %v", file, name, i, gf.Geometry, wf.Geometry)
				}
			}
		}
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case uint64:
		return float64(n)
	}
	return -1
}

// flatten renders an orb geometry as the rings/lines/points lists of
// @mapbox/vector-tile's loadGeometry.
func flatten(g orb.Geometry) [][][2]float64 {
	pts := func(ps []orb.Point) [][2]float64 {
		out := make([][2]float64, len(ps))
		for i, p := range ps {
			out[i] = [2]float64{p[0], p[1]}
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return [][][2]float64{{{g[0], g[1]}}}
	case orb.MultiPoint:
		var out [][][2]float64
		for _, p := range g {
			out = append(out, [][2]float64{{p[0], p[1]}})
		}
		return out
	case orb.LineString:
		return [][][2]float64{pts(g)}
	case orb.MultiLineString:
		var out [][][2]float64
		for _, l := range g {
			out = append(out, pts(l))
		}
		return out
	case orb.Polygon:
		var out [][][2]float64
		for _, r := range g {
			out = append(out, pts(r))
		}
		return out
	case orb.MultiPolygon:
		var out [][][2]float64
		for _, p := range g {
			for _, r := range p {
				out = append(out, pts(r))
			}
		}
		return out
	}
	return nil
}
