// A town's pages under /t/{town}/ in headless Chromium against the real
// flowtiles server (the embedded demo is the town deruta): every request
// they make for the town's data stays under the prefix, so that a reverse
// proxy can route a town by it, and the kiosk's headline is the town's,
// from /api/town, not a name in the page's code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watch, waitFor, openPlanner } from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ args: ['--demo-start', '2025-01-01', '--live-interval', '1s'] });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// outside lists the server's URLs a page asked for outside /t/deruta/ but
// for the files every town shares (scripts and styles of the page, fonts,
// the colour classes).
const outside = (urls) => urls
  .map((u) => new URL(u))
  .filter((u) => u.origin === server.url && !u.pathname.startsWith('/t/deruta/') && !/^\/(static|fonts)\/|^\/styles\/classes\.json$/.test(u.pathname))
  .map((u) => u.pathname + u.search);

test('the planner of a town asks for everything under its prefix', { timeout: 300000 }, async () => {
  const requests = [];
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('request', (r) => requests.push(r.url()));
  const problems = watch(page);
  await page.goto(`${server.url}/t/deruta/`);
  await waitFor(page, () => {
    const m = window.flowtiles?.map;
    return m && m.loaded() && m.areTilesLoaded();
  }, null, 60000);
  const tiles = requests.filter((u) => u.includes('/tiles/density/'));
  assert.ok(tiles.length > 0, 'density tiles were asked for');
  assert.deepEqual(outside(requests), []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the planner at the root still works as before', { timeout: 300000 }, async () => {
  const { page, problems, tiles } = await openPlanner(browser, server, '/');
  assert.ok(tiles.some((u) => new URL(u).pathname.startsWith('/tiles/density/')), tiles.join('\n'));
  assert.deepEqual(problems, []);
  await page.close();
});

test("the kiosk's headline is the town's, in the page's language", { timeout: 300000 }, async () => {
  for (const [lang, want] of [['', 'Centro storico di Deruta'], ['?lang=en', 'Deruta town centre']]) {
    const requests = [];
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    page.on('request', (r) => requests.push(r.url()));
    const problems = watch(page);
    await page.goto(`${server.url}/t/deruta/kiosk${lang}`);
    await waitFor(page, () => document.body.dataset.conn === 'up' && document.getElementById('k-title').textContent !== '');
    assert.equal(await page.textContent('#k-title'), want);
    assert.equal(await page.title(), want);
    await waitFor(page, () => window.flowtilesKiosk.map?.loaded(), null, 60000);
    assert.deepEqual(outside(requests), []);
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test("another town's name and kiosk settings come from its data", { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = watch(page);
  // The server's own /api/town, with the settings of a town that sets a
  // title and an English kiosk (what `flowtiles towns add` stores).
  await page.route('**/t/deruta/api/town', async (route) => {
    const res = await route.fetch();
    const town = await res.json();
    assert.equal(town.name, 'Deruta');
    Object.assign(town, { name: 'Torgiano', names: { en: 'Torgiano' }, kiosk: { lang: 'en', title: { it: 'Torgiano, il borgo del vino' } } });
    await route.fulfill({ response: res, json: town });
  });
  await page.goto(`${server.url}/t/deruta/kiosk`);
  await waitFor(page, () => document.getElementById('k-title').textContent !== '');
  // the town's kiosk language (English, no title of its own in it)
  assert.equal(await page.textContent('#k-title'), 'Torgiano town centre');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await page.goto(`${server.url}/t/deruta/kiosk?lang=it`);
  await waitFor(page, () => document.getElementById('k-title').textContent !== '');
  assert.equal(await page.textContent('#k-title'), 'Torgiano, il borgo del vino');
  assert.deepEqual(problems, []);
  await page.close();
});
