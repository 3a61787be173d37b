package styles

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
)

// assets are the basemap's glyphs and the Protomaps layers, made from npm
// packages by static/scripts/basemap-assets.mjs (npm run basemap-assets)
// and committed, so that the binary serves labelled maps with no
// third-party host:
//
//   - glyphs/{font}/{range}.pbf: SDF glyph ranges of Noto Sans (SIL OFL 1.1,
//     glyphs/OFL.txt) for the fonts in GlyphFonts;
//   - protomaps/light-{lang}.json: the layers of the Protomaps basemap style
//     (@protomaps/basemaps, BSD-3-Clause) for archives of its schema, with
//     source "basemap" and no icons.
//
//go:embed glyphs protomaps
var assets embed.FS

// GlyphFonts are the fonts whose glyphs are embedded, the first the default.
var GlyphFonts = []string{"Noto Sans Regular", "Noto Sans Medium", "Noto Sans Italic"}

// Glyphs returns the glyph range ("0-255") of the first font of fontstack
// (a comma-separated list) that is embedded; ok is false when the range is
// not embedded for it (a client then gets an empty range: no characters,
// no error). font is the font that answered.
func Glyphs(fontstack, rng string) (b []byte, font string, ok bool) {
	for _, f := range strings.Split(fontstack, ",") {
		f = strings.TrimSpace(f)
		for _, g := range GlyphFonts {
			if f != g {
				continue
			}
			b, err := fs.ReadFile(assets, "glyphs/"+g+"/"+rng+".pbf")
			return b, g, err == nil
		}
	}
	return nil, GlyphFonts[0], false
}

// ProtomapsLayers returns the Protomaps basemap layers with labels in lang
// ("it" or "en"; others get Italian).
func ProtomapsLayers(lang string) ([]map[string]any, error) {
	if lang != "en" {
		lang = "it"
	}
	raw, err := fs.ReadFile(assets, "protomaps/light-"+lang+".json")
	if err != nil {
		return nil, err
	}
	var layers []map[string]any
	if err := json.Unmarshal(raw, &layers); err != nil {
		return nil, fmt.Errorf("protomaps/light-%s.json: %w", lang, err)
	}
	return layers, nil
}
