// The town-centre kiosk at /kiosk: full screen, no controls, readable from
// two metres. People in town now against the usual figure for this hour,
// the busiest zones, a live density map and a clock, all from /api/live.
// It runs for weeks: DOM nodes are made once and updated in place, the
// zone list is a fixed pool, and the feed reconnects by itself (live.js).
import * as maplibregl from '/static/vendor/maplibre-gl/maplibre-gl.mjs';
import { translator, numberFormat } from './i18n.js';
import { LiveFeed } from './live.js';
import { hatchImage } from './scales.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const lang = params.get('lang') === 'en' ? 'en' : 'it';
const t = translator(lang);
const nf = numberFormat(lang, { maximumFractionDigits: 0 });
const pf = numberFormat(lang, { style: 'percent', maximumFractionDigits: 0, signDisplay: 'exceptZero' });
const locale = lang === 'en' ? 'en-GB' : 'it-IT';
const MAX_ZONES = 6;
const HATCH = 'flowtiles-hatch';
// Live density: visitors per bin over the last hour or two.
const LIVE_BREAKS = [25, 50, 100, 200, 400];
const LIVE_COLORS = ['#ffffcc', '#c7e9b4', '#7fcdbb', '#41b6c4', '#225ea8', '#0c2c84'];

document.documentElement.lang = lang;
document.title = t('kioskTitle');
$('k-title').textContent = t('kioskTitle');
$('k-now').textContent = t('nowInCentre');
$('k-typical').textContent = t('typical');
$('k-busiest').textContent = t('busiest');
$('k-map').textContent = t('liveMap');

// Text nodes updated in place.
function text(el) {
  const n = document.createTextNode('');
  el.replaceChildren(n);
  return n;
}
const present = text($('present'));
const trend = text($('trend'));
const typical = text($('typical'));
const typicalNote = text($('typical-note'));
const updated = text($('updated'));
const conn = text($('conn'));
const clock = text($('clock'));
const date = text($('date'));
const privacy = text($('privacy'));

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

function fig(f) {
  return f && typeof f.value === 'number' ? f.value : null;
}

function tick() {
  const now = new Date();
  clock.data = now.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  date.data = now.toLocaleDateString(locale, { weekday: 'long', day: 'numeric', month: 'long' });
}
tick();
setInterval(tick, 1000);

let k = 15;
const hhmm = (iso) => new Date(iso).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
function showLive(d) {
  k = d.k ?? k;
  // the figures are of the last completed step (a quarter of an hour)
  if (d.window_start && d.window_end) {
    $('k-now').textContent = t('nowInCentreStep', { from: hhmm(d.window_start), to: hhmm(d.window_end) });
  }
  privacy.data = t('suppressedExplain', { k });
  const town = d.town ?? {};
  const p = fig(town.present);
  present.data = p === null ? t('fewer', { k }) : nf.format(p);
  $('present').classList.toggle('suppressed', p === null);
  const tr = town.trend;
  if (tr && tr.direction) {
    const arrow = { up: '▲', down: '▼', flat: '▶' }[tr.direction] ?? '';
    trend.data = `${arrow} ${t('trend_' + tr.direction)}${typeof tr.change === 'number' ? ` (${pf.format(tr.change)})` : ''}`;
    $('trend').dataset.direction = tr.direction;
  } else {
    trend.data = '';
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
  const zones = (d.zones ?? []).slice().sort((a, b) => (fig(b.present) ?? -1) - (fig(a.present) ?? -1));
  for (let i = 0; i < MAX_ZONES; i++) {
    const r = rows[i];
    const z = zones[i];
    if (!z) {
      r.li.hidden = true;
      continue;
    }
    r.li.hidden = false;
    r.name.data = shortName(z.name ?? z.zone);
    const v = fig(z.present);
    r.val.data = v === null ? t('fewer', { k }) : `${nf.format(v)} ${t('people')}`;
    r.valEl.classList.toggle('suppressed', v === null);
    r.li.dataset.zone = z.zone;
  }
  const time = d.time ? new Date(d.time) : new Date();
  updated.data = t('lastUpdate', { t: time.toLocaleTimeString(locale) });
  document.body.dataset.dataVersion = String(d.data_version ?? '');
  setVersion(d.data_version);
}

// shortName drops an explanation in brackets: "Centro storico (the hill…)".
function shortName(s) {
  return String(s).replace(/\s*\(.*\)\s*$/, '');
}

// The live density map: the last hour and the current one, refetched when
// the data version advances or the hour turns.
let map = null;
let version = null;
let windowFrom = '';
function liveQuery() {
  const from = new Date(Date.now() - 3600e3);
  from.setMinutes(0, 0, 0);
  windowFrom = from.toISOString().replace('.000Z', 'Z');
  return `from=${encodeURIComponent(windowFrom)}&v=${version ?? 0}`;
}
function tilesURL() {
  return [`${location.origin}/tiles/density/{z}/{x}/{y}.mvt?${liveQuery()}`];
}
function setVersion(v) {
  if (v === undefined || v === version) return;
  version = v;
  if (map?.getSource('density')) map.getSource('density').setTiles(tilesURL());
}
setInterval(() => {
  const before = windowFrom;
  const q = liveQuery();
  if (map?.getSource('density') && windowFrom !== before) map.getSource('density').setTiles([`${location.origin}/tiles/density/{z}/{x}/{y}.mvt?${q}`]);
}, 60000);

async function startMap() {
  const tj = await fetch('/tiles/density.json').then((r) => r.json()).catch(() => null);
  const b = tj?.bounds ?? [12.41, 42.974, 12.424, 42.991];
  const colors = ['step', ['to-number', ['get', 'visitors'], 0], LIVE_COLORS[0]];
  LIVE_BREAKS.forEach((x, i) => colors.push(x, LIVE_COLORS[i + 1]));
  map = new maplibregl.Map({
    container: 'map',
    interactive: false,
    attributionControl: false,
    bounds: b,
    fitBoundsOptions: { padding: 30 },
    style: {
      version: 8,
      sources: {
        density: { type: 'vector', tiles: tilesURL(), maxzoom: 20 },
        zones: { type: 'vector', tiles: [`${location.origin}/tiles/zones/{z}/{x}/{y}.mvt`], minzoom: 10, maxzoom: 20 },
      },
      layers: [
        { id: 'background', type: 'background', paint: { 'background-color': '#1b1f24' } },
        { id: 'zones-fill', type: 'fill', source: 'zones', 'source-layer': 'zones', paint: { 'fill-color': '#ffffff', 'fill-opacity': 0.05 } },
        { id: 'density-bins', type: 'fill', source: 'density', 'source-layer': 'density', filter: ['!=', ['get', 'suppressed'], true], paint: { 'fill-color': colors, 'fill-opacity': 0.85 } },
        { id: 'density-suppressed', type: 'fill', source: 'density', 'source-layer': 'density', filter: ['==', ['get', 'suppressed'], true], paint: { 'fill-pattern': HATCH, 'fill-opacity': 0.7 } },
        { id: 'zones-line', type: 'line', source: 'zones', 'source-layer': 'zones', paint: { 'line-color': '#f0c75e', 'line-width': 2 } },
      ],
    },
  });
  map.setMissingStyleImageResolver((id) => {
    if (id === HATCH && !map.hasImage(HATCH)) map.addImage(HATCH, hatchImage(16, [200, 200, 200, 200]));
  });
  // Tiles that fail while the server restarts are refetched with the next
  // data version; no console noise on an unattended screen.
  map.on('error', () => {});
  window.addEventListener('resize', () => map.resize());
}

const feed = new LiveFeed('/api/live', {
  onLive: showLive,
  onTiles: (d) => setVersion(d.data_version),
  onState: (s) => {
    // Back after an outage: tiles that failed meanwhile are fetched again.
    if (s === 'up' && document.body.dataset.conn === 'down' && map?.getSource('density')) {
      map.getSource('density').setTiles(tilesURL());
      map.getSource('zones').setTiles([`${location.origin}/tiles/zones/{z}/{x}/{y}.mvt`]);
    }
    $('conn').hidden = s === 'up';
    conn.data = s === 'up' ? '' : t('reconnecting');
    document.body.dataset.conn = s;
  },
  staleMs: Number(params.get('stale_ms')) || 20000,
});
feed.start();
startMap();
window.flowtilesKiosk = { feed, get map() { return map; } };
