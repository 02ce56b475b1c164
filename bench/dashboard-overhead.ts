/**
 * Issue 15's figure: what the dashboard costs the server. `autoglm serve` (examples/model_repository) pinned to the
 * server CPUs, wrk on the client CPUs posting 1-row JSON requests to the example `mlp` (closed loop). Windows rotate
 * A = nobody watching, B = 5 Chromium browsers (5 separate contexts, each one tab on the dashboard, polling api/live
 * once a second and redrawing), C = 5 replayed watchers (this process fetches exactly what a page fetches: its four
 * files, api/live, then api/live?since=SEQ once a second, each answer parsed).
 *
 * On a 2-core machine the browsers cannot have cores of their own: they run on the client CPUs with wrk, so B also
 * measures the browsers taking CPU from the load client. C makes the same requests to the server for almost no
 * client CPU: C ÷ A is the server's cost; B ÷ A is what a person would see with 5 browsers on the load machine.
 * Figures: B ÷ A and C ÷ A throughput, median and min–max over the rounds (target ≥ 0.98), the server's and
 * Chromium's CPU per window (is the server the bottleneck? what do the browsers take from the client's cores?), the api/live requests per second seen (so each window can be seen to have
 * watched), and the server process's CPU while idle with 5 browsers minus none (ms per second; 1000 = a core).
 *
 * And the cost of one api/live answer, measured on the idle server without browsers: N requests back to back from
 * this process, the server's CPU over them minus its idle CPU over as long (µs per request), for a page's
 * once-a-second poll (`since` the latest tick) and for its first one (the 5 minutes of chart ticks).
 *
 *   flock /tmp/bench.lock node --import tsx bench/dashboard-overhead.ts [--cpus 0:1] [--browser-cpus LIST (default: the
 *     client's)] [--pairs 3] [--seconds 8] [--connections 16] [--idle-seconds 10]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { wrk, wrkScript } from './baselines/wrk.js';
import { processCpu } from './baselines/cpu-time.js';
import { median, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' }, pairs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' },
  connections: { type: 'string', default: '16' }, browsers: { type: 'string', default: '5' }, 'idle-seconds': { type: 'string', default: '10' },
  'browser-cpus': { type: 'string' },
} });
const [serverCpus, clientCpus] = a.cpus!.split(':');
const ROUNDS = Number(a.pairs), SECONDS = Number(a.seconds), CONNS = Number(a.connections), WATCHERS = Number(a.browsers);
const IDLE_SECONDS = Number(a['idle-seconds']);
/** Where Chromium runs: the client CPUs unless a machine has cores to give it its own. */
const browserCpus = a['browser-cpus'] ?? clientCpus;
const CHROMIUM = '/usr/bin/chromium';
const REPO = join(import.meta.dirname, '..', 'examples', 'model_repository');
const PAGE_FILES = ['', 'dashboard.css', 'dashboard.js', 'favicon.svg'];

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

type Watching = 'none' | 'chromium' | 'replay';

/** CPU seconds (all threads) of this process's descendants whose name says Chromium, from /proc (live ones only). */
function chromiumCpuSec(): number {
  const stats = new Map<number, { ppid: number; comm: string; sec: number }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const t = readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = t.slice(t.indexOf('(') + 1, t.lastIndexOf(')'));
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(e), { ppid: Number(f[1]), comm, sec: (Number(f[11]) + Number(f[12])) / 100 });
    } catch { /* gone meanwhile */ }
  }
  const mine = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 64; n++) {
      if (p === process.pid) return true;
      p = stats.get(p)?.ppid ?? 0;
    }
    return false;
  };
  let sec = 0;
  for (const [pid, st] of stats) if (/chrom/i.test(st.comm) && mine(pid)) sec += st.sec;
  return sec;
}
/** Watchers started; stop() ends them. */
interface Watchers { stop(): Promise<void> }

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
  // Chromium through taskset, so that it and every process it starts run on the browser CPUs.
  const launcher = join(dir, 'chromium.sh');
  writeFileSync(launcher, `#!/bin/sh\nexec taskset -c ${browserCpus} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  browser = await chromium.launch({ executablePath: launcher, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  let polls = 0;

  const openBrowsers = async (): Promise<Watchers> => {
    const contexts = await Promise.all(Array.from({ length: WATCHERS }, () => browser!.newContext({ viewport: { width: 1280, height: 900 } })));
    await Promise.all(contexts.map(async (c) => {
      const page = await c.newPage();
      page.on('request', (r) => { if (r.url().includes('/api/live')) polls++; });
      await page.goto(dashboard);
      await page.waitForSelector('#models tbody tr');
    }));
    return { stop: async () => { await Promise.all(contexts.map((c) => c.close())); } };
  };
  const replay = async (): Promise<Watchers> => {
    let on = true;
    const loops = Array.from({ length: WATCHERS }, async () => {
      for (const f of PAGE_FILES) await (await fetch(dashboard + f)).arrayBuffer();
      let seq: number | undefined;
      while (on) {
        const snap = await (await fetch(`${dashboard}api/live${seq === undefined ? '' : `?since=${seq}`}`)).json() as { seq: number };
        polls++;
        seq = snap.seq;
        await sleep(1000);
      }
    });
    return { stop: async () => { on = false; await Promise.all(loops); } };
  };
  const start = (w: Watching): Promise<Watchers> =>
    w === 'chromium' ? openBrowsers() : w === 'replay' ? replay() : Promise.resolve({ stop: async () => {} });
  const serverCpuSec = () => { const c = processCpu(server.child.pid!); return c.mainSec + c.otherSec; };

  const window = async (w: Watching) => {
    const watchers = await start(w);
    await sleep(2000);
    const p0 = polls, c0 = serverCpuSec(), b0 = chromiumCpuSec();
    const r = await wrk(clientCpus, 1, url, script, CONNS, SECONDS);
    const cpuMsPerSec = ((serverCpuSec() - c0) * 1000) / SECONDS;
    const browserMsPerSec = ((chromiumCpuSec() - b0) * 1000) / SECONDS;
    const pollRate = (polls - p0) / SECONDS;
    await watchers.stop();
    return { rps: r.rps, p99Us: r.p99Us, pollRate, cpuMsPerSec, browserMsPerSec };
  };
  const line = (r: Awaited<ReturnType<typeof window>>) =>
    `${r.rps.toFixed(0)} req/s (p99 ${(r.p99Us / 1000).toFixed(1)} ms, server CPU ${r.cpuMsPerSec.toFixed(0)} ms/s, Chromium CPU ${r.browserMsPerSec.toFixed(0)} ms/s, ${r.pollRate.toFixed(1)} api/live/s)`;

  console.log(`server CPUs ${serverCpus}, client (wrk, replay) CPUs ${clientCpus}, Chromium CPUs ${browserCpus}; mlp 1-row JSON, ${CONNS} connections; ${SECONDS} s windows; ${WATCHERS} watchers`);
  await wrk(clientCpus, 1, url, script, CONNS, 3); // warm-up
  const browsers: number[] = [], replayed: number[] = [];
  for (let p = 0; p < ROUNDS; p++) {
    // B and C take turns going first, so neither always follows the other.
    const none = await window('none');
    const [b, c] = p % 2 === 0
      ? [await window('chromium'), await window('replay')]
      : await window('replay').then(async (c1) => [await window('chromium'), c1] as const);
    browsers.push(b.rps / none.rps);
    replayed.push(c.rps / none.rps);
    console.log(`round ${p + 1}:\n  nobody    ${line(none)}\n  chromium  ${line(b)}  ratio ${(b.rps / none.rps).toFixed(3)}\n  replayed  ${line(c)}  ratio ${(c.rps / none.rps).toFixed(3)}`);
  }

  // The server's CPU while idle, with and without the browsers.
  const idle = async (w: Watching) => {
    const watchers = await start(w);
    await sleep(2000);
    const c0 = serverCpuSec();
    await sleep(IDLE_SECONDS * 1000);
    const msPerSec = ((serverCpuSec() - c0) * 1000) / IDLE_SECONDS;
    await watchers.stop();
    return msPerSec;
  };
  const extra: number[] = [];
  for (let p = 0; p < ROUNDS; p++) {
    const none = await idle('none');
    const watched = await idle('chromium');
    extra.push(watched - none);
    console.log(`idle round ${p + 1}: server CPU ${none.toFixed(1)} ms/s nobody watching, ${watched.toFixed(1)} ms/s with ${WATCHERS} browsers`);
  }
  // The cost of one answer: back-to-back polls against the idle server's CPU, minus its idle CPU over as long.
  const perPoll = async (n: number, full: boolean) => {
    const seq = ((await (await fetch(`${dashboard}api/live`)).json()) as { seq: number }).seq;
    const t0 = performance.now(), c0 = serverCpuSec();
    for (let i = 0; i < n; i++) await (await fetch(`${dashboard}api/live${full ? '' : `?since=${seq}`}`)).arrayBuffer();
    const busySec = serverCpuSec() - c0, ms = performance.now() - t0;
    const c1 = serverCpuSec();
    await sleep(ms);
    const idleSec = serverCpuSec() - c1;
    return ((busySec - idleSec) * 1e6) / n;
  };
  const pollUs: number[] = [], firstUs: number[] = [];
  for (let p = 0; p < ROUNDS; p++) {
    pollUs.push(await perPoll(3000, false));
    firstUs.push(await perPoll(300, true));
  }
  const bytes = async (q: string) => (await (await fetch(`${dashboard}api/live${q}`)).arrayBuffer()).byteLength;
  const seqNow = ((await (await fetch(`${dashboard}api/live`)).json()) as { seq: number }).seq;
  console.log(`api/live answer: ${median(pollUs).toFixed(0)} µs of server CPU (${Math.min(...pollUs).toFixed(0)}–${Math.max(...pollUs).toFixed(0)}) for a poll`
    + ` (${await bytes(`?since=${seqNow - 1}`)} bytes), ${median(firstUs).toFixed(0)} µs (${Math.min(...firstUs).toFixed(0)}–${Math.max(...firstUs).toFixed(0)})`
    + ` for a first load (${await bytes('')} bytes); ${WATCHERS} pages polling once a second: ${((WATCHERS * median(pollUs)) / 1000).toFixed(2)} ms/s,`
    + ` so a server-bound throughput ratio of ${(1 - (WATCHERS * median(pollUs)) / 1e6).toFixed(4)}`);

  const f = (xs: number[]) => `${median(xs).toFixed(3)}× (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}, ${xs.length} rounds)`;
  console.log(`\nthroughput, ${WATCHERS} Chromium browsers on the dashboard ÷ nobody: ${f(browsers)}`);
  console.log(`throughput, ${WATCHERS} replayed watchers (the same requests, no rendering) ÷ nobody: ${f(replayed)}   target ≥ 0.98`);
  console.log(`server CPU for ${WATCHERS} browsers watching an idle server: ${median(extra).toFixed(1)} ms/s (${Math.min(...extra).toFixed(1)}–${Math.max(...extra).toFixed(1)}),`
    + ` ${(median(extra) / 10).toFixed(2)} % of a core`);
} finally {
  await browser?.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
