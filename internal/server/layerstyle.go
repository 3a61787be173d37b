package server

// Per-layer styles for GIS software: /styles/{layer}.json for each tile
// layer. QGIS (3.22) applies a style's background to every layer it adds
// and skips interpolated colour scales and heatmaps, so these have no
// background, no heatmap and only step scales; their colours come from the
// one definition the pages and the other styles use (styles/classes.json,
// through the layers' "flowtiles:classes" metadata).

import (
	"encoding/json"

	"github.com/flowtiles/flowtiles/styles"
	"github.com/flowtiles/flowtiles/tiles"
)

// suppressedPaint draws withheld figures: grey, never a number.
var suppressedPaint = map[string]any{"fill-color": "#9e9e9e", "fill-opacity": 0.3, "fill-outline-color": "#757575"}

func withheld() []any    { return []any{"==", []any{"get", "suppressed"}, true} }
func notWithheld() []any { return []any{"!", []any{"has", "suppressed"}} }

// layerStyle returns the style template of one tile layer (with the
// styles.Placeholder base URL), or false for a name that is no layer.
func layerStyle(name string) ([]byte, bool) {
	spec, ok := tiles.Layer(name)
	if !ok {
		return nil, false
	}
	src := name
	var layers []any
	classed := func(id, class string, filter []any, paint map[string]any) map[string]any {
		return map[string]any{"id": id, "type": "fill", "source": src, "source-layer": name, "filter": filter,
			"paint": paint, "metadata": map[string]any{"flowtiles:classes": class}}
	}
	switch name {
	case tiles.LayerDensity:
		layers = append(layers,
			classed("density-bins", "density", notWithheld(), map[string]any{"fill-opacity": 0.7, "fill-outline-color": "#ffffff"}),
			map[string]any{"id": "density-suppressed", "type": "fill", "source": src, "source-layer": name, "filter": withheld(), "paint": suppressedPaint})
	case tiles.LayerOrigins:
		layers = append(layers,
			classed("origins-fill", "origins", notWithheld(), map[string]any{"fill-opacity": 0.75, "fill-outline-color": "#8c6d46"}),
			map[string]any{"id": "origins-suppressed", "type": "fill", "source": src, "source-layer": name, "filter": withheld(), "paint": suppressedPaint})
	case tiles.LayerFlows:
		layers = append(layers, map[string]any{"id": "flows-line", "type": "line", "source": src, "source-layer": name,
			"layout": map[string]any{"line-cap": "round"},
			"paint": map[string]any{"line-color": "#3f007d", "line-opacity": 0.6,
				"line-width": []any{"step", []any{"to-number", []any{"get", "count"}, 0}, 1, 100, 2, 1000, 4, 10000, 8}}})
	case tiles.LayerZones:
		layers = append(layers,
			classed("zones-fill", "density", notWithheld(), map[string]any{"fill-opacity": 0.35}),
			map[string]any{"id": "zones-suppressed", "type": "fill", "source": src, "source-layer": name, "filter": withheld(), "paint": suppressedPaint},
			map[string]any{"id": "zones-line", "type": "line", "source": src, "source-layer": name,
				"paint": map[string]any{"line-color": "#e7298a", "line-width": 2}})
	}
	doc := map[string]any{
		"version": 8,
		"name":    "flowtiles " + spec.Title,
		"metadata": map[string]any{
			"flowtiles:description": spec.Description + " For GIS software: no background, step colour scales (styles/classes.json); withheld figures grey.",
		},
		"sources": map[string]any{src: map[string]any{"type": "vector", "url": styles.Placeholder + "/tiles/" + name + ".json"}},
		"layers":  layers,
	}
	b, err := json.Marshal(doc)
	return b, err == nil
}
