/**
 * Scale-out: throughput through nginx with 2 replicas ÷ 1 replica, and what the balancer itself costs (issue 17).
 *
 *   node --import tsx bench/scale-out.ts [--rounds 3] [--window-s 5] [--concurrency 8] [--rows 16]
 *
 * Three `autoglm serve` replicas (from the sources) share an LMDB and a Redis cache tier, as deployed; the bench
 * model has no response_cache, so every request computes. Replica 0 runs on core 0, replica 1 on core 1 (taskset;
 * replica 2 stands by, unused); nginx (Debian's, configured from deploy/nginx/open-autoglm.conf) and this client are
 * not pinned: on this 2-core machine they share the cores with the replicas, which is what a 2-core host running
 * two replicas and its balancer gets. Three kinds of window, alternated (direct, one, two, direct, …) after a
 * warm-up, closed loop with --concurrency requests in flight:
 *   direct — the client to replica 0 itself (no balancer)
 *   one    — through nginx whose upstream is replica 0 alone
 *   two    — through nginx whose upstream is replicas 0 and 1
 * The model: 16 chained 512×512 MatMul+Tanh, each request --rows rows (binary tensors in and out), so a request is
 * milliseconds of compute and the client's and balancer's per-request cost is small beside it. Every answer is
 * compared byte for byte with the one replica 0 gave directly for the same input (64 inputs, cycled).
 * Prints two/one (the scale-out) and one/direct (the balancer's cost): median (min–max) over rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { seededFloats, slowModel, writeModel } from '../test/fixtures/models.js';
import { freePort, RedisServer } from '../test/fixtures/redis.js';
import { closedLoop, Nginx, Replica } from '../test/fixtures/replicas.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'window-s': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    rows: { type: 'string', default: '16' },
  },
});
const ROUNDS = Number(args.rounds);
const WINDOW_MS = Number(args['window-s']) * 1000;
const CONCURRENCY = Number(args.concurrency);
const ROWS = Number(args.rows);
const DIM = 512, INPUTS = 64;

const dir = mkdtempSync(join(tmpdir(), 'autoglm-scale-bench-'));
writeModel(join(dir, 'models'), 'slow', slowModel(16), { config: `max_batch_size: 64
input [ { name: "x" data_type: TYPE_FP32 dims: [ ${DIM} ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ ${DIM} ] } ]` });

/** Request k's binary body: JSON header, then ROWS×DIM FP32; binary output asked for. */
const bodies = Array.from({ length: INPUTS }, (_, k) => {
  const x = seededFloats(ROWS * DIM, k + 1, 1);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'x', datatype: 'FP32', shape: [ROWS, DIM], parameters: { binary_data_size: x.byteLength } }],
    parameters: { binary_data_output: true },
  }));
  return { body: Buffer.concat([header, Buffer.from(x.buffer)]), headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) } };
});

const redis = await RedisServer.start();
const ports = await Promise.all(Array.from({ length: 8 }, () => freePort()));
const cache = ['--cache-config', 'local,size=16MiB', '--cache-config', `lmdb,path=${join(dir, 'cache')},size=64MiB`, '--cache-config', `redis,host=127.0.0.1,port=${redis.port}`];
const replicas = await Promise.all([0, 1, 2].map((k) => Replica.start({
  repository: join(dir, 'models'), httpPort: ports[2 * k], metricsPort: ports[2 * k + 1], flags: cache, cpus: k < 2 ? String(k) : undefined,
})));
const one = await Nginx.start(join(dir, 'nginx-one'), ports[6], [replicas[0].opts.httpPort]);
const two = await Nginx.start(join(dir, 'nginx-two'), ports[7], [replicas[0].opts.httpPort, replicas[1].opts.httpPort]);

const path = '/v2/models/slow/infer';
const expected: Buffer[] = [];
for (const b of bodies) {
  const res = await fetch(replicas[0].url + path, { method: 'POST', body: b.body, headers: b.headers });
  if (res.status !== 200) throw new Error(`reference answer: ${res.status} ${await res.text()}`);
  expected.push(Buffer.from(await res.arrayBuffer()));
}

let failures = 0;
async function window(url: string, ms: number): Promise<number> {
  const until = new Promise((r) => setTimeout(r, ms));
  const t0 = performance.now();
  const r = await closedLoop({
    url, path, concurrency: CONCURRENCY, until, request: (i) => bodies[i % INPUTS],
    check: (i, status, reply) => status === 200 && reply.equals(expected[i % INPUTS]),
  });
  failures += r.failures.length;
  return r.ok / ((performance.now() - t0) / 1000);
}

const targets = { direct: replicas[0].url, one: one.url, two: two.url } as const;
for (const url of Object.values(targets)) await window(url, 1000);
const rows: Record<keyof typeof targets, number>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const r = {} as Record<keyof typeof targets, number>;
  for (const [name, url] of Object.entries(targets) as [keyof typeof targets, string][]) r[name] = await window(url, WINDOW_MS);
  rows.push(r);
  console.log(`round ${round + 1}: direct ${r.direct.toFixed(1)} req/s, nginx→1 ${r.one.toFixed(1)} req/s, nginx→2 ${r.two.toFixed(1)} req/s`);
}

const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)].toFixed(2)} (${s[0].toFixed(2)}–${s.at(-1)!.toFixed(2)})`;
};
console.log(`\n${cpus().length} cores; replica 0 on core 0, replica 1 on core 1; nginx and client unpinned; ${CONCURRENCY} in flight, ${ROWS} rows/request, ${ROUNDS} rounds of ${WINDOW_MS / 1000} s windows`);
console.log(`throughput, 2 replicas ÷ 1 (both through nginx): ${stat(rows.map((r) => r.two / r.one))}`);
console.log(`throughput, through nginx ÷ direct (1 replica):  ${stat(rows.map((r) => r.one / r.direct))}`);
console.log(`failed or wrong answers: ${failures}`);

await Promise.all([one.stop(), two.stop()]);
await Promise.all(replicas.map((r) => r.stop('SIGTERM')));
await redis.kill();
rmSync(dir, { recursive: true, force: true });
