// Small SVG charts drawn by hand: a few bars do not need a chart library.
// Withheld figures ({"suppressed": true}) are drawn hatched with a "< k"
// mark, never as a zero bar.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function hatchDefs(svg) {
  const defs = el('defs', {}, svg);
  const p = el('pattern', { id: 'ft-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
  el('rect', { width: 2, height: 6, fill: '#777' }, p);
}

// figure returns the number of a figure, or null when withheld or absent.
export function figure(row, key) {
  if (!row || row.suppressed) return null;
  const f = row[key];
  return f && typeof f.value === 'number' ? f.value : null;
}

// barChart draws vertical bars, one per row: rows are {label, value|null,
// suppressed}. fmt formats values; k is the threshold named on withheld bars.
export function barChart(rows, { fmt, k, height = 120, title }) {
  const w = Math.max(240, rows.length * 14);
  const svg = el('svg', { viewBox: `0 0 ${w} ${height + 34}`, class: 'chart', role: 'img' });
  if (title) el('title', {}, svg).textContent = title;
  hatchDefs(svg);
  const max = Math.max(1, ...rows.map((r) => r.value ?? 0));
  const bw = w / rows.length;
  rows.forEach((r, i) => {
    const x = i * bw + 1;
    const g = el('g', { class: 'bar' }, svg);
    const t = el('title', {}, g);
    if (r.value === null) {
      el('rect', { x, y: 4, width: bw - 2, height, fill: 'url(#ft-hatch)', opacity: 0.5, class: 'suppressed' }, g);
      t.textContent = `${r.label}: < ${k}`;
    } else {
      const h = Math.max(1, (r.value / max) * height);
      el('rect', { x, y: 4 + height - h, width: bw - 2, height: h, fill: '#2c7fb8' }, g);
      t.textContent = `${r.label}: ${fmt(r.value)}`;
    }
    if (rows.length <= 12 || i % 3 === 0) {
      const tx = el('text', { x: x + bw / 2 - 1, y: height + 18, 'text-anchor': 'middle', 'font-size': 10 }, svg);
      tx.textContent = r.short ?? r.label;
    }
  });
  const mx = el('text', { x: 2, y: height + 32, 'font-size': 10, fill: '#555' }, svg);
  mx.textContent = `max ${fmt(max)}`;
  return svg;
}

// shareBars draws horizontal bars of shares of a total (age or gender mix).
export function shareBars(rows, { fmt, pct, k }) {
  const total = rows.reduce((s, r) => s + (r.value ?? 0), 0) || 1;
  const lineH = 20;
  const w = 300;
  const svg = el('svg', { viewBox: `0 0 ${w} ${rows.length * lineH + 4}`, class: 'chart', role: 'img' });
  hatchDefs(svg);
  rows.forEach((r, i) => {
    const y = i * lineH + 2;
    const lab = el('text', { x: 0, y: y + 13, 'font-size': 11 }, svg);
    lab.textContent = r.label;
    const x0 = 90;
    const span = w - x0 - 70;
    const val = el('text', { x: w, y: y + 13, 'font-size': 11, 'text-anchor': 'end' }, svg);
    if (r.value === null) {
      el('rect', { x: x0, y: y + 2, width: span, height: lineH - 6, fill: 'url(#ft-hatch)', opacity: 0.5, class: 'suppressed' }, svg);
      val.textContent = `< ${k}`;
    } else {
      el('rect', { x: x0, y: y + 2, width: Math.max(1, (r.value / total) * span), height: lineH - 6, fill: '#41b6c4' }, svg);
      val.textContent = pct ? `${fmt(r.value)} (${pct(r.value / total)})` : fmt(r.value);
    }
  });
  return svg;
}
