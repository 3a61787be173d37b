// The town-centre kiosk at /kiosk: full screen, no controls, readable from
// three metres, on landscape screens and portrait totems. People in town in
// the last completed window against the usual figure, the busiest zones, a
// live density map of the town with its zones named, a legend and a clock,
// all from /api/live. The figures come first: MapLibre (a large module) is
// loaded once they are on screen.
// It runs for weeks: DOM nodes are made once and updated in place, the
// zone list is a fixed pool, the feed reconnects by itself (live.js) and the
// map recovers from outages (mapkeeper.js).
import { translator, numberFormat, locale as localeOf } from './i18n.js';
import { LiveFeed } from './live.js';
import { LIVE, BACKGROUNDS, classLabels, hatchImage } from './scales.js';
import { at } from './base.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// The town (/api/town under the page's /t/{town}/): its name in the
// headline, its kiosk's language, view and title. A server that does not
// answer yet leaves the page its own defaults.
const town = await fetch(at('/api/town'), { signal: AbortSignal.timeout(10000) })
  .then((r) => (r.ok ? r.json() : null)).catch(() => null);
const lang = (params.get('lang') ?? town?.kiosk?.lang) === 'en' ? 'en' : 'it';
const t = translator(lang);
const nf = numberFormat(lang, { maximumFractionDigits: 0 });
const pf = numberFormat(lang, { style: 'percent', maximumFractionDigits: 0, signDisplay: 'exceptZero' });
const locale = localeOf(lang);
const MAX_ZONES = 6;
const HATCH = 'flowtiles-hatch';
const marks = { start: performance.now() };

document.documentElement.lang = lang;
const title = town?.kiosk?.title?.[lang]
  || (town ? t('kioskTitle', { town: town.names?.[lang] || town.name }) : t('kioskTitlePlain'));
document.title = title;
$('k-title').textContent = title;
$('k-typical').textContent = t('typical');
$('k-busiest').textContent = t('busiest');

// Text nodes updated in place.
function text(el) {
  const n = document.createTextNode('');
  el.replaceChildren(n);
  return n;
}
const present = text($('present'));
const nowLabel = text($('k-now'));
const trend = text($('trend'));
const typical = text($('typical'));
const typicalNote = text($('typical-note'));
const updated = text($('updated'));
const conn = text($('conn'));
const clock = text($('clock'));
const date = text($('date'));
const privacy = text($('privacy'));
const mapCaption = text($('k-map'));
nowLabel.data = t('nowLast', { n: 15 });

// A fixed pool of zone rows.
const rows = [];
for (let i = 0; i < MAX_ZONES; i++) {
  const li = document.createElement('li');
  const name = document.createElement('span');
  name.className = 'zname';
  const val = document.createElement('span');
  val.className = 'zval';
  li.append(name, val);
  li.hidden = true;
  $('zones').append(li);
  rows.push({ li, name: text(name), val: text(val), valEl: val });
}

// The legend of the live map: fixed classes (styles/classes.json).
let k = 15;
function legend() {
  const items = classLabels(LIVE, (n) => nf.format(n), k).map((label, i) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'sw';
    sw.style.background = LIVE.colors[i];
    li.append(sw, label);
    return li;
  });
  const h = document.createElement('li');
  const sw = document.createElement('span');
  sw.className = 'sw hatch';
  h.append(sw, t('fewer', { k }));
  $('k-legend').replaceChildren(...items, h);
}
legend();

function fig(f) {
  return f && typeof f.value === 'number' ? f.value : null;
}

const hhmm = (d) => d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });

function tick() {
  const now = new Date();
  clock.data = hhmm(now);
  date.data = now.toLocaleDateString(locale, { weekday: 'long', day: 'numeric', month: 'long' });
}
tick();
setInterval(tick, 1000);

// Zone names in the page's language (/api/zones), by code.
let zoneNames = new Map();
let zoneList = [];
const zonesReady = fetch(at(`/api/zones?lang=${lang}`)).then((r) => r.json()).then((d) => {
  zoneList = d.zones ?? [];
  zoneNames = new Map(zoneList.map((z) => [z.code, z.name]));
}).catch(() => {});

let lastLive = null;
function showLive(d) {
  lastLive = d;
  if (typeof d.k === 'number' && d.k !== k) {
    k = d.k;
    legend();
  }
  privacy.data = t('suppressedExplain', { k });
  // The headline's window: the last completed step when the server says
  // which (window_start, window_end), else the last window_minutes.
  const n = d.window_minutes ?? 15;
  const ws = d.window_start ? new Date(d.window_start) : null;
  const we = d.window_end ? new Date(d.window_end) : null;
  nowLabel.data = ws && we && !Number.isNaN(ws.getTime()) && !Number.isNaN(we.getTime())
    ? t('nowWindow', { from: hhmm(ws), to: hhmm(we) })
    : t('nowLast', { n });
  const town = d.town ?? {};
  const p = fig(town.present);
  present.data = p === null ? t('fewer', { k }) : nf.format(p);
  $('present').classList.toggle('suppressed', p === null);
  // A trend in words; a figure only when it is a rise or a fall (a
  // "steady (+9 %)" says two things).
  const tr = town.trend;
  if (tr && tr.direction) {
    const c = typeof tr.change === 'number' ? pf.format(tr.change) : '';
    trend.data = t('trend_' + tr.direction, { c, n });
    $('trend').dataset.direction = tr.direction;
  } else {
    trend.data = '';
    delete $('trend').dataset.direction;
  }
  const ty = town.typical ?? {};
  const tv = fig(ty);
  if (!ty.weeks) {
    typical.data = '—';
    typicalNote.data = t('noTypical');
  } else {
    typical.data = tv === null ? t('fewer', { k }) : nf.format(tv);
    typicalNote.data = t('typicalWeeks', { n: ty.weeks });
  }
  $('typical').classList.toggle('suppressed', !!ty.weeks && tv === null);
  const zones = (d.zones ?? []).slice().sort((a, b) => (fig(b.present) ?? -1) - (fig(a.present) ?? -1));
  for (let i = 0; i < MAX_ZONES; i++) {
    const r = rows[i];
    const z = zones[i];
    if (!z) {
      r.li.hidden = true;
      continue;
    }
    r.li.hidden = false;
    r.name.data = zoneNames.get(z.zone) ?? z.name ?? z.zone;
    const v = fig(z.present);
    r.val.data = v === null ? t('fewer', { k }) : `${nf.format(v)} ${t('people')}`;
    r.valEl.classList.toggle('suppressed', v === null);
    r.li.dataset.zone = z.zone;
  }
  const time = d.time ? new Date(d.time) : new Date();
  updated.data = t('lastUpdate', { t: time.toLocaleTimeString(locale) });
  document.body.dataset.dataVersion = String(d.data_version ?? '');
  if (!marks.firstFigure) {
    marks.firstFigure = performance.now() - marks.start;
    // The figures are on screen: now the map.
    setTimeout(startMap, 0);
  }
  setVersion(d.data_version);
}

// The live density map: from the hour before the current one (tile
// windows start on the hour) to now, refetched when new data touches it or
// the hour turns.
let map = null;
let keeper = null;
let version = null;
let windowFrom = '';
function liveQuery() {
  const from = new Date(Date.now() - 3600e3);
  from.setMinutes(0, 0, 0);
  windowFrom = from.toISOString().replace('.000Z', 'Z');
  mapCaption.data = t('liveMap', { t: hhmm(from) });
  return `from=${encodeURIComponent(windowFrom)}&v=${version ?? 0}`;
}
function tilesURL() {
  return [`${location.origin}${at('/tiles/density/{z}/{x}/{y}.mvt')}?${liveQuery()}`];
}
function setVersion(v, changed) {
  if (v === undefined || v === version) return;
  // New records elsewhere in time (a batch of last month) leave the map.
  if (changed && Date.parse(changed.to) <= Date.parse(windowFrom)) return;
  version = v;
  if (map?.getSource('density')) map.getSource('density').setTiles(tilesURL());
}
setInterval(() => {
  const before = windowFrom;
  const urls = tilesURL();
  if (map?.getSource('density') && windowFrom !== before) map.getSource('density').setTiles(urls);
}, 60000);

// darken turns a light basemap into one for the dark kiosk: the ground
// dark, lines and fills muted, labels light.
function darken(base) {
  const layers = (base.layers ?? []).map((l) => {
    const p = { ...(l.paint ?? {}) };
    if (l.type === 'background') p['background-color'] = BACKGROUNDS.kiosk;
    if (l.type === 'fill') { p['fill-color'] = '#232930'; delete p['fill-pattern']; }
    if (l.type === 'line') p['line-color'] = '#5b646e';
    if (l.type === 'symbol') { p['text-color'] = '#d9dfe5'; p['text-halo-color'] = '#111418'; p['text-halo-width'] = 1.5; }
    return { ...l, paint: p };
  });
  return { ...base, layers };
}

async function startMap() {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = '/static/vendor/maplibre-gl/maplibre-gl.css';
  document.head.append(link);
  const [maplibregl, { loadBasemap, mergeStyle, labelFont }, { MapKeeper }] = await Promise.all([
    import('/static/vendor/maplibre-gl/maplibre-gl.mjs'),
    import('./basemap.js'),
    import('./mapkeeper.js'),
  ]);
  const [base] = await Promise.all([loadBasemap(lang, BACKGROUNDS.kiosk), zonesReady]);
  if (lastLive) showLive(lastLive); // zone names in the page's language
  // The town fills the map: the town's kiosk view when it sets one, else
  // the bounds of the first zone (the centre), else around the town's centre.
  const c = town?.center;
  const main = zoneList[0]?.bbox ?? (c ? [c[0] - 0.007, c[1] - 0.008, c[0] + 0.007, c[1] + 0.008] : null);
  const view = c && town.kiosk?.zoom ? { center: c, zoom: town.kiosk.zoom }
    : main ? { bounds: [main[0], main[1], main[2], main[3]], fitBoundsOptions: { padding: 16 } } : {};
  const colors = ['step', ['to-number', ['get', LIVE.property], 0], LIVE.colors[0]];
  LIVE.breaks.forEach((x, i) => colors.push(x, LIVE.colors[i + 1]));
  const labels = {
    type: 'FeatureCollection',
    features: zoneList.filter((z) => z.point).map((z, i) => ({ type: 'Feature', properties: { name: z.name, main: i === 0 }, geometry: { type: 'Point', coordinates: z.point } })),
  };
  const data = {
    version: 8,
    sources: {
      density: { type: 'vector', tiles: tilesURL(), maxzoom: 20, attribution: t('attribution') },
      zones: { type: 'vector', tiles: [`${location.origin}${at('/tiles/zones/{z}/{x}/{y}.mvt')}`], minzoom: 10, maxzoom: 20 },
      zone_labels: { type: 'geojson', data: labels },
    },
    layers: [
      { id: 'zones-fill', type: 'fill', source: 'zones', 'source-layer': 'zones', paint: { 'fill-color': '#ffffff', 'fill-opacity': 0.04 } },
      { id: 'density-bins', type: 'fill', source: 'density', 'source-layer': 'density', filter: ['!=', ['get', 'suppressed'], true], paint: { 'fill-color': colors, 'fill-opacity': 0.92 } },
      { id: 'density-suppressed', type: 'fill', source: 'density', 'source-layer': 'density', filter: ['==', ['get', 'suppressed'], true], paint: { 'fill-pattern': HATCH, 'fill-opacity': 0.8 } },
      { id: 'zones-line', type: 'line', source: 'zones', 'source-layer': 'zones', paint: { 'line-color': '#f0c75e', 'line-width': 2 } },
      {
        id: 'zones-label', type: 'symbol', source: 'zone_labels',
        layout: { 'text-field': ['get', 'name'], 'text-font': labelFont(base), 'text-size': ['case', ['get', 'main'], 22, 17], 'text-max-width': 8, 'symbol-sort-key': ['case', ['get', 'main'], 0, 1] },
        paint: { 'text-color': '#ffe7a3', 'text-halo-color': '#111418', 'text-halo-width': 2 },
      },
    ],
  };
  map = new maplibregl.Map({
    container: 'map',
    interactive: false,
    attributionControl: { compact: true },
    ...view,
    style: mergeStyle(darken(base), data),
    refreshExpiredTiles: false,
  });
  map.setMissingStyleImageResolver((id) => {
    if (id === HATCH && !map.hasImage(HATCH)) map.addImage(HATCH, hatchImage(16, [200, 200, 200, 200]));
  });
  // Tiles that fail while the server restarts are fetched again when it is
  // back; no console noise on an unattended screen.
  keeper = new MapKeeper(map, { sources: () => ['density', 'zones', 'basemap'].filter((s) => map.getSource(s)) });
  if (document.body.dataset.conn === 'down') keeper.state('down');
  let fit = 0;
  window.addEventListener('resize', () => {
    map.resize();
    clearTimeout(fit);
    if (view.bounds) fit = setTimeout(() => map.fitBounds(view.bounds, { padding: 16, duration: 0 }), 200);
  });
  map.once('idle', () => { marks.mapIdle = performance.now() - marks.start; });
}

const feed = new LiveFeed(at('/api/live'), {
  onLive: showLive,
  onTiles: (d) => setVersion(d.data_version, d.changed),
  onState: (s) => {
    keeper?.state(s);
    $('conn').hidden = s === 'up';
    conn.data = s === 'up' ? '' : t('reconnecting');
    document.body.dataset.conn = s;
  },
  staleMs: Number(params.get('stale_ms')) || 20000,
});
feed.start();
window.flowtilesKiosk = { feed, marks, get map() { return map; } };
