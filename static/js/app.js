// The planner explorer at /: density bins and heatmap, origins choropleth,
// flows, zones, on a basemap; every filter, date presets and an hour
// slider; a comparison of two periods as a difference map; a side panel
// with the town overview or the figures of what was clicked; a printable
// report and a PNG of the map. The query string holds the whole state
// (state.js) and the form always shows exactly it.
import * as maplibregl from '/static/vendor/maplibre-gl/maplibre-gl.mjs';
import { translator, numberFormat, dateText, countryName, countries, locale } from './i18n.js';
import {
  parseState, stateQuery, filterQuery, validHours, periodDays,
  DAYS, AGES, GENDERS, SPENDS, LAYERS,
} from './state.js';
import { plannerStyle, tileURL, visible, TOGGLE, HATCH, diffColor, densityColor, zoneLabels } from './plannerstyle.js';
import { DENSITY, ORIGINS, DIFF, DIFF_ABS, BACKGROUNDS, classLabels, hatchImage, hatchCSS, cellSize } from './scales.js';
import { Panel, getStats, statsQuery, openDefinitions } from './panel.js';
import { Overview, availableRange, previousPeriod, shiftDays, shiftYears } from './overview.js';
import { LiveFeed } from './live.js';
import { loadBasemap, mergeStyle, labelFont } from './basemap.js';
import { MapKeeper } from './mapkeeper.js';
import { at } from './base.js';

const $ = (id) => document.getElementById(id);
const phone = () => matchMedia('(max-width: 760px)').matches;
const DEFAULT_BOUNDS = [12.41, 42.974, 12.424, 42.991];

class Planner {
  constructor() {
    this.state = parseState(location.search);
    this.zones = [];
    this.events = [];
    this.town = null; // data bounds "w,s,e,n"
    this.k = 15;
    this.diff = { bins: 0, changed: 0, sig: '' };
    this.applied = {}; // tile queries in use
    this.names = new Map(); // origin code → place (from /api/places)
    this.available = null; // {from, to} of the data
    this.marks = { start: performance.now() };
  }

  async start() {
    const s = this.state;
    this.t = translator(s.lang);
    document.documentElement.lang = s.lang;
    this.feed = new LiveFeed(at('/api/live'), {
      onLive: (d) => {
        if (typeof d.k === 'number') this.k = d.k;
        this.dataVersion(d.data_version);
      },
      onTiles: (d) => this.dataVersion(d.data_version, d.changed),
      onState: (st) => this.connState(st),
    });
    this.feed.start();
    const [tj, zones, base, events, town] = await Promise.all([
      fetch(at('/tiles/density.json')).then((r) => r.json()).catch(() => null),
      this.loadZones(s.lang),
      loadBasemap(s.lang, BACKGROUNDS.planner),
      fetch(at(`/api/events?lang=${s.lang}`)).then((r) => r.json()).then((d) => d.events ?? []).catch(() => []),
      fetch(at('/api/town')).then((r) => (r.ok ? r.json() : null)).catch(() => null),
    ]);
    // The town's default view, unless the URL says where to look.
    if (town?.zoom && !new URLSearchParams(location.search).has('z')) s.z = town.zoom;
    this.zones = zones;
    this.events = events;
    this.base = base;
    const b = tj?.bounds ?? DEFAULT_BOUNDS;
    this.town = b.join(',');
    const c = tj?.center ?? [12.4172, 42.9828];
    this.center = [c[0], c[1]];
    this.font = labelFont(base);
    this.panel = new Panel($('panel'), { t: this.t, lang: s.lang, onClose: () => this.select('') });
    this.overview = new Overview($('panel'), { t: this.t, lang: s.lang });
    this.buildControls();
    this.syncControls();
    if (phone()) {
      document.body.classList.add('sidebar-closed');
      $('legend').open = false;
    }
    const q = this.queries();
    this.map = new maplibregl.Map({
      container: 'map',
      style: mergeStyle(base, plannerStyle({
        ...q, center: [s.lon ?? this.center[0], s.lat ?? this.center[1]], zoom: s.z,
        attribution: this.t('attribution'), layers: s.layers, zones: this.zones, font: this.font,
      })),
      attributionControl: { compact: true },
      maxZoom: 19,
      // Tiles of a data version never change: the live feed says when to
      // refetch (an outage then blanks nothing already drawn).
      refreshExpiredTiles: false,
      canvasContextAttributes: { preserveDrawingBuffer: true }, // PNG export and print
    });
    this.applied = q;
    this.keeper = new MapKeeper(this.map, {
      sources: () => this.visibleSources(),
      onError: () => this.status(this.t('mapError'), true),
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
    // The hatch of withheld cells is drawn on a canvas, not in a sprite.
    this.map.setMissingStyleImageResolver((id) => {
      if (id === HATCH && !this.map.hasImage(HATCH)) this.map.addImage(HATCH, hatchImage());
    });
    this.map.on('moveend', () => {
      const ctr = this.map.getCenter();
      this.state.z = this.map.getZoom();
      this.state.lat = ctr.lat;
      this.state.lon = ctr.lng;
      history.replaceState(null, '', '?' + stateQuery(this.state));
    });
    this.map.on('zoomend', () => this.legend());
    this.map.on('click', (e) => this.click(e.point));
    // The keyboard: Enter on the map opens the details of the place at
    // its centre (the arrow keys pan, +/- zoom: MapLibre's own).
    const canvas = this.map.getCanvas();
    canvas.setAttribute('aria-label', `${this.t('mapAlt')}. ${this.t('keyboardHint')}`);
    canvas.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      const r = canvas.getBoundingClientRect();
      this.click(new maplibregl.Point(r.width / 2, r.height / 2));
    });
    for (const id of ['density-bins', 'density-suppressed', 'zones-fill', 'origins-fill', 'origins-suppressed']) {
      this.map.on('mouseenter', id, () => { canvas.style.cursor = 'pointer'; });
      this.map.on('mouseleave', id, () => { canvas.style.cursor = ''; });
    }
    let pending = 0;
    const schedule = () => {
      clearTimeout(pending);
      pending = setTimeout(() => this.computeDiff(), 120);
    };
    this.map.on('sourcedata', (e) => {
      if ((e.sourceId === 'density' || e.sourceId === 'density_cmp') && e.isSourceLoaded) schedule();
      if (e.sourceId === 'density' && e.isSourceLoaded && !this.marks.firstBins && this.map.queryRenderedFeatures({ layers: ['density-bins'] }).length) {
        this.marks.firstBins = performance.now() - this.marks.start;
      }
    });
    this.map.on('idle', schedule);
    window.addEventListener('popstate', () => {
      this.state = parseState(location.search);
      this.apply({ fromHistory: true });
    });
    $('share').addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(location.href);
        this.status(this.t('copied'));
      } catch {
        this.status(location.href);
      }
    });
    $('lang').addEventListener('click', () => this.update({ lang: this.state.lang === 'it' ? 'en' : 'it' }));
    $('print').addEventListener('click', () => window.print());
    $('png').addEventListener('click', () => this.exportPNG());
    window.addEventListener('beforeprint', () => this.snapshot());
    $('toggle-sidebar').addEventListener('click', () => {
      const open = document.body.classList.toggle('sidebar-closed') === false;
      $('toggle-sidebar').setAttribute('aria-expanded', String(open));
      setTimeout(() => this.map.resize(), 50);
    });
    $('show-overview').addEventListener('click', () => {
      document.body.classList.toggle('panel-open');
      this.showSelection(true);
    });
    await new Promise((r) => this.map.once('load', r));
    this.apply({ initial: true });
    this.started = true;
    window.flowtiles = this; // for tests and the curious
    availableRange(this.town).then((r) => {
      this.available = r;
      this.legend();
      this.checkEmpty();
      this.buildPresets();
      this.showSelection(); // the period's dates in the panel
    }).catch(() => {});
  }

  // loadZones fetches the zones with their names in the page's language.
  async loadZones(lang) {
    try {
      const r = await fetch(at(`/api/zones?lang=${encodeURIComponent(lang)}`));
      return (await r.json()).zones ?? [];
    } catch {
      return [];
    }
  }

  // connState follows the live feed: the page says when the server is
  // away, and the maps recover by themselves when it is back.
  connState(st) {
    const was = document.body.dataset.conn;
    document.body.dataset.conn = st;
    this.keeper?.state(st);
    if (st === 'down' && was !== 'down') this.status(this.t('offline'), true, true);
    if (st === 'up' && was === 'down') {
      this.status('');
      this.shownKey = null; // figures again, from the server as it is now
      if (this.started) this.showSelection();
    }
  }

  // dataVersion follows the server's data version. The first one seen is
  // the baseline; a newer one that touched a period on screen (changed is
  // the time span of the new records, when the server knows it) adds v=N
  // to the tile URLs and reloads the panel. Others leave the page alone.
  dataVersion(v, changed) {
    if (typeof v !== 'number') return;
    if (this.baseVersion === undefined) {
      this.baseVersion = v;
      this.seen = v;
      return;
    }
    if (v === this.seen) return;
    this.seen = v;
    if (changed && !this.touches(changed)) return;
    this.version = v;
    if (this.started) this.apply({});
  }

  // touches reports whether a time span meets the main or comparison
  // period on screen.
  touches({ from, to }) {
    const a = Date.parse(from);
    const b = Date.parse(to);
    if (Number.isNaN(a) || Number.isNaN(b)) return true;
    const meets = (p) => {
      const start = p.from ? Date.parse(p.from.length === 10 ? p.from + 'T00:00:00Z' : p.from) - 86400e3 : -Infinity;
      const end = p.to ? Date.parse(p.to.length === 10 ? p.to + 'T00:00:00Z' : p.to) + 2 * 86400e3 : Infinity;
      return a < end && b > start; // a day's margin for the time zone
    };
    return meets(this.state.filters) || (!!this.state.compare && meets(this.state.compare));
  }

  visibleSources() {
    const ids = new Set();
    for (const l of this.map.getStyle().layers) {
      if (l.source && this.map.getLayoutProperty(l.id, 'visibility') !== 'none') ids.add(l.source);
    }
    ids.delete('zone_labels');
    return [...ids];
  }

  // queries returns the tile queries of the current state.
  queries() {
    const f = this.state.filters;
    const v = this.version !== undefined ? `v=${this.version}` : '';
    const join = (q) => [q, v].filter(Boolean).join('&');
    const q = join(filterQuery(f));
    return {
      query: q,
      densityQuery: q,
      cmpQuery: this.state.compare ? join(filterQuery(f, this.state.compare)) : null,
    };
  }

  // update changes the state from a control and records it in history.
  update(patch, { replace } = {}) {
    Object.assign(this.state, patch);
    history[replace ? 'replaceState' : 'pushState'](null, '', '?' + stateQuery(this.state));
    this.apply({});
  }

  // apply brings the page in line with this.state.
  apply({ fromHistory, initial }) {
    const s = this.state;
    if (this.t.lang !== s.lang) {
      // Names of zones, countries and labels change with the language.
      this.t = translator(s.lang);
      this.panel.t = this.overview.t = this.t;
      this.panel.lang = this.overview.lang = s.lang;
      this.loadZones(s.lang).then((z) => {
        this.zones = z;
        this.map.getSource('zone_labels')?.setData(zoneLabels(z));
        this.buildControls();
        this.syncControls();
      });
      fetch(at(`/api/events?lang=${s.lang}`)).then((r) => r.json()).then((d) => { this.events = d.events ?? []; this.buildPresets(); }).catch(() => {});
      this.buildControls();
      this.shownKey = null;
    }
    this.syncControls();
    document.documentElement.lang = s.lang;
    document.title = this.t('title');
    $('title').textContent = this.t('title');
    $('lang').textContent = this.t('language');
    $('share').textContent = this.t('share');
    $('print').textContent = this.t('print');
    $('png').textContent = this.t('png');
    $('show-overview').textContent = this.t('overview');
    $('legend-title').textContent = this.t('legend');
    const m = this.map;
    // Tiles: new URLs only for sources whose query changed.
    const q = this.queries();
    const setTiles = (src, layer, query) => m.getSource(src).setTiles(tileURL(layer, query));
    if (q.query !== this.applied.query) {
      setTiles('origins', 'origins', q.query);
      setTiles('flows', 'flows', q.query);
      setTiles('zones', 'zones', q.query);
      setTiles('density', 'density', q.densityQuery);
    }
    if (q.cmpQuery !== this.applied.cmpQuery && q.cmpQuery !== null) setTiles('density_cmp', 'density', q.cmpQuery);
    const comparing = q.cmpQuery !== null;
    const wasComparing = this.applied.cmpQuery !== null && this.applied.cmpQuery !== undefined;
    if (comparing !== wasComparing || q.query !== this.applied.query || q.cmpQuery !== this.applied.cmpQuery || initial) {
      this.diff = { bins: 0, changed: 0, sig: '' };
      m.removeFeatureState({ source: 'density', sourceLayer: 'density' });
      m.removeFeatureState({ source: 'density_cmp', sourceLayer: 'density' });
      const absolute = this.absoluteDiff();
      m.setPaintProperty('density-bins', 'fill-color', comparing ? diffColor(absolute) : densityColor);
      m.setPaintProperty('density-cmp', 'fill-color', comparing ? diffColor(absolute) : 'rgba(0,0,0,0)');
      m.setPaintProperty('density-heat', 'heatmap-opacity', comparing ? 0 : ['interpolate', ['linear'], ['zoom'], 12.5, 0.85, 13.5, 0]);
      if (!initial) this.checkEmpty();
    }
    this.applied = q;
    // Layer toggles: a hidden layer's source fetches nothing.
    for (const id of Object.keys(TOGGLE)) {
      const want = visible(id, s.layers, comparing) ? 'visible' : 'none';
      if (m.getLayoutProperty(id, 'visibility') !== want) m.setLayoutProperty(id, 'visibility', want);
    }
    if (fromHistory && s.lat !== null && s.lon !== null) {
      m.jumpTo({ center: [s.lon, s.lat], zoom: s.z });
    }
    this.legend();
    this.showSelection();
  }

  absoluteDiff() {
    const f = this.state.filters;
    const c = this.state.compare;
    return !c || periodDays(f.from, f.to) === null || periodDays(c.from, c.to) === null;
  }

  // computeDiff sets, in the comparison view, the feature state chg of
  // every loaded bin: the relative change of visitors per day (or the
  // difference of visitors when a period is open) between the two periods,
  // matched by bin id. Bins withheld in either period get no colour (they
  // are drawn hatched); bins in one period only are +∞/−100 %.
  computeDiff() {
    const m = this.map;
    if (!this.state.compare || !m.getSource('density_cmp')) return;
    const read = (src) => {
      const out = new Map();
      for (const f of m.querySourceFeatures(src, { sourceLayer: 'density' })) {
        if (f.id === undefined || f.id === null) continue;
        out.set(f.id, f.properties.suppressed ? null : Number(f.properties.visitors ?? 0));
      }
      return out;
    };
    const a = read('density');
    const b = read('density_cmp');
    const f = this.state.filters;
    const c = this.state.compare;
    const abs = this.absoluteDiff();
    const da = abs ? 1 : periodDays(f.from, f.to);
    const db = abs ? 1 : periodDays(c.from, c.to);
    const states = [];
    let changed = 0;
    for (const [id, va] of a) {
      if (!b.has(id)) {
        if (va !== null) states.push(['density', id, abs ? va : 10]);
        continue;
      }
      const vb = b.get(id);
      if (va === null || vb === null) {
        states.push(['density', id, null]);
        continue;
      }
      const chg = abs ? va - vb : (va / da) / (vb / db) - 1;
      states.push(['density', id, chg]);
    }
    for (const [id, vb] of b) {
      if (!a.has(id) && vb !== null) states.push(['density_cmp', id, abs ? -vb : -1]);
    }
    let sig = states.length + ':';
    for (const [src, id, chg] of states) {
      sig += `${src}${id}=${chg === null ? 'n' : chg.toFixed(3)};`;
      if (chg !== null && Math.abs(chg) > (abs ? 0 : 0.005)) changed++;
    }
    if (sig === this.diff.sig) return;
    m.removeFeatureState({ source: 'density', sourceLayer: 'density' });
    m.removeFeatureState({ source: 'density_cmp', sourceLayer: 'density' });
    for (const [source, id, chg] of states) {
      m.setFeatureState({ source, sourceLayer: 'density', id }, { chg: chg === null ? 'withheld' : chg });
    }
    this.diff = { bins: states.length, changed, sig };
    document.body.dataset.diffBins = String(states.length);
  }

  // click selects what is drawn at a screen point.
  click(point) {
    const m = this.map;
    const layers = ['density-bins', 'density-suppressed', 'zones-fill', 'origins-fill', 'origins-suppressed']
      .filter((id) => m.getLayoutProperty(id, 'visibility') !== 'none');
    const feats = m.queryRenderedFeatures(point, { layers });
    const pick = (prefix) => feats.find((f) => f.layer.id.startsWith(prefix));
    const bin = pick('density');
    const zone = pick('zones');
    const origin = pick('origins');
    if (bin) {
      this.binProps = { id: bin.id, ...bin.properties };
      this.select(`bin:${bin.id}:` + bbox(bin.geometry).map((v) => v.toFixed(6)).join(','));
    } else if (zone) {
      const code = zone.properties.code;
      if (code) this.select('zone:' + code);
    } else if (origin) {
      this.select(`origin:${origin.properties.level}:${origin.properties.code}:${origin.properties.name ?? ''}`);
    } else {
      this.select('');
    }
  }

  select(sel) {
    if (sel === this.state.sel) return;
    if (sel) document.body.classList.add('panel-open');
    this.update({ sel });
  }

  // periodText says which period the figures are about.
  periodText(f = this.state.filters) {
    const lang = this.state.lang;
    const d = (x) => dateText(lang, x);
    if (f.from && f.to) return `${d(f.from)} – ${d(f.to)}`;
    if (f.from) return `${d(f.from)} – …`;
    if (f.to) return `… – ${d(f.to)}`;
    const p = this.available ? `${d(this.available.from)} – ${d(this.available.to)}` : '…';
    return this.t('allData', { p });
  }

  // showSelection fills the panel: the figures of the selection, or the
  // town overview when nothing is selected.
  showSelection(force) {
    const s = this.state;
    this.highlight();
    const key = [s.sel, filterQuery(s.filters), JSON.stringify(s.compare), s.lang, this.version, this.available?.to].join('|');
    if (key === this.shownKey && !force) return;
    this.shownKey = key;
    const t = this.t;
    const period = this.periodText();
    document.body.classList.toggle('has-selection', !!s.sel);
    if (!s.sel) {
      this.panel.close();
      if (phone() && !document.body.classList.contains('panel-open')) return;
      const zone = s.filters.zone ? this.zones.find((z) => z.code === s.filters.zone)?.name ?? s.filters.zone : null;
      this.overview.load({ filters: s.filters, compare: s.compare, town: this.town, period, title: zone ?? t('overviewOf') });
      return;
    }
    this.overview.cancel();
    const [kind, ...rest] = s.sel.split(':');
    let title = t('panelTitle');
    const info = { period };
    if (kind === 'bin') {
      const b = rest[1]?.split(',').map(Number);
      const m = b?.length === 4 ? Math.round(((b[2] - b[0]) * 111320 * Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180)) / 10) * 10 : null;
      title = t('areaBin', { m: m ?? '?' });
      // The figures of the hexagon clicked, as the map draws it.
      let props = this.binProps?.id === Number(rest[0]) ? this.binProps : null;
      if (!props) {
        const f = this.map.querySourceFeatures('density', { sourceLayer: 'density', filter: ['==', ['id'], Number(rest[0])] })[0];
        if (f) props = f.properties;
      }
      if (props) info.bin = props.suppressed ? { suppressed: true } : { visitors: { value: Number(props.visitors) }, count: { value: Number(props.count) } };
    } else if (kind === 'zone') {
      title = `${t('areaZone')}: ${this.zones.find((z) => z.code === rest[0])?.name ?? rest[0]}`;
    } else if (kind === 'origin') {
      const name = rest[0] === 'country' ? countryName(s.lang, rest[1]) : rest.slice(2).join(':') || rest[1];
      title = `${t('areaOrigin')}: ${name}`;
    }
    const sel = kind === 'origin' ? `origin:${rest[0]}:${rest[1]}` : s.sel;
    this.panel.show(sel, title, s.filters, s.compare, this.town, info);
  }

  // highlight outlines the selected bin, zone or origin area.
  highlight() {
    const m = this.map;
    const [kind, ...rest] = this.state.sel.split(':');
    const id = kind === 'bin' ? Number(rest[0]) : -1;
    const zone = kind === 'zone' ? rest[0] ?? '' : '';
    const origin = kind === 'origin' ? rest[1] ?? '' : '';
    m.setFilter('density-selected', ['==', ['id'], Number.isFinite(id) ? id : -1]);
    m.setFilter('zones-selected', ['==', ['get', 'code'], zone]);
    m.setFilter('origins-selected', ['==', ['get', 'code'], origin]);
  }

  // checkEmpty says so when the period and filters hold nobody, and offers
  // the range of the data.
  async checkEmpty() {
    const seq = (this.emptySeq = (this.emptySeq ?? 0) + 1);
    const box = $('empty');
    let empty = false;
    try {
      const r = await getStats(statsQuery('town', this.state.filters, null, this.town), 'date');
      empty = (r.period.rows ?? []).length === 0;
    } catch {
      return;
    }
    if (seq !== this.emptySeq) return;
    box.hidden = !empty;
    document.body.dataset.empty = String(empty);
    if (!empty) return;
    const t = this.t;
    const f = this.state.filters;
    const lang = this.state.lang;
    const parts = [];
    if (f.from || f.to) parts.push(t('emptyPeriod', { from: f.from ? dateText(lang, f.from) : '…', to: f.to ? dateText(lang, f.to) : '…' }));
    else parts.push(t('emptyFilter'));
    if (this.available) parts.push(t('available', { from: dateText(lang, this.available.from), to: dateText(lang, this.available.to) }));
    const p = document.createElement('p');
    p.textContent = parts.join(' ');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = t('showAvailable');
    b.addEventListener('click', () => {
      const filters = { ...this.state.filters };
      delete filters.from;
      delete filters.to;
      this.update({ filters, compare: null });
    });
    box.replaceChildren(p, b);
  }

  status(text, isError, sticky) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('error', !!isError);
    clearTimeout(this.statusTimer);
    if (!sticky) this.statusTimer = setTimeout(() => { el.textContent = ''; }, isError ? 8000 : 2500);
  }

  // buildControls (re)draws the filter form in the page's language;
  // syncControls then sets every control from the state.
  buildControls() {
    const t = this.t;
    const form = $('filters');
    form.replaceChildren();
    form.onsubmit = (e) => e.preventDefault();
    const h = document.createElement('h2');
    h.textContent = t('filters');
    form.append(h);
    this.controls = {};
    const fs = (legend, cls) => {
      const f = document.createElement('fieldset');
      f.className = cls ?? '';
      const l = document.createElement('legend');
      l.textContent = legend;
      f.append(l);
      form.append(f);
      return f;
    };
    const input = (parent, name, type, label, hint) => {
      const lab = document.createElement('label');
      lab.textContent = label;
      const i = document.createElement('input');
      i.type = type;
      i.name = name;
      i.id = 'f-' + name;
      if (hint) i.placeholder = hint;
      lab.append(i);
      parent.append(lab);
      this.controls[name] = i;
      return i;
    };
    const period = fs(t('period'), 'period');
    const presetLab = document.createElement('label');
    presetLab.textContent = t('preset');
    const preset = document.createElement('select');
    preset.id = 'f-preset';
    presetLab.append(preset);
    period.append(presetLab);
    preset.addEventListener('change', () => this.applyPreset(preset.value));
    this.controls.preset = preset;
    const from = input(period, 'from', 'date', t('from'));
    const to = input(period, 'to', 'date', t('to'));
    for (const [i, name] of [[from, 'from'], [to, 'to']]) {
      i.addEventListener('change', () => this.setFilter(name, i.value, i));
    }
    const hours = input(period, 'hours', 'text', t('hours'), t('hoursHint'));
    hours.addEventListener('change', () => {
      const v = hours.value.replace(/\s+/g, '');
      if (!validHours(v)) return this.invalid(hours, t('badFilter', { what: t('badHours') }));
      this.setFilter('hours', v, hours);
    });
    // The hour slider: one hour of the day at a time (hours=H), and an
    // animation through the day.
    const sl = document.createElement('div');
    sl.className = 'slider';
    const slLab = document.createElement('label');
    slLab.htmlFor = 'f-hour';
    slLab.textContent = t('hourSlider');
    const range = document.createElement('input');
    range.type = 'range';
    range.id = 'f-hour';
    range.min = '-1';
    range.max = '23';
    range.step = '1';
    const out = document.createElement('output');
    out.id = 'f-hour-out';
    out.htmlFor = 'f-hour';
    const play = document.createElement('button');
    play.type = 'button';
    play.id = 'f-play';
    play.textContent = t('play');
    range.addEventListener('input', () => {
      this.stopAnimation();
      const h = Number(range.value);
      this.setFilter('hours', h < 0 ? '' : String(h), null, { replace: true });
    });
    play.addEventListener('click', () => (this.animating ? this.stopAnimation() : this.animate()));
    sl.append(slLab, range, out, play);
    period.append(sl);
    this.controls.hour = range;
    this.controls.hourOut = out;
    this.controls.play = play;

    const checks = (name, legend, values, label) => {
      const f = fs(legend, 'checks ' + name);
      for (const v of values) {
        const lab = document.createElement('label');
        const i = document.createElement('input');
        i.type = 'checkbox';
        i.name = name;
        i.value = v;
        i.addEventListener('change', () => {
          const sel = [...f.querySelectorAll('input:checked')].map((x) => x.value);
          this.setFilter(name, sel.join(','));
        });
        lab.append(i, ' ' + label(v));
        f.append(lab);
      }
      this.controls[name] = f;
    };
    checks('days', t('days'), DAYS, (d) => t('days_short')[d]);
    checks('age', t('age'), AGES, (a) => a);
    checks('gender', t('gender'), GENDERS, (g) => t('gender_names')[g]);
    checks('spend', t('spend'), SPENDS, (v) => t('spend_names')[v]);

    // Who: places and countries by name; the URL holds their codes.
    const who = fs(t('origin'), 'who');
    const nat = input(who, 'nationality', 'text', t('nationality'), t('nationalityHint'));
    nat.setAttribute('list', 'countries');
    const dl = document.createElement('datalist');
    dl.id = 'countries';
    this.countryList = countries(this.state.lang);
    for (const c of this.countryList) dl.append(new Option(c.name, undefined));
    who.append(dl);
    nat.addEventListener('change', () => {
      const v = nat.value.trim();
      if (!v) return this.setFilter('nationality', '', nat);
      const codes = [];
      for (const part of v.split(',').map((x) => x.trim()).filter(Boolean)) {
        const c = this.countryList.find((x) => x.name.toLowerCase() === part.toLowerCase() || x.code === part.toUpperCase());
        if (!c) return this.invalid(nat, t('nationalityUnknown'));
        codes.push(c.code);
      }
      this.setFilter('nationality', codes.join(','), nat);
    });
    const org = input(who, 'origin', 'text', t('origin'), t('originHint'));
    org.setAttribute('list', 'places');
    const pl = document.createElement('datalist');
    pl.id = 'places';
    who.append(pl);
    let typing = 0;
    org.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.suggestPlaces(org.value, pl), 150);
    });
    org.addEventListener('change', () => this.chooseOrigin(org));

    const zf = fs(t('zone'), 'zone');
    const zsel = document.createElement('select');
    zsel.name = 'zone';
    zsel.id = 'f-zone';
    zsel.setAttribute('aria-label', t('zone'));
    zsel.append(new Option(t('allZones'), ''));
    for (const z of this.zones) zsel.append(new Option(z.name, z.code));
    zsel.addEventListener('change', () => this.setFilter('zone', zsel.value));
    zf.append(zsel);
    this.controls.zone = zsel;

    const lf = fs(t('layers'), 'layers');
    for (const l of LAYERS) {
      const lab = document.createElement('label');
      const i = document.createElement('input');
      i.type = 'checkbox';
      i.name = 'layer';
      i.value = l;
      i.addEventListener('change', () => {
        const on = [...lf.querySelectorAll('input:checked')].map((x) => x.value);
        this.update({ layers: LAYERS.filter((x) => on.includes(x)) });
      });
      lab.append(i, ' ' + t('layer_' + l));
      lf.append(lab);
    }
    this.controls.layers = lf;

    const cf = fs(t('compare'), 'compare');
    const cmpOn = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.name = 'compare';
    cb.id = 'f-compare';
    cmpOn.append(cb, ' ' + t('compare'));
    cf.append(cmpOn);
    const cfrom = input(cf, 'compare_from', 'date', t('compareFrom'));
    const cto = input(cf, 'compare_to', 'date', t('compareTo'));
    this.controls.compare = cb;
    cb.addEventListener('change', () => {
      if (!cb.checked) return this.update({ compare: null });
      this.update(this.defaultComparison());
    });
    const setCmp = () => {
      if (cfrom.value && cto.value) this.update({ compare: { from: cfrom.value, to: cto.value } });
    };
    cfrom.addEventListener('change', setCmp);
    cto.addEventListener('change', setCmp);

    const reset = document.createElement('button');
    reset.type = 'button';
    reset.id = 'reset';
    reset.textContent = t('reset');
    reset.addEventListener('click', () => {
      this.stopAnimation();
      this.update({ filters: {}, compare: null, sel: '' });
    });
    form.append(reset);
    this.buildPresets();
  }

  // syncControls shows in the form exactly the filter of the state (the
  // URL): after a reset, back/forward, a preset or a refused value alike.
  syncControls() {
    const c = this.controls;
    if (!c) return;
    const s = this.state;
    const f = s.filters;
    for (const name of ['from', 'to', 'hours']) {
      c[name].value = f[name] ?? '';
      c[name].removeAttribute('aria-invalid');
    }
    const h = f.hours && /^\d{1,2}$/.test(f.hours) ? Number(f.hours) : -1;
    c.hour.value = String(h);
    c.hourOut.textContent = h < 0 ? (f.hours ? f.hours : this.t('hourAll')) : `${String(h).padStart(2, '0')}:00`;
    for (const name of ['days', 'age', 'gender', 'spend']) {
      const cur = new Set((f[name] ?? '').split(',').filter(Boolean));
      for (const i of c[name].querySelectorAll('input')) i.checked = cur.has(i.value);
    }
    for (const i of c.layers.querySelectorAll('input')) i.checked = s.layers.includes(i.value);
    c.zone.value = f.zone ?? '';
    if (c.zone.value !== (f.zone ?? '')) {
      c.zone.append(new Option(f.zone, f.zone));
      c.zone.value = f.zone;
    }
    c.nationality.value = (f.nationality ?? '').split(',').filter(Boolean).map((x) => countryName(s.lang, x)).join(', ');
    c.nationality.removeAttribute('aria-invalid');
    c.origin.removeAttribute('aria-invalid');
    this.showOriginNames();
    c.compare.checked = !!s.compare;
    c.compare_from.value = s.compare?.from ?? '';
    c.compare_to.value = s.compare?.to ?? '';
    c.compare_from.disabled = c.compare_to.disabled = !s.compare;
    c.preset.value = '';
  }

  // showOriginNames writes the origin filter's places by name.
  async showOriginNames() {
    const input = this.controls.origin;
    const codes = (this.state.filters.origin ?? '').split(',').filter(Boolean);
    const name = (code) => this.names.get(code)?.name ?? code;
    const missing = codes.filter((code) => !this.names.has(code));
    if (missing.length) {
      try {
        const r = await fetch(at('/api/places?code=' + encodeURIComponent(missing.join(','))));
        for (const p of (await r.json()).places ?? []) this.names.set(p.code, p);
      } catch { /* codes stay */ }
    }
    if (codes.join(',') === (this.state.filters.origin ?? '')) input.value = codes.map(name).join(', ');
  }

  // suggestPlaces fills the origin list with the places matching a name.
  async suggestPlaces(text, list) {
    const q = text.split(',').pop().trim();
    if (q.length < 2) return;
    try {
      const r = await fetch(at('/api/places?limit=12&q=' + encodeURIComponent(q)));
      const places = (await r.json()).places ?? [];
      const t = this.t;
      this.suggested = places;
      list.replaceChildren(...places.map((p) => {
        this.names.set(p.code, p);
        return new Option(`${p.name} (${t('level_' + p.level)}${p.within ? ', ' + p.within : ''})`, undefined);
      }));
    } catch { /* no suggestions */ }
  }

  // chooseOrigin turns the names typed (or picked) into codes.
  async chooseOrigin(input) {
    const t = this.t;
    const text = input.value.trim();
    if (!text) return this.setFilter('origin', '', input);
    const codes = [];
    for (const part of text.split(/,(?![^()]*\))/).map((x) => x.trim()).filter(Boolean)) {
      const bare = part.replace(/\s*\(.*\)$/, '');
      let hit = [...this.names.values()].find((p) => part === `${p.name} (${t('level_' + p.level)}${p.within ? ', ' + p.within : ''})`);
      if (!hit) {
        try {
          const r = await fetch(at('/api/places?limit=5&q=' + encodeURIComponent(bare)));
          const ps = (await r.json()).places ?? [];
          hit = ps.find((p) => p.name.toLowerCase() === bare.toLowerCase() || p.code === bare.toUpperCase()) ?? null;
          if (hit) this.names.set(hit.code, hit);
        } catch { /* below */ }
      }
      if (!hit) return this.invalid(input, t('originUnknown'));
      codes.push(hit.code);
    }
    this.setFilter('origin', codes.join(','), input);
  }

  // Date presets: the last week or month with data, a year before, and the
  // town's events compared with the weekend before or after.
  buildPresets() {
    const sel = this.controls?.preset;
    if (!sel) return;
    const t = this.t;
    const opts = [['', t('presetNone')], ['all', t('presetAll')]];
    if (this.available) opts.push(['week', t('presetWeek')], ['month', t('presetMonth')]);
    if (this.state.filters.from && this.state.filters.to) opts.push(['year', t('presetLastYear')]);
    this.events.forEach((ev, i) => {
      opts.push([`event-before:${i}`, t('presetEventBefore', { name: ev.name })]);
      opts.push([`event-after:${i}`, t('presetEventAfter', { name: ev.name })]);
    });
    sel.replaceChildren(...opts.map(([v, l]) => new Option(l, v)));
    sel.value = '';
  }

  applyPreset(v) {
    const f = { ...this.state.filters };
    const a = this.available;
    if (v === 'all') {
      delete f.from;
      delete f.to;
      return this.update({ filters: f, compare: null });
    }
    if (v === 'week' && a) {
      // the last whole week (Monday to Sunday) with data
      const end = new Date(a.to + 'T00:00:00Z');
      const back = (end.getUTCDay() + 7) % 7; // days since Sunday
      const sun = shiftDays(a.to, back === 0 ? 0 : -back);
      return this.update({ filters: { ...f, from: shiftDays(sun, -6), to: sun }, compare: null });
    }
    if (v === 'month' && a) {
      let [y, m] = a.to.split('-').map(Number);
      const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
      if (last !== a.to) { m -= 1; if (m === 0) { m = 12; y -= 1; } }
      const from = `${y}-${String(m).padStart(2, '0')}-01`;
      const to = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
      return this.update({ filters: { ...f, from, to }, compare: null });
    }
    if (v === 'year' && f.from && f.to) {
      return this.update({ compare: { from: shiftYears(f.from, -1), to: shiftYears(f.to, -1) } });
    }
    const m = /^event-(before|after):(\d+)$/.exec(v);
    if (m) {
      const ev = this.events[Number(m[2])];
      const off = m[1] === 'before' ? -7 : 7;
      return this.update({ filters: { ...f, from: ev.from, to: ev.to }, compare: { from: shiftDays(ev.from, off), to: shiftDays(ev.to, off) } });
    }
  }

  // defaultComparison fills both comparison dates when "compare" is
  // ticked: the period before the one shown, or, with no period, the last
  // four weeks of data against the four before.
  defaultComparison() {
    const f = this.state.filters;
    const p = previousPeriod(f.from, f.to);
    if (p) return { compare: p };
    const end = this.available?.to ?? new Date().toISOString().slice(0, 10);
    const from = shiftDays(end, -27);
    return { filters: { ...f, from, to: end }, compare: { from: shiftDays(from, -28), to: shiftDays(from, -1) } };
  }

  animate() {
    this.animating = true;
    this.controls.play.textContent = this.t('pause');
    this.controls.play.setAttribute('aria-pressed', 'true');
    let h = Number(this.controls.hour.value);
    const step = () => {
      if (!this.animating) return;
      h = h >= 23 ? 0 : h + 1;
      this.setFilter('hours', String(h), null, { replace: true });
      // the next hour once this one is drawn (and at least a second later)
      const next = () => { this.animTimer = setTimeout(step, 1000); };
      this.map.once('idle', next);
    };
    step();
  }

  stopAnimation() {
    if (!this.animating) return;
    this.animating = false;
    clearTimeout(this.animTimer);
    this.controls.play.textContent = this.t('play');
    this.controls.play.setAttribute('aria-pressed', 'false');
  }

  // invalid marks a control whose value was refused, saying why.
  invalid(input, message) {
    input.setAttribute('aria-invalid', 'true');
    this.status(message, true);
  }

  // setFilter checks a filter value with the server (TileJSON validates
  // filters) before it reaches the tiles, so a bad value is reported next
  // to its control in words instead of as failed tiles.
  async setFilter(name, value, input, opts) {
    const filters = { ...this.state.filters };
    if (value) filters[name] = value;
    else delete filters[name];
    if (input) input.removeAttribute('aria-invalid');
    if (value && ['from', 'to', 'origin', 'nationality'].includes(name)) {
      let r;
      try {
        r = await fetch(at('/tiles/density.json?' + filterQuery(filters)));
      } catch {
        return this.status(this.t('serverBusy'), true);
      }
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        if (input) input.setAttribute('aria-invalid', 'true');
        const what = this.t(body.param ?? name);
        this.status(this.t('badFilter', { what: `${what.toLowerCase()} «${value}»` }), true);
        return;
      }
    }
    this.update({ filters }, opts);
  }

  legend() {
    const t = this.t;
    const s = this.state;
    if (!this.map) return;
    const nf = numberFormat(s.lang, { maximumFractionDigits: 0 });
    const pf = numberFormat(s.lang, { style: 'percent', maximumFractionDigits: 0, signDisplay: 'exceptZero' });
    const root = $('legend-body');
    root.replaceChildren();
    const note = (text, cls) => {
      const p = document.createElement('p');
      p.className = cls;
      p.textContent = text;
      root.append(p);
      return p;
    };
    note(t('legendPeriod', { p: this.periodText() }), 'legend-period');
    const block = (title, scale, labels, extra) => {
      const d = document.createElement('div');
      d.className = 'legend-block';
      const h = document.createElement('h3');
      h.textContent = title;
      d.append(h);
      const ul = document.createElement('ul');
      scale.colors.forEach((c, i) => {
        const li = document.createElement('li');
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = c;
        li.append(sw, labels[i]);
        ul.append(li);
      });
      if (extra) for (const x of extra) ul.append(x);
      d.append(ul);
      root.append(d);
      return d;
    };
    const hatch = () => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch hatch';
      sw.style.background = hatchCSS;
      li.append(sw, t('suppressed', { k: this.k }));
      li.title = t('suppressedExplain', { k: this.k });
      return li;
    };
    const lat = this.map.getCenter().lat;
    const cell = Math.round(cellSize(this.map.getZoom(), lat) / 5) * 5;
    if (s.layers.includes('density')) {
      if (s.compare) {
        const abs = this.absoluteDiff();
        const sc = abs ? DIFF_ABS : DIFF;
        const labels = abs ? classLabels(sc, (n) => nf.format(n)) : classLabels(sc, (n) => pf.format(n));
        const d = block(abs ? t('legendDiffAbs') : t('legendDiff'), sc, labels, [hatch()]);
        const f = s.filters;
        const p = document.createElement('p');
        p.className = 'legend-periods';
        p.textContent = `${f.from ?? '…'} → ${f.to ?? '…'}  vs  ${s.compare.from} → ${s.compare.to}`;
        d.insertBefore(p, d.children[1]);
      } else {
        block(t('legendDensity'), DENSITY, classLabels(DENSITY, (n) => nf.format(n), this.k), [hatch()]);
        note(t('legendHeat'), 'muted small');
      }
      note(t('cellSize', { m: nf.format(cell) }), 'legend-cell small');
    }
    if (s.layers.includes('origins')) {
      const of = numberFormat(s.lang, { maximumFractionDigits: 1 });
      block(t('legendOrigins'), ORIGINS, classLabels(ORIGINS, (n) => of.format(n), 0), [hatch()]);
    }
    if (s.layers.includes('flows')) note(t('legendFlows'), 'legend-flows');
    if (s.layers.includes('zones')) note(t('legendZones'), 'legend-zones');
    note(t('suppressedExplain', { k: this.k }), 'muted small');
  }

  // snapshot puts an image of the map in the page for printing (a canvas
  // does not print reliably).
  snapshot() {
    // the printed report shows what folds on screen
    $('legend').open = true;
    openDefinitions();
    const img = $('print-map');
    try {
      img.src = this.map.getCanvas().toDataURL('image/png');
      img.alt = `${this.t('mapAlt')}: ${this.periodText()}`;
    } catch { /* a tainted canvas: the print has no map */ }
    $('print-head').textContent = `${this.t('reportTitle')} · ${this.periodText()}`;
    $('print-foot').textContent = this.t('reportMade', { d: dateText(this.state.lang, new Date()) });
  }

  // exportPNG saves the map with its title, period, legend and credits.
  async exportPNG() {
    const src = this.map.getCanvas();
    const dpr = src.width / src.clientWidth || 1;
    const W = src.width;
    const head = Math.round(56 * dpr);
    const foot = Math.round(28 * dpr);
    const c = document.createElement('canvas');
    c.width = W;
    c.height = src.height + head + foot;
    const g = c.getContext('2d');
    g.fillStyle = '#ffffff';
    g.fillRect(0, 0, c.width, c.height);
    g.drawImage(src, 0, head);
    g.fillStyle = '#1d2327';
    g.font = `600 ${Math.round(18 * dpr)}px system-ui, sans-serif`;
    g.fillText(this.t('title'), 12 * dpr, 24 * dpr);
    g.font = `${Math.round(13 * dpr)}px system-ui, sans-serif`;
    g.fillText(this.t('legendPeriod', { p: this.periodText() }), 12 * dpr, 44 * dpr);
    // legend swatches, top right
    if (this.state.layers.includes('density') && !this.state.compare) {
      const nf = numberFormat(this.state.lang, { maximumFractionDigits: 0 });
      const labels = classLabels(DENSITY, (n) => nf.format(n), this.k);
      let x = W - 12 * dpr;
      for (let i = DENSITY.colors.length - 1; i >= 0; i--) {
        const w = g.measureText(labels[i]).width + 26 * dpr;
        x -= w;
        g.fillStyle = DENSITY.colors[i];
        g.fillRect(x, 14 * dpr, 16 * dpr, 12 * dpr);
        g.fillStyle = '#1d2327';
        g.fillText(labels[i], x + 20 * dpr, 25 * dpr);
      }
    }
    g.fillStyle = '#4d5960';
    g.font = `${Math.round(11 * dpr)}px system-ui, sans-serif`;
    g.fillText(`ISTAT (CC BY 4.0) · Natural Earth · flowtiles · ${dateText(this.state.lang, new Date())}`, 12 * dpr, c.height - 9 * dpr);
    const url = c.toDataURL('image/png');
    const a = document.createElement('a');
    a.href = url;
    a.download = `flowtiles-${new Date().toISOString().slice(0, 10)}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    return url;
  }
}

// bbox returns [w, s, e, n] of a GeoJSON geometry.
function bbox(g) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      w = Math.min(w, c[0]); e = Math.max(e, c[0]);
      s = Math.min(s, c[1]); n = Math.max(n, c[1]);
    } else c.forEach(walk);
  };
  walk(g.coordinates);
  return [w, s, e, n];
}

new Planner().start().catch((err) => {
  const el = document.getElementById('status');
  el.textContent = translator(new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'it')('serverBusy');
  el.classList.add('error');
  throw err;
});
