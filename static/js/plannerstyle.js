// The planner's data layers, built here rather than fetched from
// /styles/planner.json so that filters, the comparison period, the layer
// toggles and the difference map are plain source and paint updates. They
// are drawn on top of the basemap (basemap.js). Layers start hidden unless
// the state shows them: MapLibre fetches tiles only for sources with a
// visible layer.
import { DENSITY, ORIGINS, DIFF, DIFF_ABS, step } from './scales.js';
import { at } from './base.js';

export const HATCH = 'flowtiles-hatch';

// tileURL is the absolute XYZ template of a layer with a filter query.
export function tileURL(layer, query) {
  const base = `${location.origin}${at(`/tiles/${layer}/{z}/{x}/{y}.mvt`)}`;
  return [query ? `${base}?${query}` : base];
}

// TOGGLE maps each data layer to the toggle that shows it.
export const TOGGLE = {
  'origins-fill': 'origins', 'origins-suppressed': 'origins', 'origins-line': 'origins',
  'density-heat': 'density', 'density-bins': 'density', 'density-suppressed': 'density', 'density-cmp': 'density', 'density-withheld': 'density',
  'flows-line': 'flows',
  'zones-fill': 'zones', 'zones-line': 'zones', 'zones-label': 'zones',
  'origins-selected': 'origins', 'density-selected': 'density', 'zones-selected': 'zones',
};

// COMPARE_ONLY are the layers shown only in the comparison view.
export const COMPARE_ONLY = new Set(['density-cmp', 'density-withheld']);

// visible reports whether a data layer is shown in a state.
export function visible(id, layers, comparing) {
  const on = layers.includes(TOGGLE[id]);
  return COMPARE_ONLY.has(id) ? on && comparing : on;
}

// diffColor is the fill colour of a bin in the comparison view, from the
// feature state chg set by the difference computation.
export function diffColor(absolute) {
  return ['case', ['==', ['typeof', ['feature-state', 'chg']], 'number'],
    step(absolute ? DIFF_ABS : DIFF, ['to-number', ['feature-state', 'chg']]),
    'rgba(0,0,0,0)'];
}

export const densityColor = step(DENSITY, ['to-number', ['get', DENSITY.property], 0]);

// zoneLabels is the GeoJSON of the zones' label points with their names in
// the page's language.
export function zoneLabels(zones) {
  return {
    type: 'FeatureCollection',
    features: zones.filter((z) => z.point).map((z, i) => ({
      type: 'Feature', id: i, properties: { code: z.code, name: z.name, main: i === 0 },
      geometry: { type: 'Point', coordinates: z.point },
    })),
  };
}

// plannerStyle returns the data style for the given tile queries (main
// period and comparison period; cmpQuery null when not comparing), with the
// layers of state.layers visible. attribution is the server's (TileJSON):
// ISTAT and Natural Earth boundaries are CC BY and must be credited.
export function plannerStyle({ query, densityQuery, cmpQuery, center, zoom, attribution, layers, zones, font }) {
  const vector = (layer, q, maxzoom, minzoom = 0) => ({
    type: 'vector', tiles: tileURL(layer, q), minzoom, maxzoom,
    attribution: attribution || 'flowtiles',
  });
  const cmp = cmpQuery !== null && cmpQuery !== undefined;
  const out = {
    version: 8,
    name: 'flowtiles planner',
    center, zoom,
    sources: {
      origins: vector('origins', query, 14),
      flows: vector('flows', query, 16),
      density: vector('density', densityQuery, 20),
      density_cmp: vector('density', cmp ? cmpQuery : densityQuery, 20),
      zones: vector('zones', query, 20, 10),
      zone_labels: { type: 'geojson', data: zoneLabels(zones ?? []) },
    },
    layers: [
      {
        id: 'origins-fill', type: 'fill', source: 'origins', 'source-layer': 'origins',
        filter: ['!=', ['get', 'suppressed'], true],
        paint: {
          'fill-color': step(ORIGINS, ['to-number', ['get', ORIGINS.property], 0]),
          'fill-opacity': 0.8,
        },
      },
      {
        id: 'origins-suppressed', type: 'fill', source: 'origins', 'source-layer': 'origins',
        filter: ['==', ['get', 'suppressed'], true],
        paint: { 'fill-pattern': HATCH, 'fill-opacity': 0.6 },
      },
      {
        id: 'origins-line', type: 'line', source: 'origins', 'source-layer': 'origins',
        paint: { 'line-color': '#8c6d46', 'line-width': 0.6, 'line-opacity': 0.6 },
      },
      {
        id: 'density-heat', type: 'heatmap', source: 'density', 'source-layer': 'density_points',
        maxzoom: 13.5,
        paint: {
          'heatmap-weight': ['interpolate', ['linear'], ['to-number', ['get', 'count'], 0], 0, 0, 20000, 1],
          'heatmap-intensity': ['interpolate', ['linear'], ['zoom'], 8, 1.5, 13, 3],
          'heatmap-radius': ['interpolate', ['linear'], ['zoom'], 8, 12, 13, 40],
          'heatmap-opacity': cmp ? 0 : ['interpolate', ['linear'], ['zoom'], 12.5, 0.85, 13.5, 0],
          'heatmap-color': ['interpolate', ['linear'], ['heatmap-density'],
            0, 'rgba(127,205,187,0)', 0.2, DENSITY.colors[0], 0.4, DENSITY.colors[1], 0.6, DENSITY.colors[2], 0.8, DENSITY.colors[3], 1, DENSITY.colors[5]],
        },
      },
      {
        id: 'density-cmp', type: 'fill', source: 'density_cmp', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['!=', ['get', 'suppressed'], true],
        paint: { 'fill-color': cmp ? diffColor(false) : 'rgba(0,0,0,0)', 'fill-opacity': 0.85 },
      },
      {
        id: 'density-bins', type: 'fill', source: 'density', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['!=', ['get', 'suppressed'], true],
        paint: {
          'fill-color': cmp ? diffColor(false) : densityColor,
          'fill-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0, 13.5, 0.88],
          'fill-outline-color': 'rgba(40,40,40,0.55)',
        },
      },
      {
        // Bins published in this period but withheld in the other one.
        id: 'density-withheld', type: 'fill', source: 'density', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['!=', ['get', 'suppressed'], true],
        paint: { 'fill-pattern': HATCH, 'fill-opacity': ['case', ['==', ['feature-state', 'chg'], 'withheld'], 0.9, 0] },
      },
      {
        id: 'density-suppressed', type: 'fill', source: 'density', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['==', ['get', 'suppressed'], true],
        paint: { 'fill-pattern': HATCH, 'fill-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0, 13.5, 0.9] },
      },
      {
        id: 'flows-line', type: 'line', source: 'flows', 'source-layer': 'flows',
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: {
          'line-color': '#54278f',
          'line-opacity': 0.45,
          'line-width': ['interpolate', ['linear'], ['to-number', ['get', 'count'], 0], 0, 0.5, 1000, 1.5, 10000, 4, 100000, 8],
        },
      },
      // The selection of the side panel (filters set by the app).
      {
        id: 'origins-selected', type: 'line', source: 'origins', 'source-layer': 'origins',
        filter: ['==', ['get', 'code'], ''],
        paint: { 'line-color': '#111', 'line-width': 2.5 },
      },
      {
        id: 'density-selected', type: 'line', source: 'density', 'source-layer': 'density',
        filter: ['==', ['id'], -1],
        paint: { 'line-color': '#111', 'line-width': 3 },
      },
      {
        id: 'zones-fill', type: 'fill', source: 'zones', 'source-layer': 'zones',
        paint: { 'fill-color': '#e7298a', 'fill-opacity': 0.04 },
      },
      {
        id: 'zones-line', type: 'line', source: 'zones', 'source-layer': 'zones',
        paint: { 'line-color': '#b0166e', 'line-width': 2, 'line-dasharray': [2, 1] },
      },
      {
        id: 'zones-selected', type: 'line', source: 'zones', 'source-layer': 'zones',
        filter: ['==', ['get', 'name'], ''],
        paint: { 'line-color': '#111', 'line-width': 3.5 },
      },
      {
        id: 'zones-label', type: 'symbol', source: 'zone_labels',
        minzoom: 13,
        layout: {
          'text-field': ['get', 'name'], 'text-font': font,
          'text-size': ['case', ['get', 'main'], 15, 12.5],
          'text-max-width': 9,
          'symbol-sort-key': ['case', ['get', 'main'], 0, 1],
        },
        paint: { 'text-color': '#7a0f4c', 'text-halo-color': '#ffffff', 'text-halo-width': 1.6 },
      },
    ],
  };
  for (const l of out.layers) l.layout = { ...(l.layout ?? {}), visibility: visible(l.id, layers, cmp) ? 'visible' : 'none' };
  return out;
}
