// The side panel: figures from /api/stats about the selected bin, zone or
// origin, as small charts, with a CSV download of the same figures.
import { barChart, shareBars, figure } from './charts.js';
import { AGES, GENDERS } from './state.js';
import { numberFormat } from './i18n.js';

// statsQuery is the /api/stats query of a selection under the filters. A
// selection is "bin:ID:w,s,e,n", "zone:CODE" or "origin:LEVEL:CODE"; town is
// the bbox of the whole data, the area of origin selections.
export function statsQuery(sel, filters, compare, town) {
  const q = new URLSearchParams();
  const [kind, ...rest] = sel.split(':');
  const arg = rest.join(':');
  if (kind === 'bin') q.set('bbox', arg.split(':').pop()); // bin:ID:w,s,e,n
  else if (kind === 'zone') q.set('zone', arg);
  else if (kind === 'origin') q.set('bbox', town);
  else return null;
  // zone is an area on /api/stats, not a filter: a zone filter makes the
  // zone the area of origin selections, and is left out for bins and zones.
  for (const [k, v] of Object.entries(filters)) if (k !== 'zone') q.set(k, v);
  if (kind === 'origin' && filters.zone) {
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
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  // show loads and draws the figures of a selection; title names it.
  async show(sel, title, filters, compare, town) {
    const q = statsQuery(sel, filters, compare, town);
    if (!q) return this.close();
    const t = this.t;
    const seq = ++this.seq;
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.root.hidden = false;
    this.root.replaceChildren(this.header(title), para(t('loading'), 'muted'));
    const get = async (by) => {
      const qq = new URLSearchParams(q);
      qq.set('by', by);
      const r = await fetch('/api/stats?' + qq, { signal });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      return body;
    };
    let hour, age, gender;
    try {
      [hour, age, gender] = await Promise.all([get('hour'), get('age'), get('gender')]);
    } catch (err) {
      if (signal.aborted || seq !== this.seq) return;
      this.root.replaceChildren(this.header(title), para(`${t('error')}: ${err.message}`, 'error'));
      return;
    }
    if (seq !== this.seq) return;
    const csv = new URLSearchParams(q);
    csv.set('by', 'hour');
    csv.set('format', 'csv');
    this.render(title, hour, age, gender, '/api/stats?' + csv);
  }

  header(title) {
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
    return h;
  }

  render(title, hour, age, gender, csvHref) {
    const t = this.t;
    const nf = numberFormat(this.lang, { maximumFractionDigits: 1 });
    const pf = numberFormat(this.lang, { style: 'percent', maximumFractionDigits: 0 });
    const fmt = (n) => nf.format(n);
    const k = hour.k;
    const p = hour.period;
    const total = p.total;
    const change = hour.change?.total;
    const out = [this.header(title)];

    // Totals.
    const dl = document.createElement('dl');
    dl.className = 'figures';
    const fig = (label, key, unit = '') => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      const v = figure(total, key);
      if (v === null) {
        dd.className = 'suppressed';
        dd.textContent = t('suppressed', { k });
      } else {
        dd.textContent = fmt(v) + (unit ? ` ${unit}` : '');
        const c = change?.[key];
        if (c && typeof c.relative === 'number') {
          const s = document.createElement('span');
          s.className = c.relative >= 0 ? 'up' : 'down';
          s.textContent = ` ${c.relative >= 0 ? '+' : ''}${pf.format(c.relative)}`;
          dd.append(s);
        }
      }
      dd.dataset.key = key;
      dl.append(dt, dd);
    };
    fig(t('presences'), 'presences');
    fig(t('visitors'), 'visitors');
    fig(t('visits'), 'visits');
    fig(t('dwell'), 'dwell_median_minutes', t('minutes'));
    fig(t('repeat'), 'repeat_visitors');
    out.push(dl);

    // Hourly profile: 24 bars; hours with nobody are absent rows (zero).
    const byHour = new Map((p.rows ?? []).map((r) => [r.key, r]));
    const hours = [];
    for (let h = 0; h < 24; h++) {
      const r = byHour.get(String(h));
      hours.push({ label: `${String(h).padStart(2, '0')}:00`, short: String(h), value: r ? figure(r, 'presences') : 0 });
    }
    out.push(section(t('hourly'), barChart(hours, { fmt, k, title: t('hourly') }), 'chart-hour'));

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

    // Top origins and countries.
    const top = (list, title2, cls) => {
      if (!list?.length) return;
      const ol = document.createElement('ol');
      ol.className = 'top';
      for (const o of list) {
        const li = document.createElement('li');
        const v = figure(o, 'visitors');
        li.textContent = `${o.label} — ${v === null ? '< ' + k : fmt(v)} ${t('visitors').toLowerCase()}`;
        const per = figure(o, 'visitors_per_1000_residents');
        if (per !== null) li.textContent += ` (${fmt(per)} ${t('per1000')})`;
        ol.append(li);
      }
      out.push(section(title2, ol, cls));
    };
    top(p.top_origins, t('topOrigins'), 'top-origins');
    top(p.top_countries, t('topCountries'), 'top-countries');

    const a = document.createElement('a');
    a.href = csvHref;
    a.className = 'button csv';
    a.setAttribute('download', '');
    a.textContent = t('csv');
    out.push(a);
    out.push(para(t('suppressedExplain', { k }), 'muted small'));
    this.root.replaceChildren(...out);
  }
}

function section(title, body, cls) {
  const s = document.createElement('section');
  s.className = cls;
  const h = document.createElement('h3');
  h.textContent = title;
  s.append(h, body);
  return s;
}

function para(text, cls) {
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  return p;
}
