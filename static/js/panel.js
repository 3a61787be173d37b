// The side panel: figures from /api/stats about the selected bin, zone or
// origin, as small charts, with a CSV download of the same figures. Every
// number says what area and period it covers, and every measure is defined
// where it appears.
import { barChart, shareBars, figure } from './charts.js';
import { AGES, GENDERS } from './state.js';
import { numberFormat, countryName } from './i18n.js';
import { at } from './base.js';

// statsQuery is the /api/stats query of a selection under the filters. A
// selection is "bin:ID:w,s,e,n", "zone:CODE" or "origin:LEVEL:CODE"; town is
// the bbox of the whole data, the area of origin selections.
export function statsQuery(sel, filters, compare, town) {
  const q = new URLSearchParams();
  const [kind, ...rest] = sel.split(':');
  const arg = rest.join(':');
  if (kind === 'bin') q.set('bbox', arg.split(':').pop()); // bin:ID:w,s,e,n
  else if (kind === 'zone') q.set('zone', arg);
  else if (kind === 'origin' || kind === 'town') q.set('bbox', town);
  else return null;
  // zone is an area on /api/stats, not a filter: a zone filter makes the
  // zone the area of origin and town selections, and is left out for bins
  // and zones.
  for (const [k, v] of Object.entries(filters)) if (k !== 'zone') q.set(k, v);
  if ((kind === 'origin' || kind === 'town') && filters.zone) {
    q.delete('bbox');
    q.set('zone', filters.zone);
  }
  if (kind === 'origin') {
    const [level, code] = arg.split(':');
    if (level === 'country') q.set('nationality', code);
    else q.set('origin', code);
  }
  if (compare && filters.from && filters.to) {
    q.set('compare_from', compare.from);
    q.set('compare_to', compare.to);
  }
  return q;
}

// StatsError is a failed /api/stats request, in words a planner reads.
export class StatsError extends Error {
  constructor(kind, param) {
    super(kind);
    this.kind = kind; // 'filter' or 'server'
    this.param = param;
  }
}

// getStats fetches /api/stats?q&by (by may be empty).
export async function getStats(q, by, signal) {
  const qq = new URLSearchParams(q);
  if (by) qq.set('by', by);
  let r;
  try {
    r = await fetch(at('/api/stats?' + qq), { signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new StatsError('server');
  }
  const body = await r.json().catch(() => ({}));
  if (r.status === 400) throw new StatsError('filter', body.param);
  if (!r.ok) throw new StatsError('server');
  return body;
}

// errorText is what a planner reads about a failed request.
export function errorText(t, err) {
  if (err instanceof StatsError && err.kind === 'filter') return t('badFilter', { what: t(err.param) === err.param ? err.param : t(err.param) });
  return t('serverBusy');
}

// definitionsOpen is whether the definitions are unfolded: the panel is
// rebuilt whenever an answer arrives, and a block the reader (or the print
// report) opened stays open in the next one.
let definitionsOpen = false;

// openDefinitions unfolds the definitions, now and in every later panel.
export function openDefinitions() {
  definitionsOpen = true;
  for (const d of document.querySelectorAll('details.definitions')) d.open = true;
}

// definitions lists the measures' definitions (a <details> block).
export function definitions(t, keys = ['presences', 'visitors', 'visits', 'dwell', 'repeat']) {
  const d = document.createElement('details');
  d.className = 'definitions';
  d.open = definitionsOpen;
  d.addEventListener('toggle', () => { if (d.isConnected) definitionsOpen = d.open; });
  const s = document.createElement('summary');
  s.textContent = t('definitions');
  d.append(s);
  const dl = document.createElement('dl');
  for (const k of keys) {
    const [term, ...rest] = t('def_' + k).split(': ');
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = rest.join(': ');
    dl.append(dt, dd);
  }
  d.append(dl);
  return d;
}

// figureList draws labelled totals: items are [label, key, unit, defKey].
export function figureList(total, change, items, { t, lang, k, extra }) {
  const nf = numberFormat(lang, { maximumFractionDigits: 1 });
  const pf = numberFormat(lang, { style: 'percent', maximumFractionDigits: 0, signDisplay: 'exceptZero' });
  const dl = document.createElement('dl');
  dl.className = 'figures';
  for (const [label, key, unit, def] of items) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    if (def) dt.title = t('def_' + def);
    const dd = document.createElement('dd');
    const v = typeof key === 'function' ? key() : figure(total, key);
    if (v === null || v === undefined) {
      dd.className = 'suppressed';
      dd.textContent = t('suppressedShort', { k });
    } else {
      dd.textContent = (unit === '%' ? pf.format(v).replace(/^\+/, '') : nf.format(v)) + (unit && unit !== '%' ? ` ${unit}` : '');
      for (const [ch, note] of [[change?.[key], t('vsPrevious')], [extra?.[key], t('vsYear')]]) {
        if (ch && typeof ch.relative === 'number') {
          const s = document.createElement('span');
          s.className = 'chg ' + (ch.relative >= 0 ? 'up' : 'down');
          s.textContent = ` ${pf.format(ch.relative)}`;
          s.title = note;
          dd.append(s);
        }
      }
    }
    dd.dataset.key = typeof key === 'string' ? key : label;
    dl.append(dt, dd);
  }
  return dl;
}

export class Panel {
  constructor(root, { t, lang, onClose }) {
    this.root = root;
    this.t = t;
    this.lang = lang;
    this.onClose = onClose;
    this.seq = 0;
    this.abort = null;
  }

  close() {
    this.abort?.abort();
    this.root.replaceChildren();
  }

  // show loads and draws the figures of a selection; title names it; info
  // has the period text and, for a bin, the clicked bin's own figures.
  async show(sel, title, filters, compare, town, info = {}) {
    const q = statsQuery(sel, filters, compare, town);
    if (!q) return this.close();
    const t = this.t;
    const seq = ++this.seq;
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.root.hidden = false;
    this.root.replaceChildren(this.header(title, info.period), para(t('loading'), 'muted'));
    let hour, age, gender;
    try {
      [hour, age, gender] = await Promise.all([getStats(q, 'hour', signal), getStats(q, 'age', signal), getStats(q, 'gender', signal)]);
    } catch (err) {
      if (signal.aborted || seq !== this.seq) return;
      this.root.replaceChildren(this.header(title, info.period), para(errorText(t, err), 'error'));
      return;
    }
    if (seq !== this.seq) return;
    const csv = new URLSearchParams(q);
    csv.set('by', 'hour');
    csv.set('format', 'csv');
    this.render(title, hour, age, gender, at('/api/stats?' + csv), info);
  }

  header(title, period) {
    const h = document.createElement('div');
    h.className = 'panel-head';
    const h2 = document.createElement('h2');
    h2.textContent = title;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'close';
    b.setAttribute('aria-label', this.t('close'));
    b.textContent = '×';
    b.addEventListener('click', () => this.onClose());
    h.append(h2, b);
    const out = document.createElement('div');
    out.append(h);
    if (period) out.append(para(this.t('periodOf', { p: period }), 'period muted'));
    return out;
  }

  render(title, hour, age, gender, csvHref, info) {
    const t = this.t;
    const nf = numberFormat(this.lang, { maximumFractionDigits: 1 });
    const pf = numberFormat(this.lang, { style: 'percent', maximumFractionDigits: 0 });
    const fmt = (n) => nf.format(n);
    const k = hour.k;
    const p = hour.period;
    const total = p.total;
    const change = hour.change?.total;
    const out = [this.header(title, info.period)];

    // A bin: its own figures first (those of the hexagon clicked, as the
    // map draws it), then the box the details are computed for.
    if (info.bin) {
      out.push(section(t('binFigure'), figureList(info.bin, null, [
        [t('visitors'), 'visitors', '', 'visitors'],
        [t('presences'), 'count', '', 'presences'],
      ], { t, lang: this.lang, k }), 'bin-figure'));
      const b = hour.area?.bbox;
      if (b) {
        const mx = 111320 * Math.cos(((b[1] + b[3]) / 2) * Math.PI / 180);
        const w = Math.round((b[2] - b[0]) * mx / 10) * 10;
        const h = Math.round((b[3] - b[1]) * 110540 / 10) * 10;
        out.push(para(t('binBox', { w, h }), 'box-note'));
      }
    }
    out.push(figureList(total, change, [
      [t('presences'), 'presences', '', 'presences'],
      [t('visitors'), 'visitors', '', 'visitors'],
      [t('visits'), 'visits', '', 'visits'],
      [t('dwell'), 'dwell_median_minutes', t('minutes'), 'dwell'],
      [t('repeat'), 'repeat_visitors', '', 'repeat'],
    ], { t, lang: this.lang, k }));

    // Hourly profile: 24 bars; hours with nobody are absent rows (zero),
    // withheld hours a marker on the baseline.
    const byHour = new Map((p.rows ?? []).map((r) => [r.key, r]));
    const hours = [];
    for (let h = 0; h < 24; h++) {
      const r = byHour.get(String(h));
      hours.push({ label: `${String(h).padStart(2, '0')}:00`, short: String(h), value: r ? figure(r, 'presences') : 0 });
    }
    const chart = barChart(hours, { fmt, k, title: t('hourly'), withheld: () => t('withheldHour', { k }) });
    const sec = section(t('hourly'), chart, 'chart-hour');
    if (hours.some((x) => x.value === null)) sec.append(legendNote(t('withheldHour', { k })));
    out.push(sec);

    // Age and gender mix.
    const mix = (resp, keys, label) => {
      const rows = new Map((resp.period.rows ?? []).map((r) => [r.key, r]));
      const list = keys.filter((key) => rows.has(key)).map((key) => ({ label: label(key), value: figure(rows.get(key), 'visitors') }));
      if (rows.has('unknown')) list.push({ label: t('unknown'), value: figure(rows.get('unknown'), 'visitors') });
      return list;
    };
    const ages = mix(age, AGES, (a) => a);
    const genders = mix(gender, GENDERS, (g) => t('gender_names')[g] ?? g);
    out.push(section(t('ageMix'), ages.length ? shareBars(ages, { fmt, pct: (x) => pf.format(x), k }) : para(t('noData'), 'muted'), 'chart-age'));
    out.push(section(t('genderMix'), genders.length ? shareBars(genders, { fmt, pct: (x) => pf.format(x), k }) : para(t('noData'), 'muted'), 'chart-gender'));

    // Dwell bands.
    const bands = [
      { label: t('dwellUnder30'), value: figure(total, 'dwell_under_30_share') },
      { label: t('dwell30to120'), value: figure(total, 'dwell_30_120_share') },
      { label: t('dwellOver120'), value: figure(total, 'dwell_over_120_share') },
    ];
    out.push(section(t('dwellBands'), shareBars(bands, { fmt: (x) => pf.format(x), pct: null, k }), 'chart-dwell'));

    // Top origins and countries (countries named in the page's language).
    const top = (list, title2, cls, name) => {
      if (!list?.length) return;
      const ol = document.createElement('ol');
      ol.className = 'top';
      for (const o of list) {
        const li = document.createElement('li');
        const v = figure(o, 'visitors');
        li.textContent = `${name(o)} — ${v === null ? t('suppressedShort', { k }) : fmt(v)} ${t('visitors').toLowerCase()}`;
        const per = figure(o, 'visitors_per_1000_residents');
        if (per !== null) li.textContent += ` (${fmt(per)} ${t('per1000')})`;
        ol.append(li);
      }
      out.push(section(title2, ol, cls));
    };
    top(p.top_origins, t('topOrigins'), 'top-origins', (o) => o.label);
    top(p.top_countries, t('topCountries'), 'top-countries', (o) => countryName(this.lang, o.key));

    const a = document.createElement('a');
    a.href = csvHref;
    a.className = 'button csv';
    a.setAttribute('download', '');
    a.textContent = t('csv');
    out.push(a);
    out.push(definitions(t));
    out.push(para(t('suppressedExplain', { k }), 'muted small'));
    this.root.replaceChildren(...out);
  }
}

export function section(title, body, cls) {
  const s = document.createElement('section');
  s.className = cls;
  const h = document.createElement('h3');
  h.textContent = title;
  s.append(h, body);
  return s;
}

export function para(text, cls) {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  return p;
}

function legendNote(text) {
  const p = document.createElement('p');
  p.className = 'withheld-note small';
  const sw = document.createElement('span');
  sw.className = 'swatch hatch mini';
  p.append(sw, ' ' + text);
  return p;
}
