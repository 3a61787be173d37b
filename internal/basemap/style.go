package basemap

import (
	"slices"

	"github.com/flowtiles/flowtiles/styles"
)

// Schema names the tile schema of an archive: "protomaps" when its layers
// are those of the Protomaps basemap (earth, water, roads, places...), ""
// for any other, which gets a plain style made from its vector_layers.
func (m Metadata) Schema() string {
	ids := map[string]bool{}
	for _, l := range m.VectorLayers {
		ids[l.ID] = true
	}
	if ids["earth"] && ids["water"] && ids["roads"] {
		return "protomaps"
	}
	return ""
}

// Style returns the MapLibre style matching the archive's tiles: its source
// "basemap" at base+"/tiles/basemap.json", glyphs from base+"/fonts/", and
// labels in lang ("it" or "en"). Muted colours: the data is drawn on top.
func Style(m Metadata, base, lang string) (map[string]any, error) {
	doc := map[string]any{
		"version": 8,
		"name":    "flowtiles basemap",
		"metadata": map[string]any{
			"flowtiles:basemap": "archive", "flowtiles:schema": m.Schema(),
		},
		"center":  []float64{m.Center[0], m.Center[1]},
		"zoom":    m.Center[2],
		"glyphs":  base + "/fonts/{fontstack}/{range}.pbf",
		"sources": map[string]any{"basemap": map[string]any{"type": "vector", "url": base + "/tiles/basemap.json"}},
	}
	if m.Schema() == "protomaps" {
		layers, err := styles.ProtomapsLayers(lang)
		if err != nil {
			return nil, err
		}
		// The embedded layers are for the Protomaps schema as published;
		// an archive may lack some layers: leave out what it cannot feed.
		have := map[string]bool{}
		for _, l := range m.VectorLayers {
			have[l.ID] = true
		}
		layers = slices.DeleteFunc(layers, func(l map[string]any) bool {
			sl, ok := l["source-layer"].(string)
			return ok && !have[sl]
		})
		doc["layers"] = layers
		return doc, nil
	}
	doc["layers"] = genericLayers(m, lang)
	return doc, nil
}

// genericLayers draws any vector tiles: polygons filled, lines stroked,
// points as dots, and a name where the layer has one.
func genericLayers(m Metadata, lang string) []map[string]any {
	layers := []map[string]any{{"id": "basemap-background", "type": "background", "paint": map[string]any{"background-color": "#f3f1ec"}}}
	geom := func(t string) []any { return []any{"==", []any{"geometry-type"}, t} }
	for _, l := range m.VectorLayers {
		id := "basemap-" + l.ID
		layers = append(layers,
			map[string]any{"id": id + "-fill", "type": "fill", "source": "basemap", "source-layer": l.ID, "filter": geom("Polygon"),
				"paint": map[string]any{"fill-color": "#e6e1d6", "fill-outline-color": "#b9b2a6"}},
			map[string]any{"id": id + "-line", "type": "line", "source": "basemap", "source-layer": l.ID, "filter": geom("LineString"),
				"paint": map[string]any{"line-color": "#a39c90", "line-width": 1}},
			map[string]any{"id": id + "-point", "type": "circle", "source": "basemap", "source-layer": l.ID, "filter": geom("Point"),
				"paint": map[string]any{"circle-color": "#8f8676", "circle-radius": 2}},
		)
		if _, ok := l.Fields["name"]; ok {
			name := []any{"get", "name"}
			if _, ok := l.Fields["name:"+lang]; ok {
				name = []any{"coalesce", []any{"get", "name:" + lang}, name}
			}
			layers = append(layers, map[string]any{"id": id + "-label", "type": "symbol", "source": "basemap", "source-layer": l.ID,
				"layout": map[string]any{"text-field": name, "text-font": []string{styles.GlyphFonts[0]}, "text-size": 12},
				"paint":  map[string]any{"text-color": "#4a4336", "text-halo-color": "#f3f1ec", "text-halo-width": 1.5}})
		}
	}
	return layers
}
