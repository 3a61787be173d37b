// A town's pages under /t/{town}/ in headless Chromium against the real
// flowtiles server (the embedded demo's two towns, deruta and torgiano):
// every request they make for the town's data stays under the prefix, so
// that a reverse proxy can route a town by it; each town's map shows its
// own people; the kiosk's headline is the town's, from /api/town, not a
// name in the page's code; / is the town picker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watch, waitFor, settle } from './helpers.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ towns: null, args: ['--demo-start', '2025-01-01', '--demo-records', '300000', '--live-interval', '1s'] });
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

test('the root is the town picker, leading to each town\'s planner', { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const problems = watch(page);
  await page.goto(`${server.url}/?lang=en`);
  await waitFor(page, () => document.querySelectorAll('#towns li').length === 2);
  assert.equal(await page.textContent('#heading'), 'Choose a town');
  const names = await page.$$eval('#towns li strong', (els) => els.map((e) => e.textContent));
  assert.deepEqual(names, ['Deruta', 'Torgiano']);
  await page.click('li[data-town="torgiano"] a:first-of-type');
  await page.waitForURL(`${server.url}/t/torgiano/?lang=en`);
  await settle(page);
  // the planner opens on Torgiano, and its map shows Torgiano's people
  const centre = await page.evaluate(() => window.flowtiles.map.getCenter().toArray());
  assert.ok(Math.abs(centre[0] - 12.4337) < 0.02 && Math.abs(centre[1] - 43.0255) < 0.02, `centre ${centre}`);
  assert.deepEqual(problems, []);
  await page.close();
});

test("each town's map shows its own people", { timeout: 300000 }, async () => {
  // the same tile of the global grid over Torgiano's centre: people under
  // /t/torgiano/, nobody under /t/deruta/ (Deruta's records are 5 km away)
  const z = 15;
  const n = 2 ** z;
  const x = Math.floor((12.43367 + 180) / 360 * n);
  const lat = 43.02551 * Math.PI / 180;
  const y = Math.floor((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2 * n);
  const torgiano = await fetch(`${server.url}/t/torgiano/tiles/density/${z}/${x}/${y}.mvt`);
  const deruta = await fetch(`${server.url}/t/deruta/tiles/density/${z}/${x}/${y}.mvt`);
  assert.equal(torgiano.status, 200);
  assert.equal(deruta.status, 204);
});

test("the kiosk's headline is the town's, in the page's language", { timeout: 300000 }, async () => {
  for (const [lang, want] of [['', 'Centro storico di Deruta'], ['?lang=en', "Deruta's historic centre"]]) {
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
