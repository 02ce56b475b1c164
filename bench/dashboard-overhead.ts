/**
 * Issue 15's figure: what the dashboard costs the server. `autoglm serve` (examples/model_repository) pinned to the
 * server CPUs, wrk on the client CPUs posting 1-row JSON requests to the example `mlp` (closed loop); windows
 * alternate A = no browser, B = 5 browsers (5 separate Chromium contexts, each one tab on the dashboard, polling
 * api/live once a second and redrawing). The browsers run on the client CPUs too (they are the users' machines).
 * Figure: throughput B ÷ A, median and min–max over the pairs (target ≥ 0.98); also the api/live requests the
 * browsers made per second, so the windows can be seen to have watched.
 *
 *   flock /tmp/bench.lock node --import tsx bench/dashboard-overhead.ts [--cpus 0:1] [--pairs 3] [--seconds 8] [--connections 16]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { wrk, wrkScript } from './baselines/wrk.js';
import { median, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' }, pairs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' },
  connections: { type: 'string', default: '16' }, browsers: { type: 'string', default: '5' },
} });
const [serverCpus, clientCpus] = a.cpus!.split(':');
const PAIRS = Number(a.pairs), SECONDS = Number(a.seconds), CONNS = Number(a.connections), BROWSERS = Number(a.browsers);
const CHROMIUM = '/usr/bin/chromium';
const REPO = join(import.meta.dirname, '..', 'examples', 'model_repository');

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

requireCommands({ wrk: 'wrk', taskset: 'util-linux', [CHROMIUM]: 'chromium' });
pinServersTo(serverCpus, clientCpus);
const metricsPort = await freePort();
const server = await spawnAutoglmServe(REPO, ['--metrics-port', String(metricsPort)]);
const dir = mkdtempSync(join(tmpdir(), 'bench-dashboard-'));
let browser: Browser | undefined;
try {
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: Array.from({ length: 64 }, (_, i) => (i % 8) / 8 - 0.5) }] }));
  const script = wrkScript(dir, 'mlp', body, { 'Content-Type': 'application/json' });
  const url = `${server.url}/v2/models/mlp/infer`;
  const dashboard = `http://127.0.0.1:${metricsPort}/`;
  // Launched from this process, Chromium inherits its pinning to the client CPUs.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  let polls = 0;

  const open = async (): Promise<BrowserContext[]> => {
    const contexts = await Promise.all(Array.from({ length: BROWSERS }, () => browser!.newContext({ viewport: { width: 1280, height: 900 } })));
    await Promise.all(contexts.map(async (c) => {
      const page = await c.newPage();
      page.on('request', (r) => { if (r.url().includes('/api/live')) polls++; });
      await page.goto(dashboard);
      await page.waitForSelector('#models tbody tr');
    }));
    return contexts;
  };
  const window = async (withBrowsers: boolean) => {
    const contexts = withBrowsers ? await open() : [];
    await sleep(1000);
    const before = polls;
    const r = await wrk(clientCpus, 1, url, script, CONNS, SECONDS);
    const pollRate = (polls - before) / SECONDS;
    await Promise.all(contexts.map((c) => c.close()));
    return { rps: r.rps, p99Us: r.p99Us, pollRate };
  };

  console.log(`server CPUs ${serverCpus}, client (wrk + Chromium) CPUs ${clientCpus}; mlp 1-row JSON, ${CONNS} connections; ${SECONDS} s windows`);
  await wrk(clientCpus, 1, url, script, CONNS, 3); // warm-up
  const ratios: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const none = await window(false);
    const watched = await window(true);
    ratios.push(watched.rps / none.rps);
    console.log(`pair ${p + 1}: no browser ${none.rps.toFixed(0)} req/s (p99 ${(none.p99Us / 1000).toFixed(1)} ms) · ${BROWSERS} browsers ${watched.rps.toFixed(0)} req/s`
      + ` (p99 ${(watched.p99Us / 1000).toFixed(1)} ms, ${watched.pollRate.toFixed(1)} api/live requests/s) · ratio ${(watched.rps / none.rps).toFixed(3)}`);
  }
  const f = (x: number) => x.toFixed(3);
  console.log(`\nthroughput with ${BROWSERS} browsers on the dashboard ÷ none: ${f(median(ratios))}× (${f(Math.min(...ratios))}–${f(Math.max(...ratios))}, ${ratios.length} pairs; target ≥ 0.98)`);
} finally {
  await browser?.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
