// The town overview: what a planner sees on opening the page, before
// clicking anything. Headline figures of the period with their change
// against the period before and a year before, the weekday profile, the
// daily trend, a day × hour matrix, spending and nationality mix, all from
// /api/stats (the same privacy rule as every figure: withheld is hatched).
import { barChart, shareBars, matrix, figure } from './charts.js';
import { DAYS, SPENDS, periodDays } from './state.js';
import { numberFormat, countryName } from './i18n.js';
import { statsQuery, getStats, errorText, figureList, definitions, section, para } from './panel.js';

// shiftDays moves a date (YYYY-MM-DD) by n days.
export function shiftDays(d, n) {
  const x = new Date(d + 'T00:00:00Z');
  x.setUTCDate(x.getUTCDate() + n);
  return x.toISOString().slice(0, 10);
}

// shiftYears moves a date by n years (29 February to 28).
export function shiftYears(d, n) {
  const [y, m, day] = d.split('-').map(Number);
  const x = new Date(Date.UTC(y + n, m - 1, day));
  if (x.getUTCMonth() !== m - 1) x.setUTCDate(0);
  return x.toISOString().slice(0, 10);
}

// previousPeriod is the period of the same length just before from–to.
export function previousPeriod(from, to) {
  const days = periodDays(from, to);
  if (!days || !/^\d{4}-\d{2}-\d{2}$/.test(from)) return null;
  return { from: shiftDays(from, -days), to: shiftDays(from, -1) };
}

// availableRange asks for the dates with published figures in the whole
// data (no filter): {from, to} or null when there is none.
export async function availableRange(town, signal) {
  const q = new URLSearchParams({ bbox: town });
  const r = await getStats(q, 'date', signal);
  const dates = (r.period.rows ?? []).filter((x) => !x.suppressed && x.key !== 'unknown').map((x) => x.key).sort();
  return dates.length ? { from: dates[0], to: dates[dates.length - 1] } : null;
}

// Overview draws into root. load() returns {empty} once drawn.
export class Overview {
  constructor(root, { t, lang }) {
    this.root = root;
    this.t = t;
    this.lang = lang;
    this.seq = 0;
  }

  cancel() {
    this.abort?.abort();
  }

  async load({ filters, compare, town, period, title }) {
    const t = this.t;
    const seq = ++this.seq;
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const nf = numberFormat(this.lang, { maximumFractionDigits: 0 });
    const pf = numberFormat(this.lang, { style: 'percent', maximumFractionDigits: 0 });
    const fmt = (n) => nf.format(n);
    const head = () => {
      const h = document.createElement('div');
      const h2 = document.createElement('h2');
      h2.textContent = `${t('overview')}: ${title}`;
      h.append(h2, para(t('periodOf', { p: period }), 'period muted'));
      return h;
    };
    this.root.replaceChildren(head(), para(t('loading'), 'muted'));
    const closed = filters.from && filters.to;
    const cmp = compare ?? (closed ? previousPeriod(filters.from, filters.to) : null);
    const q = statsQuery('town', filters, cmp, town);
    const plain = statsQuery('town', filters, null, town);
    const yearQ = closed ? statsQuery('town', filters, { from: shiftYears(filters.from, -1), to: shiftYears(filters.to, -1) }, town) : null;
    const days = filters.days ? DAYS.filter((d) => filters.days.split(',').includes(d)) : DAYS;
    let dow, year, daily, spend, nat, hours;
    try {
      [dow, year, daily, spend, nat, hours] = await Promise.all([
        getStats(q, 'dow', signal),
        yearQ ? getStats(yearQ, '', signal).catch(() => null) : null,
        getStats(plain, 'date', signal),
        getStats(plain, 'spend', signal),
        getStats(plain, 'nationality', signal),
        Promise.all(days.map((d) => {
          const qq = new URLSearchParams(plain);
          qq.set('days', d);
          return getStats(qq, 'hour', signal);
        })),
      ]);
    } catch (err) {
      if (signal.aborted || seq !== this.seq) return null;
      this.root.replaceChildren(head(), para(errorText(t, err), 'error'));
      return null;
    }
    if (seq !== this.seq) return null;
    const k = dow.k;
    const total = dow.period.total;
    const out = [head()];
    // Nobody in the period: no day has a row, published or withheld.
    if (!(daily.period.rows ?? []).length) {
      out.push(para(t('emptyFilter'), 'empty'));
      this.root.replaceChildren(...out);
      return { empty: true };
    }
    // Foreign visitors: the published nationality rows other than Italy.
    const visitors = figure(total, 'visitors');
    let foreign = 0;
    for (const r of nat.period.rows ?? []) if (r.key !== 'IT' && r.key !== 'unknown') foreign += figure(r, 'visitors') ?? 0;
    const foreignShare = visitors ? foreign / visitors : null;
    out.push(figureList(total, dow.change?.total, [
      [t('presences'), 'presences', '', 'presences'],
      [t('visitors'), 'visitors', '', 'visitors'],
      [t('visits'), 'visits', '', 'visits'],
      [t('dwell'), 'dwell_median_minutes', t('minutes'), 'dwell'],
      [t('foreignShare'), () => foreignShare, '%', 'foreign'],
    ], { t, lang: this.lang, k, extra: year?.change?.total }));
    if (cmp) {
      const note = [t('vsPrevious') + `: ${cmp.from} → ${cmp.to}`];
      if (yearQ) note.push(t('vsYear') + (year?.change?.total ? '' : ` (${t('noComparison')})`));
      out.push(para(note.join(' · '), 'muted small'));
    }

    // Weekday profile.
    const byDow = new Map((dow.period.rows ?? []).map((r) => [r.key, r]));
    out.push(section(t('weekdays'), barChart(DAYS.map((d) => ({
      label: t('days_long')[d], short: t('days_short')[d], value: byDow.has(d) ? figure(byDow.get(d), 'presences') : 0,
    })), { fmt, k, title: t('weekdays'), height: 90, withheld: () => t('withheldHour', { k }) }), 'chart-dow'));

    // Daily trend.
    const dates = (daily.period.rows ?? []).filter((r) => r.key !== 'unknown');
    if (dates.length) {
      out.push(section(t('daily'), barChart(dates.map((r) => ({
        label: r.key, short: r.key.slice(8, 10) === '01' ? r.key.slice(5, 7) : '', value: figure(r, 'presences'),
      })), { fmt, k, title: t('daily'), height: 90 }), 'chart-daily'));
    }

    // Day × hour.
    const cells = hours.map((resp) => {
      const rows = new Map((resp.period.rows ?? []).map((r) => [r.key, r]));
      return Array.from({ length: 24 }, (_, h) => (rows.has(String(h)) ? figure(rows.get(String(h)), 'presences') : undefined));
    });
    out.push(section(t('dayHour'), matrix(cells, { rowLabels: days.map((d) => t('days_short')[d]), fmt, k, title: t('dayHour') }), 'chart-matrix'));

    // Spending and nationality mix.
    const spRows = new Map((spend.period.rows ?? []).map((r) => [r.key, r]));
    const sp = SPENDS.filter((s) => spRows.has(s)).map((s) => ({ label: t('spend_names')[s], value: figure(spRows.get(s), 'visitors') }));
    if (sp.length) out.push(section(t('spendMix'), shareBars(sp, { fmt, pct: (x) => pf.format(x), k }), 'chart-spend'));
    const natRows = (nat.period.rows ?? []).filter((r) => r.key !== 'unknown')
      .map((r) => ({ label: countryName(this.lang, r.key), value: figure(r, 'visitors') }))
      .sort((a, b) => (b.value ?? -1) - (a.value ?? -1)).slice(0, 8);
    if (natRows.length) out.push(section(t('nationalityMix'), shareBars(natRows, { fmt, pct: (x) => pf.format(x), k }), 'chart-nationality'));
    out.push(definitions(t, ['presences', 'visitors', 'visits', 'dwell', 'foreign']));
    out.push(para(t('suppressedExplain', { k }), 'muted small'));
    this.root.replaceChildren(...out);
    return { empty: false };
  }
}
