// The map under the data, at its three levels (issue 16): flowtiles' own
// reference context when given nothing, a local archive (serve --basemap
// FILE, built here), and any MapLibre style (--basemap-url), on both pages,
// with labels from glyphs the binary serves and nothing from third-party
// hosts unless --basemap-url names one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, watch, waitFor, screenshot, repoRoot, freePort } from './helpers.mjs';

const ARGS = ['--demo-start', '2025-01-01', '--live-interval', '1s'];
let browser;
let dir;

before(async () => {
  browser = await launch();
  dir = mkdtempSync(join(tmpdir(), 'flowtiles-basemap-'));
});

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

// visit opens a page, records every request, and waits for its map.
async function visit(server, path, mapOf) {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = watch(page);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(server.url + path);
  await waitFor(page, (expr) => {
    const m = eval(expr); // eslint-disable-line no-eval
    return m && m.loaded() && m.areTilesLoaded();
  }, mapOf, 60000);
  await page.evaluate((expr) => new Promise((r) => { const m = eval(expr); m.once('idle', r); m.triggerRepaint(); setTimeout(r, 10000); }), mapOf); // eslint-disable-line no-eval
  return { page, problems, requests };
}

const PLANNER = 'window.flowtiles?.map';
const KIOSK = 'window.flowtilesKiosk?.map';

// layerOrder is the style's layer ids and where the data begins.
const layerOrder = (page, mapOf) => page.evaluate((expr) => eval(expr).getStyle().layers.map((l) => l.id), mapOf); // eslint-disable-line no-eval

test('no basemap given: the reference context with names under the data, labels from the binary', { timeout: 300000 }, async () => {
  const server = await startServer({ args: ARGS });
  try {
    const { page, problems, requests } = await visit(server, '/?z=12.5', PLANNER);
    const ids = await layerOrder(page, PLANNER);
    const firstData = ids.findIndex((id) => !id.startsWith('basemap-'));
    assert.ok(firstData > 3 && ids.slice(firstData).every((id) => !id.startsWith('basemap-')), `basemap layers first: ${ids.join()}`);
    assert.ok(requests.some((u) => /\/tiles\/basemap\/\d+\/\d+\/\d+\.mvt/.test(u)), 'basemap tiles');
    assert.ok(requests.some((u) => /\/fonts\/Noto%20Sans%20Regular\/0-255\.pbf/.test(u)), 'glyphs from the binary');
    assert.deepEqual(requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:')), [], 'no third-party host');
    const names = await page.evaluate(() => window.flowtiles.map.queryRenderedFeatures({ layers: ['basemap-municipality-label'] }).map((f) => f.properties.name));
    assert.ok(names.includes('Deruta'), `municipality names: ${names.join()}`);
    const lines = await page.evaluate(() => window.flowtiles.map.queryRenderedFeatures({ layers: ['basemap-municipality-line'] }).length);
    assert.ok(lines > 0, 'municipal boundaries drawn');
    await page.evaluate(() => window.flowtiles.map.jumpTo({ zoom: 15.5 }));
    await waitFor(page, () => window.flowtiles.map.queryRenderedFeatures({ layers: ['zones-label'] }).length > 0, null);
    await screenshot(page, 'basemap-context-planner.png');
    assert.deepEqual(problems, []);
    await page.close();
    // The kiosk too, with the same glyphs.
    const k = await visit(server, '/kiosk', KIOSK);
    const kids = await layerOrder(k.page, KIOSK);
    assert.ok(kids[0].startsWith('basemap-'), kids.join());
    assert.deepEqual(k.requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:')), []);
    assert.ok(k.requests.some((u) => u.includes('/fonts/')));
    assert.deepEqual(k.problems, []);
    await k.page.close();
  } finally {
    await server.stop();
  }
});

test('serve --basemap FILE: a local PMTiles or MBTiles archive under the data, with its style', { timeout: 600000 }, async () => {
  for (const file of ['sample.pmtiles', 'sample.mbtiles']) {
    const path = join(dir, file);
    execFileSync('go', ['run', './internal/basemap/mkarchive', path], { cwd: repoRoot, stdio: 'inherit' });
    const server = await startServer({ args: [...ARGS, '--basemap', path] });
    try {
      for (const [p, mapOf] of [['/?z=15', PLANNER], ['/kiosk', KIOSK]]) {
        const { page, problems, requests } = await visit(server, p, mapOf);
        assert.ok(requests.some((u) => /\/tiles\/basemap\/15\/\d+\/\d+\.mvt/.test(u) || /\/tiles\/basemap\/1[4-6]\/\d+\/\d+\.mvt/.test(u)), `${file} ${p}: archive tiles`);
        assert.deepEqual(requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:')), [], 'no third-party host');
        const drawn = await page.evaluate((expr) => {
          const m = eval(expr); // eslint-disable-line no-eval
          const fs = m.queryRenderedFeatures().filter((f) => f.source === 'basemap');
          return { layers: [...new Set(fs.map((f) => f.sourceLayer))], names: [...new Set(fs.map((f) => f.properties.name).filter(Boolean))] };
        }, mapOf);
        for (const l of ['earth', 'roads']) assert.ok(drawn.layers.includes(l), `${file} ${p}: ${l} drawn (${drawn.layers})`);
        if (p.startsWith('/?')) {
          assert.ok(drawn.names.includes('Via della Prova'), `${file}: street label (${drawn.names})`);
          const ids = await layerOrder(page, mapOf);
          assert.ok(ids.indexOf('earth') < ids.indexOf('density-bins'), 'the archive under the data');
          await screenshot(page, `basemap-archive-${file}.png`);
        }
        assert.deepEqual(problems, [], `${file} ${p}`);
        await page.close();
      }
    } finally {
      await server.stop();
    }
  }
});

test('--basemap-url: both pages draw their data on that style', { timeout: 300000 }, async () => {
  const port = await freePort();
  const style = {
    version: 8,
    sources: { ext: { type: 'geojson', data: { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[[12.3, 42.9], [12.5, 42.9], [12.5, 43.05], [12.3, 43.05], [12.3, 42.9]]] } } } },
    layers: [
      { id: 'ext-background', type: 'background', paint: { 'background-color': '#e8efe4' } },
      { id: 'ext-fill', type: 'fill', source: 'ext', paint: { 'fill-color': '#d5e4d0' } },
    ],
  };
  let hits = 0;
  const ext = createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
    res.end(JSON.stringify(style));
  });
  await new Promise((r) => ext.listen(port, '127.0.0.1', r));
  const url = `http://127.0.0.1:${port}/style.json`;
  const server = await startServer({ args: [...ARGS, '--basemap-url', url] });
  try {
    for (const [p, mapOf] of [['/', PLANNER], ['/kiosk', KIOSK]]) {
      const before = hits;
      const { page, problems, requests } = await visit(server, p, mapOf);
      assert.ok(requests.includes(url), `${p}: the basemap style was asked for`);
      assert.ok(hits > before);
      const ids = await layerOrder(page, mapOf);
      assert.deepEqual(ids.slice(0, 2), ['ext-background', 'ext-fill'], `${p}: ${ids.join()}`);
      assert.ok(ids.includes('density-bins'));
      assert.ok((await page.evaluate((expr) => eval(expr).queryRenderedFeatures({ layers: ['ext-fill'] }).length, mapOf)) > 0, 'the external layer is drawn'); // eslint-disable-line no-eval
      if (p === '/') assert.ok((await page.evaluate(() => window.flowtiles.map.queryRenderedFeatures({ layers: ['density-bins'] }).length)) > 0, 'bins on top');
      assert.deepEqual(problems, [], p);
      await page.close();
    }
  } finally {
    await server.stop();
    ext.close();
  }
});
