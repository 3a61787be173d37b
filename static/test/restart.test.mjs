// Both pages draw their maps again after the server was down for 40 s and
// came back (a deploy, a power cut): an unattended kiosk must not stay
// map-less. The bound on "again" is generous (the machine is shared); the
// time it took is reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watch, waitFor, freePort, screenshot } from './helpers.mjs';

const TOKEN = 'restart-test-token';
const ARGS = ['--ingest-token', TOKEN, '--live-interval', '1s', '--demo-start', '2025-01-01'];
const OUTAGE_MS = 40000;
const BOUND_MS = 45000; // generous: the target is 10 s on a quiet machine
let server;
let browser;
let port;

before(async () => {
  port = await freePort();
  server = await startServer({ port, args: ARGS });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// post sends n people seen in the centre a few minutes ago (the kiosk's
// live map shows the last hour).
async function post(n, tag) {
  const now = Date.now();
  const lines = ['observed_at,lon,lat,weight,visitor_id'];
  for (let i = 0; i < n; i++) {
    const t = new Date(now - (60 + (i % 5) * 30) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    lines.push(`${t},${(12.4168 + (i % 4) * 0.0003).toFixed(5)},${(42.9810 + (i % 6) * 0.0004).toFixed(5)},1,restart-${tag}-${i}`);
  }
  const r = await fetch(`${server.url}/api/ingest`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/csv' },
    body: lines.join('\n') + '\n',
  });
  assert.equal(r.status, 201, await r.text());
}

const drawn = {
  planner: () => {
    const m = window.flowtiles?.map;
    return !!m && m.areTilesLoaded() && m.queryRenderedFeatures({ layers: ['density-bins'] }).length > 0;
  },
  kiosk: () => {
    const m = window.flowtilesKiosk?.map;
    return !!m && m.loaded() && m.areTilesLoaded() && m.queryRenderedFeatures({ layers: ['density-bins', 'density-suppressed'] }).length > 0;
  },
};

test('after a 40 s outage both maps draw their bins again by themselves', { timeout: 300000 }, async (t) => {
  await post(60, 'a');
  const pages = {};
  for (const [name, path] of [['planner', '/'], ['kiosk', '/kiosk?stale_ms=6000']]) {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const problems = watch(page);
    const tiles = [];
    page.on('request', (r) => { if (r.url().includes('.mvt')) tiles.push({ url: r.url(), at: Date.now() }); });
    await page.goto(server.url + path);
    await waitFor(page, drawn[name], null, 60000);
    pages[name] = { page, problems, tiles };
  }
  await server.stop(true);
  const down = Date.now();
  for (const { page } of Object.values(pages)) await waitFor(page, () => document.body.dataset.conn === 'down', null);
  // While the server is away the view changes (a planner zooms, a kiosk's
  // screen is turned): the tiles this needs fail.
  await pages.planner.page.evaluate(() => window.flowtiles.map.zoomTo(window.flowtiles.map.getZoom() + 1, { duration: 0 }));
  await pages.kiosk.page.evaluate(() => window.flowtilesKiosk.map.zoomTo(window.flowtilesKiosk.map.getZoom() + 1, { duration: 0 }));
  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - down))));

  server = await startServer({ port, args: ARGS });
  const up = Date.now();
  await post(60, 'a'); // the restarted embedded server starts from its demo data again
  const took = {};
  await Promise.all(Object.entries(pages).map(async ([name, { page, tiles }]) => {
    // The tiles that failed while the server was away are asked for again...
    const deadline = up + BOUND_MS;
    while (!tiles.some((x) => x.at >= up)) {
      assert.ok(Date.now() < deadline, `${name}: no tile requested within ${BOUND_MS} ms of the restart`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // ...and the bins are drawn from them.
    await waitFor(page, drawn[name], null, Math.max(1000, deadline - Date.now()));
    took[name] = Date.now() - up;
    await screenshot(page, `restart-${name}.png`);
  }));
  t.diagnostic(`bins drawn again after the restart: planner ${took.planner} ms, kiosk ${took.kiosk} ms`);
  for (const [name, { page, problems }] of Object.entries(pages)) {
    assert.ok(!problems.some((p) => p.startsWith('pageerror')), `${name}: ${problems.join('\n')}`);
    // no developer text on screen after the outage
    assert.doesNotMatch(await page.textContent('body'), /AJAXError|Failed to fetch|https?:\/\//, name);
    await page.close();
  }
});
