// The planner explorer in headless Chromium against the real flowtiles
// server (embedded demo data).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, watch, screenshot, waitFor, openPlanner, settle, act } from './helpers.mjs';

const TOKEN = 'planner-test-token';
let server;
let browser;

before(async () => {
  server = await startServer({ args: ['--ingest-token', TOKEN, '--live-interval', '1s', '--demo-start', '2025-01-01'] });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// open loads a planner URL of this file's server (helpers.openPlanner).
const open = (path, viewport) => openPlanner(browser, server, path, viewport);

function rendered(page, layers) {
  return page.evaluate((layers) => window.flowtiles.map.queryRenderedFeatures({ layers })
    .map((f) => ({ id: f.id, layer: f.layer.id, p: f.properties, state: f.state })), layers);
}

function densityOf(feats) {
  return feats.filter((f) => f.layer === 'density-bins').map((f) => `${f.id}:${f.p.visitors}`).sort().join(' ');
}

test('the planner loads without console errors or failed requests and draws density bins and zones', { timeout: 300000 }, async () => {
  const { page, problems, tiles } = await open('/');
  const feats = await rendered(page, ['density-bins', 'density-suppressed', 'zones-line']);
  const bins = feats.filter((f) => f.layer === 'density-bins');
  assert.ok(bins.length > 5, `density bins rendered: ${bins.length}`);
  assert.ok(bins.every((f) => typeof f.p.visitors === 'number' && f.p.visitors >= 15), 'published bins carry visitors ≥ k');
  assert.ok(feats.some((f) => f.layer === 'zones-line'), 'zones drawn');
  assert.ok(tiles.some((u) => /\/tiles\/density\/\d+\/\d+\/\d+\.mvt/.test(u)), 'density tiles requested');
  // The legend is fixed and labelled, with the hatched class for withheld bins.
  const legend = await page.textContent('#legend');
  assert.match(legend, /50 – 200/);
  assert.match(legend, /Meno di 15 persone/);
  await screenshot(page, 'planner-1366x768.png');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the planner at 1920x1080 and at tablet width', { timeout: 300000 }, async () => {
  for (const [w, h] of [[1920, 1080], [1024, 768]]) {
    const { page, problems } = await open('/?lang=en', { width: w, height: h });
    assert.equal(await page.textContent('#lang'), 'Italiano');
    const bins = (await rendered(page, ['density-bins'])).length;
    assert.ok(bins > 0, `bins at ${w}x${h}`);
    await screenshot(page, `planner-${w}x${h}.png`);
    assert.deepEqual(problems, []);
    await page.close();
  }
});

test('origin areas and flows render (choropleth with a legend)', { timeout: 300000 }, async () => {
  const { page, problems } = await open('/?layers=origins,flows&z=10');
  const feats = await rendered(page, ['origins-fill', 'origins-suppressed', 'flows-line']);
  const areas = feats.filter((f) => f.layer.startsWith('origins'));
  assert.ok(areas.length > 0, 'origin areas rendered');
  assert.ok(areas.some((f) => f.p.code && f.p.level), 'areas carry code and level');
  assert.match(await page.textContent('#legend'), /1\.000 residenti/);
  await screenshot(page, 'planner-origins-1366x768.png');
  // Clicking an origin area: figures about the people from there.
  const pt = await page.evaluate(() => {
    const m = window.flowtiles.map;
    const r = m.getCanvas().getBoundingClientRect();
    // Near the middle: the panel takes the right of the map when it opens.
    for (let y = r.height * 0.3; y < r.height * 0.9; y += 23) {
      for (let x = r.width * 0.3; x < r.width * 0.9; x += 23) {
        // a point of the map itself, not under the legend
        if (document.elementFromPoint(r.left + x, r.top + y) !== m.getCanvas()) continue;
        const fs = m.queryRenderedFeatures([x, y], { layers: ['origins-fill'] });
        if (fs.length && fs[0].properties.level === 'municipality') return { x: r.left + x, y: r.top + y, code: fs[0].properties.code };
      }
    }
    return null;
  });
  assert.ok(pt, 'a municipality to click');
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#panel .chart-hour svg');
  assert.equal(new URL(page.url()).searchParams.get('sel').split(':').slice(0, 3).join(':'), `origin:municipality:${pt.code}`);
  assert.match(await page.textContent('#panel h2'), /Provenienza/);
  await settle(page);
  assert.ok((await rendered(page, ['origins-selected'])).length > 0, 'the origin area is outlined');
  assert.deepEqual(problems, []);
  await page.close();
});

test('changing a filter changes the tile URLs, the rendered bins and the URL', { timeout: 300000 }, async () => {
  const { page, problems, tiles } = await open('/');
  const before = densityOf(await rendered(page, ['density-bins']));
  const n = tiles.length;
  await act(page, () => page.check('input[name=age][value="65+"]'));
  const after = tiles.slice(n).filter((u) => u.includes('/tiles/density/'));
  assert.ok(after.length > 0, 'new density tiles requested');
  assert.ok(after.every((u) => new URL(u).searchParams.get('age') === '65+'), `filtered URLs: ${after[0]}`);
  const now = densityOf(await rendered(page, ['density-bins']));
  assert.notEqual(now, before, 'rendered bins changed');
  assert.equal(new URL(page.url()).searchParams.get('age'), '65+');
  // Hours, a text control, the same way.
  const m = tiles.length;
  await act(page, async () => {
    await page.fill('#f-hours', '9-12');
    await page.press('#f-hours', 'Enter');
    await page.locator('#f-hours').blur();
  });
  assert.ok(tiles.slice(m).some((u) => new URL(u).searchParams.get('hours') === '9-12'));
  assert.equal(new URL(page.url()).searchParams.get('hours'), '9-12');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the state round-trips through the URL, with back and forward', { timeout: 300000 }, async () => {
  const q = 'from=2025-05-01&to=2025-05-31&hours=8-12,18&days=sat,sun&age=25-34,35-44&gender=f&nationality=DE&spend=high&zone=centro-storico&layers=density,flows&lang=en&z=15';
  const { page, problems } = await open('/?' + q);
  const search = new URL(page.url()).searchParams;
  for (const [k, v] of new URLSearchParams(q)) assert.equal(search.get(k), v, k);
  assert.equal(await page.inputValue('#f-from'), '2025-05-01');
  assert.equal(await page.inputValue('#f-hours'), '8-12,18');
  assert.ok(await page.isChecked('input[name=days][value=sat]'));
  assert.ok(!(await page.isChecked('input[name=days][value=mon]')));
  assert.ok(await page.isChecked('input[name=age][value="35-44"]'));
  assert.ok(await page.isChecked('input[name=layer][value=flows]'));
  assert.ok(!(await page.isChecked('input[name=layer][value=zones]')));
  assert.equal(await page.textContent('#title'), 'flowtiles: people in the town centre');
  assert.equal(await page.inputValue('#f-zone'), 'centro-storico');
  assert.match(await page.evaluate(() => window.flowtiles.map.getSource('zones').tiles[0]), /zone=centro-storico/);
  const src = () => page.evaluate(() => window.flowtiles.map.getSource('density').tiles[0]);
  assert.match(await src(), /gender=f/);
  // A change is a history entry; back restores the controls and the tiles.
  await act(page, () => page.uncheck('input[name=gender][value=f]'));
  assert.doesNotMatch(await src(), /gender=f/);
  assert.equal(new URL(page.url()).searchParams.get('gender'), null);
  await act(page, () => page.goBack());
  assert.equal(new URL(page.url()).searchParams.get('gender'), 'f');
  assert.ok(await page.isChecked('input[name=gender][value=f]'));
  assert.match(await src(), /gender=f/);
  await act(page, () => page.goForward());
  assert.ok(!(await page.isChecked('input[name=gender][value=f]')));
  // The language toggle is state too.
  await page.click('#lang');
  assert.equal(new URL(page.url()).searchParams.get('lang'), null);
  assert.equal(await page.textContent('#lang'), 'English');
  assert.deepEqual(problems, []);
  await page.close();
});

test('comparing two periods draws a difference map on a diverging scale', { timeout: 300000 }, async () => {
  const { page, problems } = await open('/?from=2025-08-01&to=2025-08-31&compare_from=2025-02-01&compare_to=2025-02-28');
  await waitFor(page, () => window.flowtiles.diff.bins > 0 && window.flowtiles.diff.changed > 0);
  await settle(page);
  const feats = await rendered(page, ['density-bins', 'density-cmp']);
  const chg = feats.map((f) => f.state?.chg).filter((c) => typeof c === 'number');
  assert.ok(chg.length > 0, 'bins coloured by change');
  assert.ok(chg.some((c) => c !== 0), 'a nonzero difference');
  const src = await page.evaluate(() => window.flowtiles.map.getSource('density_cmp').tiles[0]);
  assert.match(src, /from=2025-02-01/);
  assert.match(await page.textContent('#legend'), /Variazione/);
  assert.match(await page.textContent('#legend'), /\+50/);
  assert.match(await page.textContent('#legend'), /2025-08-01 → 2025-08-31\s+vs\s+2025-02-01 → 2025-02-28/);
  await screenshot(page, 'planner-compare-1366x768.png');
  assert.deepEqual(problems, []);
  await page.close();
});

test('clicking a bin opens the stats panel with charts and a CSV download', { timeout: 300000 }, async () => {
  const { page, problems } = await open('/');
  // The screen point of the busiest rendered bin.
  const pt = await page.evaluate(() => {
    const m = window.flowtiles.map;
    const fs = m.queryRenderedFeatures({ layers: ['density-bins'] }).sort((a, b) => b.properties.visitors - a.properties.visitors);
    const ring = fs[0].geometry.type === 'Polygon' ? fs[0].geometry.coordinates[0] : fs[0].geometry.coordinates[0][0];
    const c = ring.slice(0, -1).reduce((a, p) => [a[0] + p[0] / (ring.length - 1), a[1] + p[1] / (ring.length - 1)], [0, 0]);
    const p = m.project(c);
    const r = m.getCanvas().getBoundingClientRect();
    return { x: r.left + p.x, y: r.top + p.y };
  });
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#panel .chart-hour svg');
  assert.match(new URL(page.url()).searchParams.get('sel'), /^bin:\d+:[-\d.]+,[-\d.]+,[-\d.]+,[-\d.]+$/);
  await settle(page);
  assert.equal((await rendered(page, ['density-selected'])).length > 0, true, 'the selected bin is outlined');
  assert.equal(await page.locator('#panel .chart-hour .bar').count(), 24);
  assert.match(await page.textContent('#panel dl.figures'), /Presenze/);
  const href = await page.getAttribute('#panel a.csv', 'href');
  const r = await fetch(server.url + href);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/csv/);
  assert.match(await r.text(), /^key,label,presences,/); // plain CSV: the header first
  await screenshot(page, 'planner-panel-1366x768.png');
  // The selection is in the URL: a reload opens the same panel.
  await page.reload();
  await settle(page);
  await page.waitForSelector('#panel .chart-hour svg');
  assert.deepEqual(problems, []);
  await page.close();
});

test('clicking a zone opens its figures', { timeout: 300000 }, async () => {
  const { page, problems } = await open('/?layers=zones');
  const pt = await page.evaluate(() => {
    const m = window.flowtiles.map;
    const c = m.getCanvas().getBoundingClientRect();
    return { x: c.left + c.width / 2, y: c.top + c.height / 2 };
  });
  await page.mouse.click(pt.x, pt.y);
  await page.waitForSelector('#panel .chart-gender svg');
  assert.match(new URL(page.url()).searchParams.get('sel'), /^zone:/);
  assert.match(await page.textContent('#panel h2'), /Zona/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('a place nobody knows is reported at its control in words, and the tiles stay', { timeout: 300000 }, async () => {
  const { page, problems, tiles } = await open('/');
  const src = () => page.evaluate(() => window.flowtiles.map.getSource('density').tiles[0]);
  const before = await src();
  const n = tiles.length;
  await page.fill('#f-origin', 'Atlantide');
  await page.locator('#f-origin').blur();
  await page.waitForSelector('#f-origin[aria-invalid=true]');
  assert.match(await page.textContent('#status'), /Luogo non trovato/);
  assert.doesNotMatch(await page.textContent('#status'), /param|origin=|http|400/);
  assert.equal(await src(), before);
  assert.equal(new URL(page.url()).searchParams.get('origin'), null);
  assert.ok(!tiles.slice(n).some((u) => u.includes('.mvt')), 'no tiles requested');
  assert.deepEqual(problems, []);
  // A bad date the server refuses: its words, not the server's.
  await page.evaluate(() => window.flowtiles.setFilter('from', '2025-13-45', document.getElementById('f-from')));
  await page.waitForSelector('#f-from[aria-invalid=true]');
  assert.match(await page.textContent('#status'), /Filtro non valido: dal «2025-13-45»/);
  await page.close();
});

test('new data announced on /api/live refetches the tiles', { timeout: 300000 }, async () => {
  const { page, problems, tiles } = await open('/?from=2025-06-02&to=2025-06-02');
  const before = densityOf(await rendered(page, ['density-bins']));
  const n = tiles.length;
  const lines = ['observed_at,lon,lat,weight,visitor_id'];
  for (let i = 0; i < 300; i++) lines.push(`2025-06-02T10:${String(i % 60).padStart(2, '0')}:00+02:00,12.4172,42.9828,1,planner-${i}`);
  await act(page, async () => {
    const r = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/csv' },
      body: lines.join('\n') + '\n',
    });
    assert.equal(r.status, 201, await r.text());
    await waitFor(page, () => /[?&]v=\d+/.test(window.flowtiles.map.getSource('density').tiles[0]));
  });
  assert.ok(tiles.slice(n).some((u) => u.includes('/tiles/density/') && new URL(u).searchParams.has('v')), 'tiles refetched');
  assert.notEqual(densityOf(await rendered(page, ['density-bins'])), before, 'the new people are drawn');
  assert.deepEqual(problems, []);
  await page.close();
});
