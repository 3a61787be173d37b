// The basemap under the data: /styles/basemap.json is the style of the
// configured basemap (a redirect to --basemap-url, the style of a --basemap
// archive, or flowtiles' own reference context). The pages draw their data
// layers on top of its layers.
import { at } from './base.js';

// OWN_GLYPHS are the glyphs served by flowtiles itself.
export const OWN_GLYPHS = `${location.origin}/fonts/{fontstack}/{range}.pbf`;
export const OWN_FONT = ['Noto Sans Regular'];

// loadBasemap fetches the basemap style; on failure a plain background
// with flowtiles' glyphs (the data is still drawn).
export async function loadBasemap(lang, background) {
  try {
    const r = await fetch(at(`/styles/basemap.json?lang=${encodeURIComponent(lang)}`));
    if (!r.ok) throw new Error(String(r.status));
    const style = await r.json();
    if (!Array.isArray(style.layers) || typeof style.sources !== 'object') throw new Error('not a style');
    return style;
  } catch {
    return { version: 8, glyphs: OWN_GLYPHS, sources: {}, layers: [{ id: 'basemap-background', type: 'background', paint: { 'background-color': background } }] };
  }
}

// labelFont is the font the pages' own labels use: one the basemap's
// glyphs have (the first text-font of its symbol layers) when the basemap
// brings its own glyphs, else flowtiles' font.
export function labelFont(base) {
  if (!base.glyphs || base.glyphs === OWN_GLYPHS) return OWN_FONT;
  for (const l of base.layers ?? []) {
    const f = l.layout?.['text-font'];
    if (Array.isArray(f) && f.every((x) => typeof x === 'string')) return f;
  }
  return OWN_FONT;
}

// mergeStyle puts the data style's sources and layers on top of the base
// style. Ids of the data style win; the base keeps its glyphs and sprite.
export function mergeStyle(base, data) {
  const layers = (base.layers ?? []).filter((l) => !data.layers.some((d) => d.id === l.id));
  return {
    ...data,
    glyphs: base.glyphs ?? OWN_GLYPHS,
    ...(base.sprite ? { sprite: base.sprite } : {}),
    sources: { ...(base.sources ?? {}), ...data.sources },
    layers: [...layers, ...data.layers.filter((l) => l.type !== 'background')],
    metadata: { ...(data.metadata ?? {}), 'flowtiles:basemap-layers': layers.length },
  };
}
