/**
 * Issue 13's figures for the response cache, each a ratio in one run.
 *
 *   mlp    `autoglm serve` pinned to the server CPUs, this client (closed loop, node) pinned to the client CPUs, the
 *          MLP 1024→8192→1024 (1-row binary requests) with `--cache-config local,size=256MiB`:
 *          - hit ÷ miss throughput at c=32: the same 32 requests over and over (all hits once warm) against requests
 *            that never repeat (each carries a fresh number in its first input element; target ≥ 20×);
 *          - never-repeating throughput, response_cache on ÷ off (the same model under two names; target ≥ 0.95);
 *          - L1 hit latency at c=1 ÷ GET /v2/health/ready at c=1 (target ≤ 1.1), for this MLP and for a tiny one
 *            (8 → 16 → 4 FP32), whose request and answer are as small as the health check's.
 *   ocr    in-process (no HTTP): the example `ocr` pipeline, response_cache on, hit ÷ miss throughput one request at a
 *          time (misses: distinct rendered pages); and the MLP with 32 requests in flight.
 *   redis  the MLP with only a Redis tier (a real redis-server on a free port); c=32 over 64 requests for 10 s;
 *          redis-server killed at 3 s and restarted at 6 s: failed requests (target 0), and the time from the
 *          restart until the hit rate (server metrics, 250 ms buckets) is back to ≥ 0.9× its level before the kill
 *          (target ≤ 2 s).
 *
 *   flock /tmp/bench.lock node --import tsx bench/cache.ts [--only mlp|ocr|redis] [--cpus 0:1] [--pairs 3] [--window-ms 3000]
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClosedLoopDriver } from '../src/bench/load-driver.js';
import { encodeRequest, type HttpResult } from '../src/bench/http1-connection.js';
import type { CompletionSink } from '../src/bench/measurement-window.js';
import { targetOf } from '../src/bench/run-bench.js';
import { InferenceServer } from '../src/server/inference-server.js';
import { parseCacheConfig } from '../src/cache/cache-config.js';
import type { InferenceRequest } from '../src/core/index.js';
import { mlpModel, seededFloats } from '../test/fixtures/models.js';
import { RedisServer } from '../test/fixtures/redis.js';
import { renderText } from '../test/pipeline/render-text.js';
import { pinServersTo, requireCommands, spawnAutoglmServe, type ServerProcess } from './baselines/processes.js';
import { fmtRatio, makeRepo, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  only: { type: 'string' }, cpus: { type: 'string', default: '0:1' }, pairs: { type: 'string', default: '3' },
  'window-ms': { type: 'string', default: '3000' }, 'local-size': { type: 'string', default: '256MiB' },
} });
const PAIRS = Number(a.pairs), MS = Number(a['window-ms']);
const IN = 1024, HID = 8192, OUT = 1024;
const TINY_IN = 8;
process.env.ORT_DISABLE_TELEMETRY = '1';

const config = (name: string, inDim: number, outDim: number, cached: boolean) => `name: "${name}"
max_batch_size: 128
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${inDim} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${outDim} ] } ]
${cached ? 'response_cache { enable: true }' : ''}`;

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

/** Pre-encoded 1-row binary requests; the first input element of each is at `dataOffset` (for stamping). */
function bodies(url: string, model: string, inDim: number, sets: number): { requests: Buffer[]; dataOffset: number } {
  const u = new URL(url);
  const requests: Buffer[] = [];
  let dataOffset = 0;
  for (let s = 0; s < sets; s++) {
    const x = seededFloats(inDim, 5000 + s, 1);
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'input', shape: [1, inDim], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    }));
    const req = encodeRequest('POST', u.host, `/v2/models/${model}/infer`,
      { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
      Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]));
    dataOffset = req.length - x.byteLength;
    requests.push(req);
  }
  return { requests, dataOffset };
}

/** Counts answers; with `stamp`, writes a never-used number into a request's first element once it is answered. */
class Tally implements CompletionSink {
  ok = 0;
  failed = 0;
  sumUs = 0;
  active = false;
  constructor(private readonly requests: Buffer[], private readonly stamp?: { offset: number; next: () => number }) {}
  complete(set: number, latencyUs: number, r: HttpResult): void {
    // The request's buffer is written again only after every other one was sent: safe to change now.
    if (this.stamp) this.requests[set].writeFloatLE(this.stamp.next(), this.stamp.offset);
    if (!this.active) return;
    if (r.status === 200) {
      this.ok++;
      this.sumUs += latencyUs;
    } else {
      this.failed++;
    }
  }
}

let stampCounter = 1;
const nextStamp = () => 1e6 + stampCounter++; // exact in FP32 up to 2^24

async function closed(server: ServerProcess, requests: Buffer[], concurrency: number, stampAt?: number): Promise<{ perSec: number; meanUs: number; failed: number }> {
  const tally = new Tally(requests, stampAt === undefined ? undefined : { offset: stampAt, next: nextStamp });
  if (stampAt !== undefined) for (const r of requests) r.writeFloatLE(nextStamp(), stampAt);
  const driver = new ClosedLoopDriver(targetOf(server.url), requests, concurrency);
  driver.sink = tally;
  await sleep(500);
  tally.active = true;
  await sleep(MS);
  tally.active = false;
  await driver.stop(5000);
  return { perSec: tally.ok / (MS / 1000), meanUs: tally.sumUs / Math.max(1, tally.ok), failed: tally.failed };
}

async function mlp(): Promise<void> {
  const [serverCpus, clientCpus] = a.cpus!.split(':');
  requireCommands({ taskset: 'util-linux' });
  pinServersTo(serverCpus, clientCpus);
  const big = mlpModel(IN, HID, OUT, 1).bytes;
  const tiny = mlpModel(TINY_IN, 16, 4, 2).bytes;
  const repo = makeRepo(big, { mlp: config('mlp', IN, OUT, true), mlp_off: config('mlp_off', IN, OUT, false) });
  cpSync(join(repo.dir, 'mlp'), join(repo.dir, 'tiny'), { recursive: true });
  writeFileSync(join(repo.dir, 'tiny', '1', 'model.onnx'), tiny);
  writeFileSync(join(repo.dir, 'tiny', 'config.pbtxt'), config('tiny', TINY_IN, 4, true));
  const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', String(await freePort()), '--cache-config', `local,size=${a['local-size']}`]);
  try {
    console.log(`server on CPU ${serverCpus}, client on CPU ${clientCpus}; MLP ${IN}→${HID}→${OUT}, 1-row binary requests, --cache-config local,size=${a['local-size']}`);
    const hits = bodies(server.url, 'mlp', IN, 32);
    const missOn = bodies(server.url, 'mlp', IN, 4096);
    const missOff = bodies(server.url, 'mlp_off', IN, 4096);
    await closed(server, hits.requests, 32); // warm: every hit request answered once
    const hitMiss: number[] = [], onOff: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const h = await closed(server, hits.requests, 32);
      // On and off alternate which comes first (after the hit window's burst of garbage).
      let m, off;
      if (i % 2 === 0) {
        m = await closed(server, missOn.requests, 32, missOn.dataOffset);
        off = await closed(server, missOff.requests, 32, missOff.dataOffset);
      } else {
        off = await closed(server, missOff.requests, 32, missOff.dataOffset);
        m = await closed(server, missOn.requests, 32, missOn.dataOffset);
      }
      hitMiss.push(h.perSec / m.perSec);
      onOff.push(m.perSec / off.perSec);
      console.log(`  round ${i + 1}: hits ${h.perSec.toFixed(0)}/s, misses (cache on) ${m.perSec.toFixed(0)}/s, never-repeating with the cache off ` +
        `${off.perSec.toFixed(0)}/s; failed ${h.failed + m.failed + off.failed}`);
    }
    console.log(`hit ÷ miss throughput, MLP, c=32: ${fmtRatio(hitMiss)} (target ≥ 20×)`);
    console.log(`never-repeating throughput, cache on ÷ off: ${fmtRatio(onOff)} (target ≥ 0.95)`);
    const u = new URL(server.url);
    const health = [encodeRequest('GET', u.host, '/v2/health/ready', {}, undefined)];
    const tinyHits = bodies(server.url, 'tiny', TINY_IN, 1);
    await closed(server, tinyHits.requests, 1);
    const lat: Record<string, number[]> = { mlp: [], tiny: [] };
    for (let i = 0; i < PAIRS; i++) {
      const hh = await closed(server, health, 1);
      const hm = await closed(server, hits.requests.slice(0, 1), 1);
      const ht = await closed(server, tinyHits.requests, 1);
      lat.mlp.push(hm.meanUs / hh.meanUs);
      lat.tiny.push(ht.meanUs / hh.meanUs);
      console.log(`  round ${i + 1}: /v2/health/ready ${hh.meanUs.toFixed(0)} µs, MLP hit ${hm.meanUs.toFixed(0)} µs, tiny hit ${ht.meanUs.toFixed(0)} µs (mean, c=1)`);
    }
    console.log(`L1 hit latency ÷ health-ready round trip, c=1: tiny model ${fmtRatio(lat.tiny)}, MLP (4 KiB in, 4 KiB out) ${fmtRatio(lat.mlp)} (target ≤ 1.1)`);
  } finally {
    await server.close();
    repo.remove();
  }
}

async function ocr(): Promise<void> {
  // Inside the checkout: the example's JS models import packages (sharp) from its node_modules.
  const dir = mkdtempSync(join(import.meta.dirname, '..', '.bench-cache-ocr-'));
  try {
    cpSync(join(import.meta.dirname, '..', 'examples', 'model_repository'), dir, { recursive: true });
    const cfg = join(dir, 'ocr', 'config.pbtxt');
    writeFileSync(cfg, `${readFileSync(cfg, 'utf8')}\nresponse_cache { enable: true }\n`);
    rmSync(join(dir, 'mlp'), { recursive: true, force: true });
    const mlpDir = join(dir, 'mlp', '1');
    mkdirSync(mlpDir, { recursive: true });
    writeFileSync(join(mlpDir, 'model.onnx'), mlpModel(IN, HID, OUT, 1).bytes);
    writeFileSync(join(dir, 'mlp', 'config.pbtxt'), config('mlp', IN, OUT, true));
    const server = await InferenceServer.create({ modelRepositories: [dir], cache: parseCacheConfig(['local,size=64MiB']) });
    try {
      const page = (seed: number) => renderText({
        width: 420, height: 200, lines: [0, 1, 2].map((r) => ({ text: `page ${seed} line ${r} tensor ${seed * 7 + r}`, x: 20, y: 50 + r * 52, size: 26 })),
        background: 255, seed, format: 'png',
      });
      const request = (image: Buffer): InferenceRequest => ({ model: 'ocr', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [image] }] });
      const fixed = await page(0);
      await server.infer(request(fixed));
      const ratios: number[] = [];
      let seed = 1;
      for (let i = 0; i < PAIRS; i++) {
        const pages = await Promise.all(Array.from({ length: 12 }, () => page(seed++)));
        let t0 = performance.now();
        for (const p of pages) await server.infer(request(p));
        const missPerSec = pages.length / ((performance.now() - t0) / 1000);
        let hits = 0;
        t0 = performance.now();
        while (performance.now() - t0 < MS / 3) {
          await server.infer(request(fixed));
          hits++;
        }
        const hitPerSec = hits / ((performance.now() - t0) / 1000);
        ratios.push(hitPerSec / missPerSec);
        console.log(`  round ${i + 1}: ocr misses ${missPerSec.toFixed(1)}/s, hits ${hitPerSec.toFixed(0)}/s (in-process, one at a time)`);
      }
      console.log(`hit ÷ miss throughput, ocr pipeline: ${fmtRatio(ratios)} (target ≥ 20×)`);
      // The MLP the same way (in-process, 32 requests in flight): the HTTP figure above is bounded by node:http.
      const x = (seed: number): InferenceRequest => ({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], data: seededFloats(IN, seed, 1) }] });
      const rate = async (make: (i: number) => InferenceRequest) => {
        let n = 0;
        const t0 = performance.now();
        await Promise.all(Array.from({ length: 32 }, async () => {
          while (performance.now() - t0 < MS / 2) await server.infer(make(n++));
        }));
        return n / ((performance.now() - t0) / 1000);
      };
      await rate((i) => x(i % 32));
      const mlpRatios: number[] = [];
      let fresh = 100_000;
      for (let i = 0; i < PAIRS; i++) {
        const hit = await rate((k) => x(k % 32));
        const miss = await rate(() => x(fresh++));
        mlpRatios.push(hit / miss);
        console.log(`  round ${i + 1}: MLP in-process, 32 in flight: hits ${hit.toFixed(0)}/s, misses ${miss.toFixed(0)}/s`);
      }
      console.log(`hit ÷ miss throughput, MLP in-process: ${fmtRatio(mlpRatios)} (target ≥ 20×)`);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redis(): Promise<void> {
  requireCommands({ 'redis-server': 'redis-server' });
  const r = await RedisServer.start();
  const big = mlpModel(IN, HID, OUT, 1).bytes;
  const repo = makeRepo(big, { mlp: config('mlp', IN, OUT, true) });
  const metricsPort = await freePort();
  const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', String(metricsPort), '--cache-config', `redis,host=127.0.0.1,port=${r.port},timeout=50`]);
  try {
    const req = bodies(server.url, 'mlp', IN, 64);
    const scrape = async () => {
      const t = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const g = (n: string) => Number(new RegExp(`^${n}\\{model="mlp",version="1"\\} (\\S+)$`, 'm').exec(t)?.[1] ?? 0);
      return { hits: g('nv_cache_num_hits_per_model'), misses: g('nv_cache_num_misses_per_model') };
    };
    const tally = new Tally(req.requests);
    const driver = new ClosedLoopDriver(targetOf(server.url), req.requests, 32);
    driver.sink = tally;
    tally.active = true;
    const t0 = performance.now();
    const buckets: { atMs: number; hitRate: number }[] = [];
    let prev = await scrape();
    let killed = false, restarted = false, restartMs = 0;
    while (performance.now() - t0 < 10_000) {
      await sleep(250);
      const now = await scrape();
      const h = now.hits - prev.hits, m = now.misses - prev.misses;
      buckets.push({ atMs: performance.now() - t0, hitRate: h + m > 0 ? h / (h + m) : NaN });
      prev = now;
      const el = performance.now() - t0;
      if (!killed && el >= 3000) { await r.kill(); killed = true; }
      if (killed && !restarted && el >= 6000) { await r.restart(); restarted = true; restartMs = performance.now() - t0; }
    }
    tally.active = false;
    await driver.stop(5000);
    const before = buckets.filter((b) => b.atMs > 1000 && b.atMs <= 3000).map((b) => b.hitRate);
    const level = before.reduce((x, y) => x + y, 0) / before.length;
    const back = buckets.find((b) => b.atMs > restartMs && b.hitRate >= 0.9 * level);
    console.log(`redis: ${tally.ok} answered, ${tally.failed} failed (target 0); hit rate before the kill ${level.toFixed(3)}, while down ` +
      `${buckets.filter((b) => b.atMs > 3300 && b.atMs <= restartMs).map((b) => b.hitRate.toFixed(2)).join(' ')}; back to ≥ 0.9× of it ` +
      `${back ? `${((back.atMs - restartMs) / 1000).toFixed(2)} s` : 'never'} after the restart (target ≤ 2 s; 250 ms buckets)`);
  } finally {
    await server.close();
    await r.kill();
    repo.remove();
  }
}

if (!a.only || a.only === 'mlp') await mlp();
if (!a.only || a.only === 'ocr') await ocr();
if (!a.only || a.only === 'redis') await redis();
