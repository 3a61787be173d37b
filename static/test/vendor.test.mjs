// The vendored MapLibre files (embedded in the binary, so that serve needs
// no npm) are byte for byte those of the npm package pinned in package.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { expected, vendorDir, files } from '../scripts/vendor.mjs';
import { staticDir } from './helpers.mjs';

test('vendored maplibre-gl equals the pinned npm package', () => {
  const want = expected(); // throws when node_modules is not the pinned version
  assert.ok(want.size >= files.length);
  for (const [name, bytes] of want) {
    const p = join(vendorDir, name);
    assert.ok(existsSync(p), `vendor/maplibre-gl/${name} missing: run npm run vendor`);
    assert.ok(readFileSync(p).equals(bytes), `vendor/maplibre-gl/${name} differs from node_modules: run npm run vendor`);
  }
  const pinned = JSON.parse(readFileSync(join(staticDir, 'package.json'), 'utf8')).dependencies['maplibre-gl'];
  assert.equal(readFileSync(join(vendorDir, 'VERSION'), 'utf8').trim(), pinned);
});

test('pages load only embedded assets (no CDN)', () => {
  const embed = readFileSync(join(staticDir, 'embed.go'), 'utf8');
  assert.match(embed, /\/\/go:embed index\.html kiosk\.html towns\.html js css vendor/);
  for (const page of ['index.html', 'kiosk.html', 'towns.html']) {
    const html = readFileSync(join(staticDir, page), 'utf8');
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      assert.ok(m[1].startsWith('/static/') || m[1].startsWith('data:'), `${page} loads ${m[1]}`);
      if (m[1].startsWith('/static/')) assert.ok(existsSync(join(staticDir, m[1].slice('/static/'.length))), `${page}: ${m[1]} not in static/`);
    }
  }
});

test('the embedded glyphs and Protomaps layers are what the pinned npm packages make', { timeout: 300000 }, async () => {
  const { execFileSync } = await import('node:child_process');
  // exits 1, naming the file, when styles/glyphs or styles/protomaps differ
  execFileSync(process.execPath, [join(staticDir, 'scripts', 'basemap-assets.mjs'), '--check'], { stdio: 'pipe' });
  const { decodeGlyphs, FONTS, RANGES } = await import('../scripts/basemap-assets.mjs');
  for (const f of FONTS) {
    for (const [a, b] of RANGES) {
      const g = decodeGlyphs(readFileSync(join(staticDir, '..', 'styles', 'glyphs', f.name, `${a}-${b}.pbf`)));
      assert.equal(g.name, f.name);
      // every letter of Italian place names, with their accents
      if (a === 0) for (const ch of 'AZaz09àèéìòù\'’') if (ch.charCodeAt(0) <= 255) assert.ok(g.glyphs.some((x) => x.id === ch.charCodeAt(0) && x.advance > 0), `${f.name}: ${ch}`);
    }
  }
});
