// The planner's MapLibre style, built here rather than fetched from
// /styles/planner.json so that filters, the comparison period, the layer
// toggles and the difference map are plain source and paint updates. No
// symbol layers: labels are HTML, so no glyphs are needed (no fonts from a
// CDN).
import { DENSITY, ORIGINS, DIFF, DIFF_ABS, step } from './scales.js';

export const HATCH = 'flowtiles-hatch';

// tileURL is the absolute XYZ template of a layer with a filter query.
export function tileURL(layer, query) {
  const base = `${location.origin}/tiles/${layer}/{z}/{x}/{y}.mvt`;
  return [query ? `${base}?${query}` : base];
}

// sourceLayers maps each map layer to the toggle that shows it.
export const TOGGLE = {
  'origins-fill': 'origins', 'origins-suppressed': 'origins', 'origins-line': 'origins',
  'density-heat': 'density', 'density-bins': 'density', 'density-suppressed': 'density', 'density-cmp': 'density', 'density-withheld': 'density',
  'flows-line': 'flows',
  'zones-fill': 'zones', 'zones-line': 'zones',
  'origins-selected': 'origins', 'density-selected': 'density', 'zones-selected': 'zones',
};

// diffColor is the fill colour of a bin in the comparison view, from the
// feature state chg set by the difference computation.
export function diffColor(absolute) {
  return ['case', ['==', ['typeof', ['feature-state', 'chg']], 'number'],
    step(absolute ? DIFF_ABS : DIFF, ['to-number', ['feature-state', 'chg']]),
    'rgba(0,0,0,0)'];
}

export const densityColor = step(DENSITY, ['to-number', ['get', 'visitors'], 0]);

// plannerStyle returns the style for the given tile queries (main period and
// comparison period; cmpQuery null when not comparing).
// attribution is the server's (TileJSON): ISTAT and Natural Earth boundaries
// are CC BY and must be credited.
export function plannerStyle({ query, densityQuery, cmpQuery, center, zoom, attribution }) {
  const vector = (layer, q, maxzoom, minzoom = 0) => ({
    type: 'vector', tiles: tileURL(layer, q), minzoom, maxzoom,
    attribution: attribution || 'flowtiles',
  });
  const cmp = cmpQuery !== null && cmpQuery !== undefined;
  return {
    version: 8,
    name: 'flowtiles planner',
    center, zoom,
    sources: {
      origins: vector('origins', query, 14),
      flows: vector('flows', query, 16),
      density: vector('density', densityQuery, 20),
      density_cmp: vector('density', cmp ? cmpQuery : densityQuery, 20),
      zones: vector('zones', query, 20, 10),
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#f3f1ec' } },
      {
        id: 'origins-fill', type: 'fill', source: 'origins', 'source-layer': 'origins',
        filter: ['!=', ['get', 'suppressed'], true],
        paint: {
          'fill-color': step(ORIGINS, ['to-number', ['get', 'per_1000_residents'], 0]),
          'fill-opacity': 0.7,
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
          'heatmap-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0.85, 13.5, 0],
          'heatmap-color': ['interpolate', ['linear'], ['heatmap-density'],
            0, 'rgba(255,255,204,0)', 0.2, '#c7e9b4', 0.4, '#7fcdbb', 0.6, '#41b6c4', 0.8, '#225ea8', 1, '#0c2c84'],
        },
      },
      {
        id: 'density-cmp', type: 'fill', source: 'density_cmp', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['!=', ['get', 'suppressed'], true],
        paint: { 'fill-color': cmp ? diffColor(false) : 'rgba(0,0,0,0)', 'fill-opacity': 0.8 },
      },
      {
        id: 'density-bins', type: 'fill', source: 'density', 'source-layer': 'density',
        minzoom: 12.5,
        filter: ['!=', ['get', 'suppressed'], true],
        paint: {
          'fill-color': cmp ? diffColor(false) : densityColor,
          'fill-opacity': ['interpolate', ['linear'], ['zoom'], 12.5, 0, 13.5, 0.8],
          'fill-outline-color': 'rgba(255,255,255,0.7)',
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
        paint: { 'line-color': '#c51b7d', 'line-width': 2, 'line-dasharray': [2, 1] },
      },
      {
        id: 'zones-selected', type: 'line', source: 'zones', 'source-layer': 'zones',
        filter: ['==', ['get', 'name'], ''],
        paint: { 'line-color': '#111', 'line-width': 3.5 },
      },
    ],
  };
}
