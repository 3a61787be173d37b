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
  assert.match(embed, /\/\/go:embed index\.html kiosk\.html js css vendor/);
  for (const page of ['index.html', 'kiosk.html']) {
    const html = readFileSync(join(staticDir, page), 'utf8');
    for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      assert.ok(m[1].startsWith('/static/') || m[1].startsWith('data:'), `${page} loads ${m[1]}`);
      if (m[1].startsWith('/static/')) assert.ok(existsSync(join(staticDir, m[1].slice('/static/'.length))), `${page}: ${m[1]} not in static/`);
    }
  }
});
