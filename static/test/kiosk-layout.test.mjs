// The kiosk in front of people (issue 16): landscape screens from 720p to
// 4K and portrait totems, the town filling the map with its zones named and
// a legend, readable from three metres, the headline with its unit and
// window, a trend that does not contradict itself, colours that stand out
// on the dark ground, the figures before MapLibre, and axe-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launch, watch, screenshot, waitFor, axe, staticDir } from './helpers.mjs';

const TOKEN = 'kiosk-layout-token';
let server;
let browser;

before(async () => {
  server = await startServer({ args: ['--ingest-token', TOKEN, '--live-interval', '1s', '--demo-start', '2025-01-01'] });
  browser = await launch();
  // people in the centre in the last completed quarter hour and in the
  // current one (the headline counts the last completed quarter, whatever
  // the minute the tests run at, and one may end while they run), so that
  // the live map has bins and the headline a number
  const quarter = 15 * 60e3;
  const now = Date.now();
  const current = Math.floor(now / quarter) * quarter;
  const lines = ['observed_at,lon,lat,weight,visitor_id'];
  for (let i = 0; i < 400; i++) {
    const at = i % 2 === 0 ? current - quarter + (60 + (i % 5) * 30) * 1000 : Math.min(current + (i % 5) * 10e3, now - 5e3);
    lines.push(`${new Date(at).toISOString().replace(/\.\d+Z$/, 'Z')},${(12.4166 + (i % 8) * 0.0003).toFixed(5)},${(42.9808 + (i % 10) * 0.0004).toFixed(5)},1,kl-${i}`);
  }
  const r = await fetch(`${server.url}/api/ingest`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/csv' }, body: lines.join('\n') + '\n' });
  assert.equal(r.status, 201, await r.text());
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const ready = () => {
  const m = window.flowtilesKiosk?.map;
  return document.getElementById('present').textContent !== '' && !!m && m.loaded() && m.areTilesLoaded();
};

test('landscape 720p to 4K and portrait totems: everything on screen, the town filling the map', { timeout: 300000 }, async (t) => {
  const sizes = [[1280, 720], [1366, 768], [1920, 1080], [3840, 2160], [1080, 1920], [2160, 3840]];
  for (const [w, h] of sizes) {
    const page = await browser.newPage({ viewport: { width: w, height: h } });
    const problems = watch(page);
    await page.goto(`${server.url}/kiosk`);
    await waitFor(page, ready, null, 60000);
    await waitFor(page, () => window.flowtilesKiosk.map.queryRenderedFeatures({ layers: ['zones-label'] }).length > 0, null);
    const m = await page.evaluate(() => {
      const box = (sel) => {
        const r = document.querySelector(sel).getBoundingClientRect();
        return { x: r.left, y: r.top, w: r.width, h: r.height, r: r.right, b: r.bottom };
      };
      const map = window.flowtilesKiosk.map;
      const inView = [...document.querySelectorAll('h1, #clock, #date, #present, #k-now, #trend, #zones li:not([hidden]), #map, #k-legend, #k-map, footer span:not([hidden])')]
        .filter((e) => { const r = e.getBoundingClientRect(); return r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1; })
        .map((e) => e.id || e.tagName);
      // text cut by its box (an ellipsis, or a clock that shows "1")
      const clipped = [...document.querySelectorAll('#clock, #present, #zones .zname, #zones .zval, #k-now')]
        .filter((e) => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map((e) => e.id || e.className + ':' + e.textContent);
      // the town centre (the first zone) in the map box
      const z = map.getBounds();
      return {
        scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight], view: [innerWidth, innerHeight],
        outside: inView, clipped, clock: document.getElementById('clock').textContent,
        map: box('#map'), big: parseFloat(getComputedStyle(document.getElementById('present')).fontSize),
        label: parseFloat(getComputedStyle(document.getElementById('k-now')).fontSize),
        zoom: map.getZoom(), bounds: [z.getWest(), z.getSouth(), z.getEast(), z.getNorth()],
      };
    });
    assert.ok(m.scroll[0] <= m.view[0] && m.scroll[1] <= m.view[1], `${w}x${h}: page ${m.scroll} in ${m.view}`);
    assert.deepEqual(m.outside, [], `${w}x${h}: off screen`);
    assert.deepEqual(m.clipped, [], `${w}x${h}: cut text`);
    assert.match(m.clock, /^\d\d:\d\d$/, `${w}x${h}: clock`);
    assert.ok(m.map.w * m.map.h >= w * h * 0.22, `${w}x${h}: map box ${m.map.w}x${m.map.h}`);
    // From three metres: the headline number at least ~6 % of the short
    // side (8 cm on a 55" screen), its label at least ~1.6 %.
    const short = Math.min(w, h);
    assert.ok(m.big >= short * 0.06, `${w}x${h}: headline ${m.big}px`);
    assert.ok(m.label >= short * 0.016, `${w}x${h}: label ${m.label}px`);
    // The centre fills the map: its bounds take most of the map's width or height.
    const zones = await (await fetch(`${server.url}/api/zones`)).json();
    const [zw, zs, ze, zn] = zones.zones[0].bbox;
    const [bw, bs, be, bn] = m.bounds;
    assert.ok(zw >= bw - 1e-6 && ze <= be + 1e-6 && zs >= bs - 1e-6 && zn <= bn + 1e-6, `${w}x${h}: the centre is in view`);
    assert.ok((ze - zw) / (be - bw) > 0.6 || (zn - zs) / (bn - bs) > 0.6, `${w}x${h}: the centre fills the map`);
    await screenshot(page, `kiosk-${w}x${h}.png`);
    assert.deepEqual(problems, [], `${w}x${h}`);
    await page.close();
  }
  t.diagnostic(`checked ${sizes.map((s) => s.join('x')).join(', ')}`);
});

test('zones named on the map, a legend with its unit, a headline with its window, a trend in words', { timeout: 300000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(`${server.url}/kiosk`);
  await waitFor(page, ready, null, 60000);
  await waitFor(page, () => window.flowtilesKiosk.map.queryRenderedFeatures({ layers: ['zones-label'] }).length >= 3, null);
  const labels = await page.evaluate(() => window.flowtilesKiosk.map.queryRenderedFeatures({ layers: ['zones-label'] }).map((f) => f.properties.name));
  assert.ok(labels.includes('Centro storico'), labels.join());
  assert.match(await page.textContent('#k-legend'), /15 – 25.*≥ 400.*meno di 15 persone/s);
  const caption = await page.textContent('#k-map');
  const m = /Persone per cella dalle (\d\d):00/.exec(caption);
  assert.ok(m, caption);
  const hourBefore = (new Date(Date.now() - 3600e3)).getHours();
  assert.equal(Number(m[1]), hourBefore, 'the map shows the hour before and this one, and says so');
  // the window of the last completed quarter when the feed names it, else the last 15 minutes
  assert.match(await page.textContent('#k-now'), /^persone in paese (negli ultimi 15 minuti|tra le \d\d:\d\d e le \d\d:\d\d)$/);
  // Bins of the live map are drawn from the legend's classes.
  assert.ok((await page.evaluate(() => window.flowtilesKiosk.map.queryRenderedFeatures({ layers: ['density-bins'] }).length)) > 0);
  await page.close();

  // The window from the feed (the last completed step) and the trends.
  const events = (d) => `retry: 60000\n\nevent: live\ndata: ${JSON.stringify(d)}\n\n`;
  const base = {
    time: '2025-03-15T15:22:05+01:00', window_minutes: 15, window_start: '2025-03-15T15:00:00+01:00', window_end: '2025-03-15T15:15:00+01:00',
    data_version: 1, k: 15, zones: [],
  };
  for (const [trend, want] of [
    [{ direction: 'flat', change: 0.09 }, /^stabile rispetto ai 15 minuti prima$/],
    [{ direction: 'up', change: 0.25 }, /^▲ in aumento: \+25\s?% rispetto ai 15 minuti prima$/],
    [{ direction: 'down', change: -0.4 }, /^▼ in calo: -40\s?% rispetto ai 15 minuti prima$/],
  ]) {
    const p = await browser.newPage({ viewport: { width: 1366, height: 768 }, timezoneId: 'Europe/Rome' });
    await p.route('**/api/live', (r) => r.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream' }, body: events({ ...base, town: { present: { value: 212 }, previous: { value: 190 }, typical: { value: 180, weeks: 6 }, trend } }) }));
    await p.goto(`${server.url}/kiosk`);
    await waitFor(p, () => document.getElementById('present').textContent === '212');
    assert.equal(await p.textContent('#k-now'), 'persone in paese tra le 15:00 e le 15:15');
    assert.match((await p.textContent('#trend')).trim(), want);
    await p.unrouteAll({ behavior: 'ignoreErrors' });
    await p.close();
  }
});

test('the live colours stand out on the dark ground, busiest brightest; text is legible', { timeout: 300000 }, async () => {
  const { classes, backgrounds } = JSON.parse(readFileSync(join(staticDir, '..', 'styles', 'classes.json'), 'utf8'));
  const lum = (hex) => {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const live = classes.live.colors.map((c) => ratio(c, backgrounds.kiosk));
  assert.ok(live.every((r) => r >= 3), `kiosk classes against the ground: ${live.map((r) => r.toFixed(2))}`);
  for (let i = 1; i < live.length; i++) assert.ok(live[i] > live[i - 1], 'busier is brighter');
  for (const name of ['density', 'origins']) {
    const r = classes[name].colors.map((c) => ratio(c, backgrounds.planner));
    assert.ok(r.every((x) => x >= 1.5), `${name} classes against the planner's ground: ${r.map((x) => x.toFixed(2))}`);
  }
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(`${server.url}/kiosk`);
  await waitFor(page, ready, null, 60000);
  const { serious } = await axe(page);
  assert.deepEqual(serious, []);
  await page.close();
});

test('the figures come before MapLibre is loaded', { timeout: 300000 }, async (t) => {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(`${server.url}/kiosk`);
  await waitFor(page, ready, null, 60000);
  await waitFor(page, () => window.flowtilesKiosk.marks.mapIdle !== undefined, null, 60000);
  // In the page's own clock: when the first figure was shown, and when the
  // request for MapLibre's module started.
  const m = await page.evaluate(() => {
    const k = window.flowtilesKiosk.marks;
    const ml = performance.getEntriesByType('resource').find((e) => e.name.includes('maplibre-gl.mjs'));
    return { figure: k.start + k.firstFigure, maplibre: ml?.startTime, firstFigure: k.firstFigure, mapIdle: k.mapIdle, nav: performance.getEntriesByType('navigation')[0]?.startTime ?? 0 };
  });
  assert.ok(m.maplibre !== undefined, 'MapLibre was loaded');
  assert.ok(m.maplibre >= m.figure, `MapLibre asked for at ${m.maplibre.toFixed(0)} ms, the first figure shown at ${m.figure.toFixed(0)} ms`);
  assert.ok(m.firstFigure < m.mapIdle);
  t.diagnostic(`kiosk first figure ${Math.round(m.figure - m.nav)} ms after navigation; MapLibre requested at ${Math.round(m.maplibre - m.nav)} ms; map idle ${Math.round(m.mapIdle + m.figure - m.firstFigure - m.nav)} ms`);
  await page.close();
});
