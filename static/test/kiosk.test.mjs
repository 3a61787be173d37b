// The kiosk in headless Chromium against the real flowtiles server: figures
// follow records POSTed to /api/ingest while the page is open, and the page
// recovers by itself when the server is killed and started again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watch, screenshot, waitFor, freePort } from './helpers.mjs';

const TOKEN = 'kiosk-test-token';
// fixed demo months (2025), so that nobody in the demo data is "now"
const ARGS = ['--ingest-token', TOKEN, '--live-interval', '1s', '--demo-start', '2025-01-01'];
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

// post sends n people seen in the centre in the last completed 15-minute
// step and again in the current one: live figures are of whole completed
// steps, and whichever step is the last completed while the test runs
// holds the n people.
const STEP = 15 * 60 * 1000;
async function post(n, tag) {
  const now = Date.now();
  const stepEnd = Math.floor(now / STEP) * STEP;
  const lines = ['observed_at,lon,lat,weight,visitor_id,age_band,gender,nationality,origin_code,spend_class'];
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  for (let i = 0; i < n; i++) {
    const lon = (12.4168 + (i % 4) * 0.0003).toFixed(5);
    const lat = (42.9810 + (i % 6) * 0.0004).toFixed(5);
    for (const t of [stepEnd - (60 + (i % 5) * 30) * 1000, stepEnd + Math.floor((now - stepEnd) / 2)]) {
      lines.push(`${iso(t)},${lon},${lat},1,kiosk-${tag}-${i},25-34,f,IT,054039,medium`);
    }
  }
  const r = await fetch(`${server.url}/api/ingest`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/csv' },
    body: lines.join('\n') + '\n',
  });
  const body = await r.text();
  assert.equal(r.status, 201, body);
  return JSON.parse(body);
}

const present = (page) => page.textContent('#present');
// near is true in the page when it shows n people give or take the
// published noise (at most ±5 for counts under 100 by default).
const near = (n) => {
  const v = Number(document.getElementById('present').textContent);
  return Number.isInteger(v) && Math.abs(v - n) <= 5;
};

test('the kiosk shows live figures, follows ingested data and recovers after a server restart', { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const problems = watch(page);
  await page.goto(`${server.url}/kiosk?stale_ms=6000`);
  await waitFor(page, () => document.body.dataset.conn === 'up' && document.getElementById('present').textContent !== '');
  await waitFor(page, () => window.flowtilesKiosk.map?.loaded() && window.flowtilesKiosk.map.areTilesLoaded());
  // Nobody in the demo data is "now": fewer than k, never zero.
  assert.match(await present(page), /meno di 15 persone/);
  assert.equal(await page.locator('#zones li:not([hidden])').count(), 6);
  assert.match(await page.textContent('#clock'), /^\d\d:\d\d$/);
  assert.deepEqual(problems, [], 'no errors on load');

  // New records while the page is open.
  const v0 = Number(await page.evaluate(() => document.body.dataset.dataVersion));
  const res = await post(40, 'a');
  assert.ok(res.data_version > v0);
  await waitFor(page, near, 40);
  const shown = await present(page);
  await waitFor(page, (v) => Number(document.body.dataset.dataVersion) >= v, res.data_version);
  assert.match(await page.textContent('#zones'), /persone/);
  // The live density map refetched its tiles for the new data version.
  await waitFor(page, () => {
    const m = window.flowtilesKiosk.map;
    return m.areTilesLoaded() && m.queryRenderedFeatures({ layers: ['density-bins', 'density-suppressed'] }).length > 0;
  });
  assert.deepEqual(problems, [], 'no errors while following the feed');
  await screenshot(page, 'kiosk-1920x1080.png');
  await page.setViewportSize({ width: 1366, height: 768 });
  await new Promise((r) => setTimeout(r, 500));
  await screenshot(page, 'kiosk-1366x768.png');

  // Outage: the server dies; the page says so and keeps its last figures.
  await server.stop(true);
  await waitFor(page, () => document.body.dataset.conn === 'down', null);
  assert.equal(await present(page), shown);
  assert.equal(await page.isVisible('#conn'), true);
  await new Promise((r) => setTimeout(r, 1500));

  // The server comes back on the same port (its memory is new): the page
  // reconnects without a reload and follows the new data.
  server = await startServer({ port, args: ARGS });
  await waitFor(page, () => document.body.dataset.conn === 'up', null);
  await post(25, 'b');
  await waitFor(page, near, 25);
  assert.equal(await page.isVisible('#conn'), false);
  // The map follows the restarted server's data too.
  await waitFor(page, () => {
    const m = window.flowtilesKiosk.map;
    return m.areTilesLoaded() && m.queryRenderedFeatures({ layers: ['density-bins', 'density-suppressed'] }).length > 0;
  }, null, 20000);
  assert.ok(!problems.some((p) => p.startsWith('pageerror')), problems.join('\n'));
  await page.close();
});

test('the kiosk in English, with no controls', { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = watch(page);
  await page.goto(`${server.url}/kiosk?lang=en`);
  await waitFor(page, () => document.body.dataset.conn === 'up' && document.getElementById('present').textContent !== '');
  // the feed's completed quarter hour (window_start, window_end)
  assert.match(await page.textContent('#k-now'), /^people in town between \d\d:\d\d and \d\d:\d\d$/);
  // (the map, loaded after the figures, is in place before counting nodes)
  await waitFor(page, () => window.flowtilesKiosk.map?.loaded(), null, 60000);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await page.locator('input, select, button').count(), 0);
  // Weeks unattended: live events update nodes in place, nothing piles up.
  const census = () => page.evaluate(() => ({
    nodes: document.getElementsByTagName('*').length,
    text: document.body.textContent.length > 0,
    updated: document.getElementById('updated').textContent,
  }));
  const a = await census();
  await post(20, 'c');
  await waitFor(page, (u) => document.getElementById('updated').textContent !== u, a.updated);
  await new Promise((r) => setTimeout(r, 3500)); // a few more events (1 s interval)
  const b = await census();
  assert.notEqual(b.updated, a.updated, 'events arrived');
  assert.equal(b.nodes, a.nodes, 'same number of DOM nodes after more events');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a feed that hangs without a word is replaced by the watchdog', { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = watch(page);
  let hang = true;
  let hung = 0;
  let passed = 0;
  // The first connection is accepted by nobody: no response, no error.
  await page.route('**/api/live', (route) => {
    if (hang) {
      hung++;
      return; // left pending
    }
    passed++;
    return route.continue();
  });
  await page.goto(`${server.url}/kiosk?stale_ms=3000`);
  await waitFor(page, () => document.body.dataset.conn === 'down', null);
  assert.ok(hung >= 1);
  hang = false;
  await waitFor(page, () => document.body.dataset.conn === 'up' && document.getElementById('present').textContent !== '', null);
  assert.ok(passed >= 1, 'reconnected through a new request');
  assert.ok(!problems.some((p) => p.startsWith('pageerror') || p.startsWith('console')), problems.join('\n'));
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  await page.close();
});
