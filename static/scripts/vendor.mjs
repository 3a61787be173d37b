// Copies the MapLibre GL JS files the pages load from node_modules (the
// version pinned in package.json) into vendor/maplibre-gl/, which the Go
// binary embeds: `go run ./cmd/flowtiles serve` then needs no npm.
//
//   node scripts/vendor.mjs          copy
//   node scripts/vendor.mjs --check  exit 1 when vendor/ differs from node_modules
//
// MapLibre 6 is ES modules: maplibre-gl.mjs starts its web worker from
// maplibre-gl-worker.mjs next to itself (import.meta.url), so both are needed.
// The files are copied byte for byte; the source maps (8 MB) are left out
// (browsers ask for them only when devtools are open).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const pkgDir = join(root, 'node_modules', 'maplibre-gl');
export const vendorDir = join(root, 'vendor', 'maplibre-gl');
export const files = [
  ['dist/maplibre-gl.mjs', 'maplibre-gl.mjs'],
  ['dist/maplibre-gl-worker.mjs', 'maplibre-gl-worker.mjs'],
  ['dist/maplibre-gl.css', 'maplibre-gl.css'],
  ['LICENSE.txt', 'LICENSE.txt'],
];

// expected returns the bytes vendor/ must hold, by vendored file name.
export function expected() {
  if (!existsSync(join(pkgDir, 'package.json'))) {
    throw new Error(`${pkgDir} is missing: run npm ci in static/`);
  }
  const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies['maplibre-gl'];
  const installed = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  if (pinned !== installed) {
    throw new Error(`node_modules has maplibre-gl ${installed}, package.json pins ${pinned}: run npm ci`);
  }
  const out = new Map();
  for (const [src, dst] of files) out.set(dst, readFileSync(join(pkgDir, src)));
  out.set('VERSION', Buffer.from(installed + '\n'));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const want = expected();
  if (process.argv.includes('--check')) {
    let bad = 0;
    for (const [name, bytes] of want) {
      const p = join(vendorDir, name);
      if (!existsSync(p) || !readFileSync(p).equals(bytes)) {
        console.error(`vendor/maplibre-gl/${name} differs from node_modules: run npm run vendor`);
        bad++;
      }
    }
    process.exit(bad ? 1 : 0);
  }
  mkdirSync(vendorDir, { recursive: true });
  for (const [name, bytes] of want) writeFileSync(join(vendorDir, name), bytes);
  console.log(`vendored maplibre-gl ${want.get('VERSION').toString().trim()} into vendor/maplibre-gl/`);
}
