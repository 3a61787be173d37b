// The planner explorer at /: density bins and heatmap, origins choropleth,
// flows, zones; every filter; a comparison of two periods as a difference
// map; a side panel of figures from /api/stats. The query string holds the
// whole state (state.js); the map style is built here (plannerstyle.js).
import * as maplibregl from '/static/vendor/maplibre-gl/maplibre-gl.mjs';
import { translator, numberFormat } from './i18n.js';
import {
  parseState, stateQuery, filterQuery, validHours, periodDays,
  DAYS, AGES, GENDERS, SPENDS, LAYERS,
} from './state.js';
import { plannerStyle, tileURL, TOGGLE, HATCH, diffColor, densityColor } from './plannerstyle.js';
import { DENSITY, ORIGINS, DIFF, DIFF_ABS, classLabels, hatchImage, hatchCSS } from './scales.js';
import { Panel } from './panel.js';
import { LiveFeed } from './live.js';

const $ = (id) => document.getElementById(id);

class Planner {
  constructor() {
    this.state = parseState(location.search);
    this.zones = [];
    this.town = null; // data bounds "w,s,e,n"
    this.k = 15;
    this.diff = { bins: 0, changed: 0, sig: '' };
    this.applied = {}; // tile queries in use
  }

  async start() {
    // The live feed names the zones (code and name) in its first event and
    // announces new data (tiles events): the maps and the panel refetch.
    const zonesReady = new Promise((resolve) => {
      this.zonesReady = resolve;
      setTimeout(() => resolve([]), 8000);
    });
    this.feed = new LiveFeed('/api/live', {
      onLive: (d) => {
        this.zonesReady((d.zones ?? []).map((z) => ({ code: z.zone, name: z.name })));
        this.dataVersion(d.data_version);
      },
      onTiles: (d) => this.dataVersion(d.data_version),
    });
    this.feed.start();
    const [tj, zones] = await Promise.all([
      fetch('/tiles/density.json').then((r) => r.json()).catch(() => null),
      zonesReady,
    ]);
    this.zones = zones;
    const b = tj?.bounds ?? [12.41, 42.974, 12.424, 42.991];
    this.town = b.join(',');
    const c = tj?.center ?? [12.4172, 42.9828];
    this.center = [c[0], c[1]];
    const s = this.state;
    this.t = translator(s.lang);
    this.t.lang = s.lang;
    this.panel = new Panel($('panel'), { t: this.t, lang: s.lang, onClose: () => this.select('') });
    this.buildControls();
    this.map = new maplibregl.Map({
      container: 'map',
      style: plannerStyle({ ...this.queries(), center: [s.lon ?? this.center[0], s.lat ?? this.center[1]], zoom: s.z, attribution: tj?.attribution }),
      attributionControl: { compact: true },
      maxZoom: 19,
    });
    this.applied = this.queries();
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
    // The hatch of withheld cells is drawn on a canvas, not in a sprite.
    this.map.setMissingStyleImageResolver((id) => {
      if (id === HATCH && !this.map.hasImage(HATCH)) this.map.addImage(HATCH, hatchImage());
    });
    // A tile the server refuses (a bad filter) is reported in the status
    // line; MapLibre logs errors to the console only without a listener.
    this.map.on('error', (e) => this.status(`${this.t('error')}: ${e.error?.message ?? e.error ?? ''}`, true));
    this.map.on('moveend', () => {
      const ctr = this.map.getCenter();
      this.state.z = this.map.getZoom();
      this.state.lat = ctr.lat;
      this.state.lon = ctr.lng;
      history.replaceState(null, '', '?' + stateQuery(this.state));
    });
    this.map.on('click', (e) => this.click(e));
    for (const id of ['density-bins', 'density-suppressed', 'zones-fill', 'origins-fill', 'origins-suppressed']) {
      this.map.on('mouseenter', id, () => { this.map.getCanvas().style.cursor = 'pointer'; });
      this.map.on('mouseleave', id, () => { this.map.getCanvas().style.cursor = ''; });
    }
    let pending = 0;
    const schedule = () => {
      clearTimeout(pending);
      pending = setTimeout(() => this.computeDiff(), 120);
    };
    this.map.on('sourcedata', (e) => {
      if ((e.sourceId === 'density' || e.sourceId === 'density_cmp') && e.isSourceLoaded) schedule();
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
    $('toggle-sidebar').addEventListener('click', () => {
      const open = document.body.classList.toggle('sidebar-closed') === false;
      $('toggle-sidebar').setAttribute('aria-expanded', String(open));
      setTimeout(() => this.map.resize(), 50);
    });
    if (matchMedia('(max-width: 760px)').matches) document.body.classList.add('sidebar-closed');
    await new Promise((r) => this.map.once('load', r));
    this.apply({ initial: true });
    this.started = true;
    window.flowtiles = this; // for tests and the curious
  }

  // dataVersion notes the data version of the server. The first one seen
  // is the baseline; a newer one adds v=N to the tile URLs (tiles of an
  // open window are cacheable for a while) and reloads the panel.
  dataVersion(v) {
    if (typeof v !== 'number') return;
    if (this.baseVersion === undefined) {
      this.baseVersion = v;
      return;
    }
    if (v === this.baseVersion || v === this.version) return;
    this.version = v;
    if (this.started) this.apply({});
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
  update(patch) {
    Object.assign(this.state, patch);
    history.pushState(null, '', '?' + stateQuery(this.state));
    this.apply({});
  }

  // apply brings the page in line with this.state.
  apply({ fromHistory, initial }) {
    const s = this.state;
    if (this.t.lang !== s.lang) {
      this.t = translator(s.lang);
      this.t.lang = s.lang;
      this.panel.t = this.t;
      this.panel.lang = s.lang;
      this.buildControls();
    } else if (fromHistory) {
      this.buildControls();
    }
    document.documentElement.lang = s.lang;
    document.title = this.t('title');
    $('title').textContent = this.t('title');
    $('lang').textContent = this.t('language');
    $('share').textContent = this.t('share');
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
    }
    this.applied = q;
    // Layer toggles.
    for (const [id, toggle] of Object.entries(TOGGLE)) {
      let on = s.layers.includes(toggle);
      if (id === 'density-cmp' || id === 'density-withheld') on = on && comparing;
      m.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
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

  click(e) {
    const m = this.map;
    const layers = ['density-bins', 'density-suppressed', 'zones-fill', 'origins-fill', 'origins-suppressed']
      .filter((id) => m.getLayoutProperty(id, 'visibility') !== 'none');
    const feats = m.queryRenderedFeatures(e.point, { layers });
    const pick = (prefix) => feats.find((f) => f.layer.id.startsWith(prefix));
    const bin = pick('density');
    const zone = pick('zones');
    const origin = pick('origins');
    if (bin) {
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
    this.update({ sel });
  }

  showSelection() {
    const s = this.state;
    this.highlight();
    const key = [s.sel, filterQuery(s.filters), JSON.stringify(s.compare), s.lang, this.version].join('|');
    if (key === this.shownKey) return;
    this.shownKey = key;
    if (!s.sel) return this.panel.close();
    const [kind, ...rest] = s.sel.split(':');
    const t = this.t;
    let title = t('panelTitle');
    if (kind === 'bin') title = t('areaBin');
    else if (kind === 'zone') title = `${t('areaZone')}: ${this.zones.find((z) => z.code === rest[0])?.name ?? rest[0]}`;
    else if (kind === 'origin') title = `${t('areaOrigin')}: ${rest.slice(2).join(':') || rest[1]}`;
    const sel = kind === 'origin' ? `origin:${rest[0]}:${rest[1]}` : s.sel;
    this.panel.show(sel, title, s.filters, s.compare, this.town);
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

  status(text, isError) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('error', !!isError);
    clearTimeout(this.statusTimer);
    this.statusTimer = setTimeout(() => { el.textContent = ''; }, isError ? 8000 : 2500);
  }

  // buildControls (re)draws the filter form from the state.
  buildControls() {
    const t = this.t;
    const s = this.state;
    const form = $('filters');
    form.replaceChildren();
    form.onsubmit = (e) => e.preventDefault();
    const h = document.createElement('h2');
    h.textContent = t('filters');
    form.append(h);

    const fs = (legend, cls) => {
      const f = document.createElement('fieldset');
      f.className = cls ?? '';
      const l = document.createElement('legend');
      l.textContent = legend;
      f.append(l);
      form.append(f);
      return f;
    };
    const input = (parent, name, type, label, value, hint) => {
      const lab = document.createElement('label');
      lab.textContent = label;
      const i = document.createElement('input');
      i.type = type;
      i.name = name;
      i.id = 'f-' + name;
      i.value = value ?? '';
      if (hint) i.placeholder = hint;
      lab.append(i);
      parent.append(lab);
      return i;
    };
    const period = fs(t('period'), 'period');
    const from = input(period, 'from', 'date', t('from'), s.filters.from);
    const to = input(period, 'to', 'date', t('to'), s.filters.to);
    const hours = input(period, 'hours', 'text', t('hours'), s.filters.hours, t('hoursHint'));
    for (const [i, name] of [[from, 'from'], [to, 'to']]) {
      i.addEventListener('change', () => this.setFilter(name, i.value, i));
    }
    hours.addEventListener('change', () => {
      const v = hours.value.replace(/\s+/g, '');
      if (!validHours(v)) return this.invalid(hours, t('hoursHint'));
      this.setFilter('hours', v, hours);
    });

    const checks = (name, legend, values, label) => {
      const f = fs(legend, 'checks ' + name);
      const cur = new Set((s.filters[name] ?? '').split(',').filter(Boolean));
      for (const v of values) {
        const lab = document.createElement('label');
        const i = document.createElement('input');
        i.type = 'checkbox';
        i.name = name;
        i.value = v;
        i.checked = cur.has(v);
        i.addEventListener('change', () => {
          const sel = [...f.querySelectorAll('input:checked')].map((x) => x.value);
          this.setFilter(name, sel.join(','));
        });
        lab.append(i, ' ' + label(v));
        f.append(lab);
      }
    };
    checks('days', t('days'), DAYS, (d) => t('days_short')[d]);
    checks('age', t('age'), AGES, (a) => a);
    checks('gender', t('gender'), GENDERS, (g) => t('gender_names')[g]);
    checks('spend', t('spend'), SPENDS, (v) => t('spend_names')[v]);

    const who = fs(t('origin'), 'who');
    const nat = input(who, 'nationality', 'text', t('nationality'), s.filters.nationality, t('nationalityHint'));
    nat.addEventListener('change', () => {
      const v = nat.value.toUpperCase().replace(/\s+/g, '');
      if (v && !/^[A-Z]{2}(,[A-Z]{2})*$/.test(v)) return this.invalid(nat, t('nationalityHint'));
      this.setFilter('nationality', v, nat);
    });
    const org = input(who, 'origin', 'text', t('origin'), s.filters.origin, t('originHint'));
    org.addEventListener('change', () => this.setFilter('origin', org.value.toUpperCase().replace(/\s+/g, ''), org));

    const zf = fs(t('zone'), 'zone');
    const zsel = document.createElement('select');
    zsel.name = 'zone';
    zsel.id = 'f-zone';
    zsel.setAttribute('aria-label', t('zone'));
    const all = new Option(t('allZones'), '');
    zsel.append(all);
    for (const z of this.zones) zsel.append(new Option(z.name, z.code));
    zsel.value = s.filters.zone ?? '';
    zsel.addEventListener('change', () => this.setFilter('zone', zsel.value));
    zf.append(zsel);

    const lf = fs(t('layers'), 'layers');
    for (const l of LAYERS) {
      const lab = document.createElement('label');
      const i = document.createElement('input');
      i.type = 'checkbox';
      i.name = 'layer';
      i.value = l;
      i.checked = s.layers.includes(l);
      i.addEventListener('change', () => {
        const on = [...lf.querySelectorAll('input:checked')].map((x) => x.value);
        this.update({ layers: LAYERS.filter((x) => on.includes(x)) });
      });
      lab.append(i, ' ' + t('layer_' + l));
      lf.append(lab);
    }

    const cf = fs(t('compare'), 'compare');
    const cmpOn = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.name = 'compare';
    cb.checked = !!s.compare;
    cmpOn.append(cb, ' ' + t('compare'));
    cf.append(cmpOn);
    const cfrom = input(cf, 'compare_from', 'date', t('compareFrom'), s.compare?.from);
    const cto = input(cf, 'compare_to', 'date', t('compareTo'), s.compare?.to);
    cfrom.disabled = cto.disabled = !s.compare;
    cb.addEventListener('change', () => {
      if (!cb.checked) return this.update({ compare: null });
      const p = previousPeriod(this.state.filters.from, this.state.filters.to);
      cfrom.disabled = cto.disabled = false;
      if (p) this.update({ compare: p });
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
    reset.addEventListener('click', () => this.update({ filters: {}, compare: null, sel: '' }));
    form.append(reset);
  }

  invalid(input, hint) {
    input.setAttribute('aria-invalid', 'true');
    this.status(`${this.t('error')}: ${input.name} (${hint})`, true);
  }

  // setFilter checks a filter value with the server (TileJSON validates
  // filters) before it reaches the tiles, so a bad value is reported next
  // to its control instead of as failed tiles.
  async setFilter(name, value, input) {
    const filters = { ...this.state.filters };
    if (value) filters[name] = value;
    else delete filters[name];
    if (input) input.removeAttribute('aria-invalid');
    if (value && ['from', 'to', 'origin', 'nationality'].includes(name)) {
      const r = await fetch('/tiles/density.json?' + filterQuery(filters));
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        if (input) input.setAttribute('aria-invalid', 'true');
        this.status(`${this.t('error')}: ${body.error ?? r.status}`, true);
        return;
      }
    }
    this.update({ filters });
  }

  legend() {
    const t = this.t;
    const s = this.state;
    const nf = numberFormat(s.lang, { maximumFractionDigits: 0 });
    const pf = numberFormat(s.lang, { style: 'percent', maximumFractionDigits: 0, signDisplay: 'exceptZero' });
    const root = $('legend');
    root.replaceChildren();
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
    if (s.layers.includes('density')) {
      if (s.compare) {
        const abs = this.absoluteDiff();
        const sc = abs ? DIFF_ABS : DIFF;
        const labels = abs ? classLabels(sc, (n) => nf.format(n)) : classLabels(sc, (n) => pf.format(n));
        block(abs ? t('legendDiffAbs') : t('legendDiff'), sc, labels, [hatch()]);
        const f = s.filters;
        const p = document.createElement('p');
        p.className = 'legend-periods';
        p.textContent = `${f.from ?? '…'} → ${f.to ?? '…'}  vs  ${s.compare.from} → ${s.compare.to}`;
        root.lastChild.insertBefore(p, root.lastChild.children[1]);
      } else {
        block(t('legendDensity'), DENSITY, classLabels(DENSITY, (n) => nf.format(n), this.k), [hatch()]);
        const p = document.createElement('p');
        p.className = 'muted small';
        p.textContent = t('legendHeat');
        root.append(p);
      }
    }
    if (s.layers.includes('origins')) {
      const of = numberFormat(s.lang, { maximumFractionDigits: 1 });
      block(t('legendOrigins'), ORIGINS, classLabels(ORIGINS, (n) => of.format(n), 0), [hatch()]);
    }
    if (s.layers.includes('flows')) {
      const p = document.createElement('p');
      p.className = 'legend-flows';
      p.textContent = t('legendFlows');
      root.append(p);
    }
    if (s.layers.includes('zones')) {
      const p = document.createElement('p');
      p.className = 'legend-zones';
      p.textContent = t('legendZones');
      root.append(p);
    }
    const p = document.createElement('p');
    p.className = 'muted small';
    p.textContent = t('suppressedExplain', { k: this.k });
    root.append(p);
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

// previousPeriod returns the period of the same length just before from–to.
function previousPeriod(from, to) {
  const days = periodDays(from, to);
  if (!days || !/^\d{4}-\d{2}-\d{2}$/.test(from)) return null;
  const d = (s, off) => {
    const x = new Date(s + 'T00:00:00Z');
    x.setUTCDate(x.getUTCDate() + off);
    return x.toISOString().slice(0, 10);
  };
  return { from: d(from, -days), to: d(from, -1) };
}

new Planner().start().catch((err) => {
  document.getElementById('status').textContent = String(err);
  throw err;
});
