/**
 * Issue 3, benchmark 2: a load sweep with Poisson arrivals at 10 %, 50 %, 90 % and 120 % of capacity (capacity =
 * the best closed-loop throughput at concurrency 128 of the batching variants, measured first in this run), for the adaptive
 * policy, batching off, and Triton's static batcher with max_queue_delay_microseconds 100, 1000 and 5000 — the same
 * model under five names in one server. Throughput and p50/p99 (from each request's intended send time).
 * Targets: adaptive within 5 % of the best static setting's throughput at every load; at 10 % its p99 within 1.2×
 * of batching off. Windows last long enough for ≥ 1,000 samples each. The load client shares the machine's cores
 * with the server, and the machine is shared: one window per policy swings by ±20 % from one run to the next, so each
 * load runs `--rounds` rounds of every policy (order rotated each round) and reports per-round ratios and their median.
 * Batching off runs in the first round only (it is there for the p99 at 10 %; past that it only builds a backlog).
 *
 *   node --import tsx bench/batching-sweep.ts [--window-ms 3000] [--rounds 3] [--hidden 8192] [--loads 0.1,0.5,0.9,1.2]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mlpModel } from '../test/fixtures/models.js';
import { spawnAutoglmServe } from './baselines/processes.js';
import { binaryRequests, closedLoop, expectedOutputs, fmtRatio, makeRepo, median, openLoop, pbtxt, policyParam, type WindowResult } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  'window-ms': { type: 'string', default: '3000' }, hidden: { type: 'string', default: '8192' },
  loads: { type: 'string', default: '0.1,0.5,0.9,1.2' }, 'max-batch': { type: 'string', default: '128' },
  rounds: { type: 'string', default: '3' },
} });
const ROUNDS = Number(a.rounds);
const MS = Number(a['window-ms']), HID = Number(a.hidden), MAXB = Number(a['max-batch']);
const LOADS = a.loads!.split(',').map(Number);
const IN = 1024, OUT = 1024;

const delay = (us: number) => `dynamic_batching { max_queue_delay_microseconds: ${us} }`;
const POLICIES: Array<[string, string]> = [
  ['adaptive', ''], ['off', policyParam('none')], ['static-100us', delay(100)], ['static-1ms', delay(1000)], ['static-5ms', delay(5000)],
];
const { bytes } = mlpModel(IN, HID, OUT, 1);
const repo = makeRepo(bytes, Object.fromEntries(POLICIES.map(([n, extra]) => [`mlp_${n.replace(/-/g, '_')}`, pbtxt(`mlp_${n.replace(/-/g, '_')}`, MAXB, IN, OUT, extra)])));
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0']);
try {
  const reqs = Object.fromEntries(POLICIES.map(([n]) => [n, binaryRequests(server.url, `mlp_${n.replace(/-/g, '_')}`, IN, 32)]));
  const expected = await expectedOutputs(session, reqs.adaptive.inputs, IN);
  const check = { wrong: 0 };
  // Capacity: the best closed-loop throughput (concurrency 128) of the batching variants, each after a warm-up window
  // (the adaptive policy refines its curve under load).
  const caps: string[] = [];
  let cap = 0;
  for (const [n] of POLICIES.filter(([p]) => p !== 'off')) {
    const tp = (await closedLoop(server.url, reqs[n].requests, expected, 128, 3000, MS, check)).throughput;
    caps.push(`${n} ${tp.toFixed(0)}`);
    cap = Math.max(cap, tp);
  }
  console.log(`capacity (closed loop, concurrency 128): ${caps.join(', ')} req/s → ${cap.toFixed(0)} req/s`);
  console.log('load | policy | offered/s | throughput/s | p50 ms | p99 ms | errors');
  const verdicts: string[] = [];
  for (const load of LOADS) {
    const rate = cap * load;
    const ms = Math.max(MS, Math.ceil((1100 / rate) * 1000)); // ≥ 1,000 samples for each p99
    const ratios: number[] = [];
    const p99Ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const res: Record<string, WindowResult> = {};
      const order = POLICIES.filter(([n]) => round === 0 || n !== 'off');
      for (let i = 0; i < order.length; i++) {
        const [n] = order[(i + round) % order.length];
        res[n] = await openLoop(server.url, reqs[n].requests, expected, rate, 1000, ms, check);
        const r = res[n];
        console.log(`${(load * 100).toFixed(0)} % | ${n} | ${rate.toFixed(0)} | ${r.throughput.toFixed(0)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors}`);
      }
      ratios.push(res.adaptive.throughput / Math.max(res['static-100us'].throughput, res['static-1ms'].throughput, res['static-5ms'].throughput));
      if (res.off) p99Ratios.push(res.adaptive.p99Ms / res.off.p99Ms);
    }
    verdicts.push(`${(load * 100).toFixed(0)} %: adaptive ÷ best static throughput ${fmtRatio(ratios).replace('pairs', 'rounds')} (target ≥ 0.95)` +
      (load <= 0.1 ? `; adaptive p99 ÷ batching-off p99 ${median(p99Ratios).toFixed(2)} (target ≤ 1.2)` : ''));
  }
  console.log(verdicts.join('\n'));
  console.log(`answers checked against in-process results: wrong ${check.wrong}`);
} finally {
  await server.close();
  repo.remove();
}
