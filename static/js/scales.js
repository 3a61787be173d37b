// Fixed, labelled colour scales. The classes do not follow the viewport or
// the data in view: the same colour means the same figure everywhere, so two
// screenshots can be compared. They are defined once, in styles/classes.json
// (served at /styles/classes.json), for these pages and the served styles.
// (relative: /static/js/ → /styles/ in the browser, static/js/ → styles/ in node)
import data from '../../styles/classes.json' with { type: 'json' };

const { classes, backgrounds } = data;

export const BACKGROUNDS = backgrounds;
// Visitors per density bin (distinct people in the window). The first class
// starts at k: below it a bin is suppressed and drawn hatched.
export const DENSITY = classes.density;
// Visitors per 1,000 residents of the origin area.
export const ORIGINS = classes.origins;
// Relative change (0.5 = +50 %), blue for fewer, red for more; symmetric in
// the ratio of the two periods (halved ↔ doubled, ÷1.5 ↔ ×1.5, ÷1.1 ↔ ×1.1).
export const DIFF = classes.diff;
// Absolute change, when a period is open and days cannot be compared.
export const DIFF_ABS = classes.diff_abs;
// The kiosk's live density: bright is busy, on a dark ground.
export const LIVE = classes.live;

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

// contrast is the WCAG contrast ratio of two #rrggbb colours.
export function contrast(a, b) {
  const lum = (hex) => {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// cellSize is the size of a density bin, in metres, at a map zoom and
// latitude: 16 bins across a tile of the zoom MapLibre asks for (the
// integer part).
export function cellSize(zoom, lat) {
  const z = Math.floor(zoom);
  return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / 2 ** z / 16;
}
