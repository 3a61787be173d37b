// Makes the basemap assets that the Go binary embeds (styles/), from npm
// packages pinned in package.json, so that maps carry labels without any
// third-party host:
//
//   - styles/glyphs/{font}/{range}.pbf: SDF glyph ranges (the MapLibre
//     glyphs format) of Noto Sans (@fontsource/noto-sans, SIL OFL 1.1),
//     rendered by @mapbox/tiny-sdf (the SDF generator MapLibre itself uses
//     for local glyphs) in headless Chromium, encoded with pbf;
//   - styles/protomaps/light-{lang}.json: the layers of the Protomaps
//     basemap style (@protomaps/basemaps) for archives of the Protomaps
//     basemap schema, with labels in Italian and English, without icons
//     (flowtiles serves no sprite).
//
//   node scripts/basemap-assets.mjs          write them
//   node scripts/basemap-assets.mjs --check  exit 1 when the committed files
//                                            differ from what would be written
//                                            (glyph ids and metrics; layers)
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PbfReader, PbfWriter } from 'pbf';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stylesDir = join(root, '..', 'styles');
const mod = (p) => join(root, 'node_modules', p);

// Fonts of the glyphs: the fontstack names the Protomaps style and
// flowtiles' own labels ask for.
export const FONTS = [
  { name: 'Noto Sans Regular', weight: 400, style: 'normal' },
  { name: 'Noto Sans Medium', weight: 500, style: 'normal' },
  { name: 'Noto Sans Italic', weight: 400, style: 'italic' },
];
// Latin, Latin-1, Latin Extended A/B and punctuation (– ’ “ ” …): every
// Italian, German, French or Spanish place name.
export const RANGES = [[0, 255], [256, 511], [8192, 8447]];
export const LANGS = ['it', 'en'];

// The code points the @fontsource latin and latin-ext subsets cover.
const COVERED = [[0x20, 0x7e], [0xa0, 0x24f], [0x2000, 0x206f], [0x20ac, 0x20ac], [0x2122, 0x2122]];
const covered = (cp) => COVERED.some(([a, b]) => cp >= a && cp <= b);

// --- Protomaps layers ---------------------------------------------------

export async function protomapsLayers(lang) {
  const pm = await import('@protomaps/basemaps');
  const layers = pm.layers('basemap', pm.namedFlavor('light'), { lang });
  const out = [];
  for (const l of layers) {
    // Icon-only layers need a sprite: left out.
    if (['roads_oneway', 'roads_shields'].includes(l.id)) continue;
    const layout = { ...(l.layout ?? {}) };
    for (const k of Object.keys(layout)) if (k.startsWith('icon-')) delete layout[k];
    const x = { ...l, layout };
    if (Object.keys(layout).length === 0) delete x.layout;
    if (x.paint) {
      x.paint = { ...x.paint };
      for (const k of Object.keys(x.paint)) if (k.startsWith('icon-')) delete x.paint[k];
    }
    out.push(x);
  }
  return out;
}

// --- glyphs ---------------------------------------------------------------

// renderGlyphs draws every covered code point of each font and range in
// Chromium with tiny-sdf and returns {font: {range: [glyph...]}}.
async function renderGlyphs() {
  const { launch } = await import('../test/helpers.mjs');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const faces = [];
    for (const f of FONTS) {
      for (const subset of ['latin', 'latin-ext']) {
        const file = mod(`@fontsource/noto-sans/files/noto-sans-${subset}-${f.weight}-${f.style}.woff2`);
        faces.push({ family: 'Flowtiles Noto Sans', weight: f.weight, style: f.style, data: readFileSync(file).toString('base64') });
      }
    }
    const tinySDF = readFileSync(mod('@mapbox/tiny-sdf/index.js'), 'utf8');
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ type: 'module', content: `${tinySDF.replace(/^export default class/m, 'class')}\nwindow.TinySDF = TinySDF;` });
    await page.waitForFunction(() => window.TinySDF);
    return await page.evaluate(async ({ faces, fonts, ranges, coveredRanges }) => {
      for (const f of faces) {
        const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
        const face = new FontFace(f.family, bytes, { weight: String(f.weight), style: f.style });
        await face.load();
        document.fonts.add(face);
      }
      const out = {};
      for (const f of fonts) {
        const sdf = new window.TinySDF({ fontSize: 24, buffer: 3, radius: 8, cutoff: 0.25, fontFamily: '"Flowtiles Noto Sans"', fontWeight: String(f.weight), fontStyle: f.style });
        out[f.name] = {};
        for (const [a, b] of ranges) {
          const list = [];
          for (let cp = a; cp <= b; cp++) {
            if (!coveredRanges.some(([x, y]) => cp >= x && cp <= y)) continue;
            const g = sdf.draw(String.fromCodePoint(cp));
            list.push({
              id: cp,
              bitmap: g.glyphWidth && g.glyphHeight ? Array.from(g.data) : [],
              width: g.glyphWidth, height: g.glyphHeight,
              left: g.glyphLeft, top: g.glyphTop - 27, advance: Math.round(g.glyphAdvance),
            });
          }
          out[f.name][`${a}-${b}`] = list;
        }
      }
      return out;
    }, { faces, fonts: FONTS, ranges: RANGES, coveredRanges: COVERED });
  } finally {
    await browser.close();
  }
}

// encodeGlyphs writes one range of one font in the glyphs protobuf:
// glyphs { fontstack stacks = 1 } fontstack { name = 1; range = 2;
// glyph glyphs = 3 } glyph { id = 1; bitmap = 2; width = 3; height = 4;
// left = 5 (sint32); top = 6 (sint32); advance = 7 }.
export function encodeGlyphs(font, range, glyphs) {
  const pbf = new PbfWriter();
  pbf.writeMessage(1, (_, p) => {
    p.writeStringField(1, font);
    p.writeStringField(2, range);
    for (const g of glyphs) {
      p.writeMessage(3, (gl, q) => {
        q.writeVarintField(1, gl.id);
        if (gl.bitmap.length) q.writeBytesField(2, Uint8Array.from(gl.bitmap));
        q.writeVarintField(3, gl.width);
        q.writeVarintField(4, gl.height);
        q.writeSVarintField(5, gl.left);
        q.writeSVarintField(6, gl.top);
        q.writeVarintField(7, gl.advance);
      }, g);
    }
  }, null);
  return Buffer.from(pbf.finish());
}

// decodeGlyphs reads a glyph range back: {name, range, glyphs: [{id,
// width, height, left, top, advance, bitmap}]}.
export function decodeGlyphs(buf) {
  const out = { name: '', range: '', glyphs: [] };
  new PbfReader(buf).readFields((tag, o, pbf) => {
    if (tag !== 1) return;
    pbf.readMessage((t, s, p) => {
      if (t === 1) s.name = p.readString();
      else if (t === 2) s.range = p.readString();
      else if (t === 3) {
        const g = { bitmap: new Uint8Array() };
        p.readMessage((gt, gg, q) => {
          if (gt === 1) gg.id = q.readVarint();
          else if (gt === 2) gg.bitmap = q.readBytes();
          else if (gt === 3) gg.width = q.readVarint();
          else if (gt === 4) gg.height = q.readVarint();
          else if (gt === 5) gg.left = q.readSVarint();
          else if (gt === 6) gg.top = q.readSVarint();
          else if (gt === 7) gg.advance = q.readVarint();
        }, g);
        s.glyphs.push(g);
      }
    }, o);
  }, out);
  return out;
}

async function main() {
  const check = process.argv.includes('--check');
  let bad = 0;
  const put = (file, bytes, same) => {
    if (check) {
      if (!existsSync(file) || !same(readFileSync(file))) {
        console.error(`${file} differs from what scripts/basemap-assets.mjs makes: run npm run basemap-assets`);
        bad++;
      }
      return;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  };
  for (const lang of LANGS) {
    const json = '[\n' + (await protomapsLayers(lang)).map((l) => JSON.stringify(l)).join(',\n') + '\n]\n';
    put(join(stylesDir, 'protomaps', `light-${lang}.json`), json, (b) => b.toString() === json);
  }
  const glyphs = await renderGlyphs();
  for (const [font, ranges] of Object.entries(glyphs)) {
    for (const [range, list] of Object.entries(ranges)) {
      const bytes = encodeGlyphs(font, range, list);
      // Rasterising may differ by a grey level between Chromium builds:
      // --check compares the glyph set and metrics, not the bitmaps.
      const shape = (g) => `${g.id}:${g.width}x${g.height}@${g.left},${g.top}+${g.advance}`;
      put(join(stylesDir, 'glyphs', font, `${range}.pbf`), bytes, (b) => {
        const got = decodeGlyphs(b);
        return got.name === font && got.range === range && got.glyphs.map(shape).join(' ') === list.map(shape).join(' ');
      });
    }
  }
  if (check) process.exit(bad ? 1 : 0);
  const n = readdirSync(join(stylesDir, 'glyphs')).length;
  console.log(`wrote styles/protomaps/light-{${LANGS}}.json and glyphs of ${n} fonts (${RANGES.map((r) => r.join('-'))})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
export { covered };
