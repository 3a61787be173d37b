// Small SVG charts drawn by hand: a few bars do not need a chart library.
// Withheld figures ({"suppressed": true}) are never drawn as a bar: a bar's
// height would claim a number. A withheld bar is a hatched marker on the
// baseline with a "< k" mark and its reason in its tooltip.

const NS = 'http://www.w3.org/2000/svg';
const BAR = '#2c6fa8';
const MUTED = '#4d5960';

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

let hatchSeq = 0;
function hatchDefs(svg) {
  const id = `ft-hatch-${++hatchSeq}`;
  const defs = el('defs', {}, svg);
  const p = el('pattern', { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
  el('rect', { width: 2, height: 6, fill: '#555' }, p);
  return `url(#${id})`;
}

// figure returns the number of a figure, or null when withheld or absent.
export function figure(row, key) {
  if (!row || row.suppressed) return null;
  const f = row[key];
  return f && typeof f.value === 'number' ? f.value : null;
}

// barChart draws vertical bars, one per row: rows are {label, short,
// value (null: withheld)}. fmt formats values; withheld(label) is the
// tooltip of a withheld bar.
export function barChart(rows, { fmt, k, height = 120, title, withheld }) {
  const w = rows.length > 40 ? 480 : Math.max(240, rows.length * 14);
  const svg = el('svg', { viewBox: `0 0 ${w} ${height + 34}`, class: 'chart', role: 'img' });
  if (title) el('title', {}, svg).textContent = title;
  const hatch = hatchDefs(svg);
  const max = Math.max(1, ...rows.map((r) => r.value ?? 0));
  const bw = w / rows.length;
  const gap = bw > 6 ? 2 : bw * 0.15;
  const base = 4 + height;
  rows.forEach((r, i) => {
    const x = i * bw + gap / 2;
    const g = el('g', { class: r.value === null ? 'bar withheld' : 'bar' }, svg);
    const t = el('title', {}, g);
    if (r.value === null) {
      // a marker on the baseline: no height, so no number is implied
      el('rect', { x, y: base - 5, width: bw - gap, height: 5, fill: hatch, stroke: MUTED, 'stroke-width': 0.6, class: 'suppressed' }, g);
      t.textContent = `${r.label}: ${withheld ? withheld(r.label) : '< ' + k}`;
    } else {
      const h = Math.max(1, (r.value / max) * height);
      el('rect', { x, y: base - h, width: bw - gap, height: h, fill: BAR }, g);
      t.textContent = `${r.label}: ${fmt(r.value)}`;
    }
    if (rows.length <= 12 || (rows.length <= 40 && i % 3 === 0) || (rows.length > 40 && r.short)) {
      const tx = el('text', { x: x + bw / 2 - 1, y: height + 18, 'text-anchor': 'middle', 'font-size': 10 }, svg);
      tx.textContent = r.short ?? r.label;
    }
  });
  el('line', { x1: 0, x2: w, y1: base, y2: base, stroke: MUTED, 'stroke-width': 0.5 }, svg);
  const mx = el('text', { x: 2, y: height + 32, 'font-size': 10, fill: MUTED }, svg);
  mx.textContent = `max ${fmt(max)}`;
  return svg;
}

// shareBars draws horizontal bars of shares of a total (age or gender mix).
export function shareBars(rows, { fmt, pct, k, title }) {
  const total = rows.reduce((s, r) => s + (r.value ?? 0), 0) || 1;
  const lineH = 20;
  const w = 300;
  const svg = el('svg', { viewBox: `0 0 ${w} ${rows.length * lineH + 4}`, class: 'chart', role: 'img' });
  // the text alternative: every row with its figure
  el('title', {}, svg).textContent = (title ? title + ': ' : '') + rows.map((r) => `${r.label} ${r.value === null ? '< ' + k : fmt(r.value)}`).join(', ');
  const hatch = hatchDefs(svg);
  rows.forEach((r, i) => {
    const y = i * lineH + 2;
    const lab = el('text', { x: 0, y: y + 13, 'font-size': 11 }, svg);
    lab.textContent = r.label.length > 16 ? r.label.slice(0, 15) + '…' : r.label;
    const x0 = 100;
    const span = w - x0 - 80;
    const val = el('text', { x: w, y: y + 13, 'font-size': 11, 'text-anchor': 'end' }, svg);
    if (r.value === null) {
      el('rect', { x: x0, y: y + 2, width: 10, height: lineH - 6, fill: hatch, stroke: MUTED, 'stroke-width': 0.6, class: 'suppressed' }, svg);
      val.textContent = `< ${k}`;
    } else {
      el('rect', { x: x0, y: y + 2, width: Math.max(1, (r.value / total) * span), height: lineH - 6, fill: '#2a8a96' }, svg);
      val.textContent = pct ? `${fmt(r.value)} (${pct(r.value / total)})` : fmt(r.value);
    }
  });
  return svg;
}

// matrix draws a day × hour grid: cells[d][h] is a number or null
// (withheld, hatched) or undefined (nobody). rowLabels name the days.
export function matrix(cells, { rowLabels, fmt, k, title }) {
  const cw = 12;
  const ch = 14;
  const left = 34;
  const w = left + 24 * cw;
  const h = cells.length * ch + 16;
  const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, class: 'chart matrix', role: 'img' });
  if (title) el('title', {}, svg).textContent = title;
  const hatch = hatchDefs(svg);
  const max = Math.max(1, ...cells.flat().map((v) => (typeof v === 'number' ? v : 0)));
  cells.forEach((row, d) => {
    const lab = el('text', { x: 0, y: d * ch + 11, 'font-size': 10 }, svg);
    lab.textContent = rowLabels[d];
    row.forEach((v, hr) => {
      const x = left + hr * cw;
      const y = d * ch;
      const g = el('g', {}, svg);
      const t = el('title', {}, g);
      if (v === null) {
        el('rect', { x, y, width: cw - 1, height: ch - 1, fill: hatch, class: 'suppressed' }, g);
        t.textContent = `${rowLabels[d]} ${hr}:00: < ${k}`;
      } else {
        const a = typeof v === 'number' ? 0.08 + 0.92 * (v / max) : 0;
        el('rect', { x, y, width: cw - 1, height: ch - 1, fill: BAR, 'fill-opacity': a.toFixed(3), stroke: '#d9d6cf', 'stroke-width': 0.3 }, g);
        t.textContent = `${rowLabels[d]} ${hr}:00: ${typeof v === 'number' ? fmt(v) : 0}`;
      }
    });
  });
  for (let hr = 0; hr < 24; hr += 3) {
    const tx = el('text', { x: left + hr * cw + cw / 2, y: h - 3, 'font-size': 9, 'text-anchor': 'middle' }, svg);
    tx.textContent = String(hr);
  }
  return svg;
}
