// Fixed, labelled colour scales. The classes do not follow the viewport or
// the data in view: the same colour means the same figure everywhere, so two
// screenshots can be compared.

// Visitors per density bin (distinct people in the window). The first class
// starts at k: below it a bin is suppressed and drawn hatched.
export const DENSITY = {
  breaks: [50, 200, 1000, 5000, 20000, 50000],
  colors: ['#ffffcc', '#c7e9b4', '#7fcdbb', '#41b6c4', '#1d91c0', '#225ea8', '#0c2c84'],
};

// Visitors per 1,000 residents of the origin area.
export const ORIGINS = {
  breaks: [1, 5, 20, 100, 500],
  colors: ['#feedde', '#fdd0a2', '#fdae6b', '#fd8d3c', '#e6550d', '#a63603'],
};

// Relative change (0.5 = +50 %), blue for fewer, red for more; symmetric in
// the ratio of the two periods (halved ↔ doubled, ÷1.5 ↔ ×1.5, ÷1.1 ↔ ×1.1).
export const DIFF = {
  breaks: [-0.5, -0.33, -0.09, 0.1, 0.5, 1],
  colors: ['#2166ac', '#67a9cf', '#d1e5f0', '#f7f7f7', '#fddbc7', '#ef8a62', '#b2182b'],
};

// Absolute change, when a period is open and days cannot be compared.
export const DIFF_ABS = {
  breaks: [-500, -100, -15, 15, 100, 500],
  colors: DIFF.colors,
};

// step builds a MapLibre step expression over input.
export function step(scale, input) {
  const e = ['step', input, scale.colors[0]];
  scale.breaks.forEach((b, i) => e.push(b, scale.colors[i + 1]));
  return e;
}

// classLabels returns one label per class: "< 50", "50 – 200", …, "≥ 50.000".
export function classLabels(scale, fmt, first) {
  const out = [];
  const f = (n) => fmt(n);
  for (let i = 0; i <= scale.breaks.length; i++) {
    if (i === 0) out.push(first !== undefined ? `${f(first)} – ${f(scale.breaks[0])}` : `< ${f(scale.breaks[0])}`);
    else if (i === scale.breaks.length) out.push(`≥ ${f(scale.breaks[i - 1])}`);
    else out.push(`${f(scale.breaks[i - 1])} – ${f(scale.breaks[i])}`);
  }
  return out;
}

// hatchImage draws the pattern of suppressed cells: grey diagonal lines on
// a transparent ground, as ImageData for map.addImage.
export function hatchImage(size = 16, color = [96, 96, 96, 210]) {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d');
  g.strokeStyle = `rgba(${color[0]},${color[1]},${color[2]},${color[3] / 255})`;
  g.lineWidth = 2;
  g.beginPath();
  for (let o = -size; o <= size; o += size / 2) {
    g.moveTo(o, size);
    g.lineTo(o + size, 0);
  }
  g.stroke();
  return g.getImageData(0, 0, size, size);
}

// hatchCSS is the same pattern for HTML swatches and charts.
export const hatchCSS = 'repeating-linear-gradient(135deg, rgba(96,96,96,.8) 0 2px, transparent 2px 6px)';
