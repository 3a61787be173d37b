// Shared by the browser tests: a real flowtiles server (FLOWTILES_BIN, or
// built from the repository with go build) in embedded demo mode, and
// headless Chromium through playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const staticDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = join(staticDir, '..');
export const artifacts = join(staticDir, 'test-artifacts');

let built = null;

// binary returns the flowtiles binary: FLOWTILES_BIN, or one built once
// per test process from the repository.
export function binary() {
  if (process.env.FLOWTILES_BIN) return process.env.FLOWTILES_BIN;
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'flowtiles-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    built = join(dir, 'flowtiles');
    execFileSync('go', ['build', '-o', built, './cmd/flowtiles'], { cwd: repoRoot, stdio: 'inherit' });
  }
  return built;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// startServer runs `flowtiles serve` on port (a free one when not given)
// and waits for /healthz. The result has url, port, log() and stop().
// towns are the demo towns to serve (--towns): Deruta alone by default, so
// that / is its planner; null serves every demo town (/ is the picker).
export async function startServer({ port, args = [], timeoutMs = 60000, towns = 'deruta' } = {}) {
  port ??= await freePort();
  const bin = binary();
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const townArgs = towns === null ? [] : ['--towns', towns];
  const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, ...townArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b) => {
    out += b.toString();
    if (out.length > 200000) out = out.slice(-100000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`flowtiles serve exited ${proc.exitCode}:\n${out.slice(-4000)}`);
    try {
      const r = await fetch(url + '/healthz');
      if (r.ok) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`flowtiles serve not healthy after ${timeoutMs} ms:\n${out.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url, port, proc,
    log: () => out,
    // stop ends the server (SIGKILL with kill: an outage, not a shutdown).
    async stop(kill = false) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(kill ? 'SIGKILL' : 'SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// WAIT bounds every wait for the page (selectors, functions, the map's
// tiles): generous, so that the suite passes on a machine whose cores are
// busy with other work (software WebGL then draws several times slower).
// A wait that is reached sooner returns at once.
export const WAIT = 60000;

export async function launch() {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (scripts/prereqs installs it)`);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--no-sandbox'],
  });
  const newPage = browser.newPage.bind(browser);
  browser.newPage = async (options) => {
    const page = await newPage(options);
    page.setDefaultTimeout(WAIT);
    return page;
  };
  return browser;
}

// watch records a page's console errors, page errors and failed requests
// (network failures and HTTP status ≥ 400).
export function watch(page) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    // MapLibre reports missing style images and bad styles as warnings.
    if (m.type() === 'warning' && /could not be loaded|style|layer/i.test(m.text())) problems.push(`console warning: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    const f = r.failure()?.errorText ?? '';
    // Requests the page itself cancels (tiles panned away, a closed
    // EventSource) are not failures.
    if (f.includes('ERR_ABORTED')) return;
    problems.push(`requestfailed: ${r.url()} ${f}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`http ${r.status()}: ${r.url()}`);
  });
  return problems;
}

export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, name) });
}

// waitFor polls fn in the page until it returns a truthy value.
export async function waitFor(page, fn, arg, timeout = WAIT) {
  const h = await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  return h.jsonValue();
}

// axe runs axe-core (the pinned npm package) in the page and returns the
// serious and critical violations, each as "rule: target (summary)".
export async function axe(page, context = 'document') {
  const { readFileSync } = await import('node:fs');
  const src = readFileSync(join(staticDir, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ content: src });
  const res = await page.evaluate(async (ctx) => {
    const r = await window.axe.run(ctx === 'document' ? document : document.querySelector(ctx), { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => `${n.target.join(' ')} ${n.failureSummary?.split('\n')[1] ?? ''}`) }));
  }, context);
  return {
    serious: res.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.slice(0, 3).join(' | ')}`),
    all: res,
  };
}

// openPlanner loads a planner URL of server and waits until the map has
// drawn every tile; it records the tile URLs the page asks for.
export async function openPlanner(browser, server, path, viewport = { width: 1366, height: 768 }) {
  const page = await browser.newPage({ viewport });
  const problems = watch(page);
  const tiles = [];
  page.on('request', (r) => {
    if (r.url().includes('/tiles/')) tiles.push(r.url());
  });
  await page.goto(server.url + path);
  await settle(page);
  return { page, problems, tiles };
}

// settle waits for the map to be loaded, idle and done with its tiles.
export async function settle(page) {
  await waitFor(page, () => {
    const m = window.flowtiles?.map;
    return m && m.loaded() && m.areTilesLoaded() && !m.isMoving();
  }, null, WAIT);
  await page.evaluate(() => new Promise((r) => {
    const m = window.flowtiles.map;
    if (m.loaded() && m.areTilesLoaded()) setTimeout(r, 300);
    else {
      m.once('idle', () => setTimeout(r, 300));
      setTimeout(r, 15000);
    }
  }));
}

// act runs action and waits for the map's next idle.
export async function act(page, action) {
  // (an action that draws nothing new never makes the map idle again)
  const idle = page.evaluate(() => new Promise((r) => {
    window.flowtiles.map.once('idle', r);
    setTimeout(r, 15000);
  }));
  await action();
  await idle;
  await settle(page);
}
