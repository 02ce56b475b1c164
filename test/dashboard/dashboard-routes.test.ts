/**
 * The dashboard's routes on a real metrics server over a real InferenceServer and HTTP frontend: the page's files and
 * their headers, api/live and its errors, /v2 forwarded to the HTTP frontend (answers, errors, headers, an
 * unreachable frontend), and — with control enabled — the load/unload buttons in Chromium doing what they say.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { LiveFeed, startMetricsServer, type MetricsServer } from '../../src/metrics/index.js';
import { dashboardRoutes, forwardV2, loadAssets, type DashboardControl } from '../../src/dashboard/index.js';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
let server: InferenceServer;
let http: HttpFrontend;
let feed: LiveFeed;
let metrics: MetricsServer;
let base: string;
let control: DashboardControl = { enabled: false, tokenRequired: false };
const repo = tempRepo('autoglm-dashboard-');
const { bytes, reference } = mlpModel(8, 16, 4, 3);

before(async () => {
  writeModel(repo.dir, 'mlp', bytes);
  server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['*'], controlToken: 'token-1' });
  http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  feed = new LiveFeed({ registry: server.metrics.registry, models: () => server.repositoryIndex(), intervalMs: 200 });
  metrics = await startMetricsServer(() => server.metrics.render(), {
    port: 0, address: '127.0.0.1',
    routes: dashboardRoutes({ feed, server: { name: 'open-autoglm', version: 'test' }, control: () => control, v2: { host: '127.0.0.1', port: http.port } }),
  });
  base = `http://127.0.0.1:${metrics.port}`;
});
after(async () => {
  feed?.stop();
  await metrics?.close();
  await http?.close();
  await server?.close();
  repo.remove();
});

test('the page\'s files: HTML at /, typed, same-origin only (CSP), 100 KB at most; other methods 405; /metrics still there', async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
  assert.match(await page.text(), /<title>Open-AutoGLM dashboard<\/title>/);
  const js = await fetch(`${base}/dashboard.js`, { method: 'HEAD' });
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type')!, /^text\/javascript/);
  assert.equal(await js.text(), '');
  assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
  assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`)).status, 200);
  const total = [...new Set(loadAssets().values())].reduce((n, a) => n + a.body.length, 0);
  assert.ok(total <= 100 * 1024, `${total} bytes`);
});

test('api/live: the models with their numbers, the control flags, and only new ticks with since', async () => {
  control = { enabled: true, tokenRequired: true };
  const x = seededFloats(8, 4, 1);
  const r = await fetch(`http://127.0.0.1:${http.port}/v2/models/mlp/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: [...x] }] }) });
  assert.equal(r.status, 200);
  feed.tick();
  const live = await (await fetch(`${base}/api/live`)).json() as {
    seq: number; control: DashboardControl; v2: boolean; history: Array<{ seq: number }>;
    models: Array<{ model: string; version: string; state: string; reqPerSec: number; p99Us: number | null }>;
  };
  assert.deepEqual(live.control, { enabled: true, tokenRequired: true });
  assert.equal(live.v2, true);
  const mlp = live.models.find((m) => m.model === 'mlp')!;
  assert.equal(mlp.state, 'READY');
  assert.equal(mlp.version, '1');
  assert.ok(mlp.reqPerSec > 0 && mlp.p99Us! > 0, JSON.stringify(mlp));
  assert.equal(live.history.at(-1)!.seq, live.seq);
  const next = await (await fetch(`${base}/api/live?since=${live.seq}`)).json() as { seq: number; history: Array<{ seq: number }> };
  assert.ok(next.history.every((h) => h.seq > live.seq));
  for (const bad of ['abc', '-1', '1.5']) {
    const res = await fetch(`${base}/api/live?since=${bad}`);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /since/);
  }
  control = { enabled: false, tokenRequired: false };
});

test('/v2 on the dashboard\'s port is the HTTP frontend\'s API: same answers, same errors', async () => {
  const x = seededFloats(8, 9, 1);
  const res = await fetch(`${base}/v2/models/mlp/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: [...x] }] }) });
  assert.equal(res.status, 200);
  const out = ((await res.json()) as { outputs: Array<{ data: number[] }> }).outputs[0].data;
  reference(x, 1).forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-4));
  const wrong = await fetch(`${base}/v2/models/mlp/infer`, { method: 'POST', body: '{"inputs": [' });
  assert.equal(wrong.status, 400);
  assert.ok(((await wrong.json()) as { error: string }).error.length > 0);
  const meta = await (await fetch(`${base}/v2/models/mlp`)).json() as { inputs: Array<{ name: string }> };
  assert.equal(meta.inputs[0].name, 'input');
  assert.equal((await fetch(`${base}/v2/models/nope`)).status, 404);
});

test('forwarding keeps the request\'s headers (Authorization included) and answers 502 when the frontend is gone', async () => {
  let seen: IncomingHttpHeaders | undefined;
  const target = createServer((req, res) => {
    seen = req.headers;
    req.resume();
    req.on('end', () => res.writeHead(201, { 'x-from': 'target' }).end('ok'));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = (target.address() as AddressInfo).port;
  const forward = forwardV2({ host: '127.0.0.1', port });
  const front = createServer((req, res) => forward(req, res));
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/v2/repository/models/mlp/unload`;
  try {
    const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-from'), 'target');
    assert.equal(await res.text(), 'ok');
    assert.equal(seen?.authorization, 'Bearer s3cret');
    assert.equal(seen?.host, `127.0.0.1:${port}`);
    await new Promise<void>((resolve) => { target.close(() => resolve()); target.closeAllConnections(); });
    const gone = await fetch(url, { method: 'POST', body: '{}' });
    assert.equal(gone.status, 502);
    assert.match(((await gone.json()) as { error: string }).error, /not reachable/);
  } finally {
    target.close();
    front.close();
  }
});

test('with control enabled the page offers Load and Unload (and a token field), and they work', {
  skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (install Debian's chromium; .ci/run does)`,
}, async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  control = { enabled: true, tokenRequired: true };
  t.after(() => { control = { enabled: false, tokenRequired: false }; });
  await page.goto(`${base}/`);
  await page.getByLabel('Control token').fill('token-1');
  const state = page.locator('#models tr[data-model="mlp"] .c-state');
  await page.getByRole('button', { name: 'Unload model mlp', exact: true }).click();
  await page.waitForFunction(() => !document.querySelector('#models tr[data-model="mlp"] .c-state')!.classList.contains('READY'), undefined, { timeout: 10_000 });
  assert.equal(server.isModelReady('mlp'), false);
  await page.getByRole('button', { name: 'Load model mlp', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('#models tr[data-model="mlp"] .c-state')!.classList.contains('READY'), undefined, { timeout: 20_000 });
  assert.equal(server.isModelReady('mlp'), true);
  assert.match(await state.textContent() ?? '', /READY/);
  assert.match(await page.locator('#status').textContent() ?? '', /mlp: loaded/);
  assert.deepEqual(problems, []);
});
