/**
 * Issue 3, benchmark 1: a weight-bound MLP (1024→8192→1024, dynamic batch dim) at concurrency 128 over HTTP with
 * binary tensors. Figures, each the median over A/B pairs in this run (min–max):
 *   adaptive server throughput ÷ in-process session.run throughput at the best batch size   (target ≥ 0.8)
 *   adaptive server throughput ÷ the same server with batching off                          (target ≥ 5×)
 * The server's default: one instance with half the cores (InferenceServerOptions.computeCores); --instances N splits
 * them among N instances, --intra-threads N sets each instance's threads. The in-process baseline is one session with
 * all cores. The load client shares the machine's cores with the server; the CPU each part used is printed.
 *
 *   node --import tsx bench/batching-throughput.ts [--pairs 3] [--window-ms 3000] [--concurrency 128] [--max-batch 128] [--instances 1] [--intra-threads N] [--rows 1] [--http-threads 0] [--affinities '5;6;…']
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mlpModel } from '../test/fixtures/models.js';
import { spawnAutoglmServe } from './baselines/processes.js';
import { coresBetween, processCpu } from './baselines/cpu-time.js';
import { defaultComputeCores } from '../src/server/inference-server.js';
import {
  binaryRequests, closedLoop, expectedOutputs, fmtRatio, makeRepo, pbtxt, policyParam, sessionThroughput,
} from './batching-common.js';

const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '3000' },
  concurrency: { type: 'string', default: '128' }, 'max-batch': { type: 'string', default: '128' },
  instances: { type: 'string', default: '1' }, 'intra-threads': { type: 'string' }, rows: { type: 'string', default: '1' },
  'http-threads': { type: 'string', default: '0' },
  /** ORT's intra_op_thread_affinities for the server's sessions (e.g. '5;6;7'). */
  affinities: { type: 'string' },
} });
/** Rows per request: 1 by default (the issue's case); more puts less HTTP work on the server per row. */
const ROWS = Number(a.rows);
const PAIRS = Number(a.pairs), MS = Number(a['window-ms']), CONC = Number(a.concurrency), MAXB = Number(a['max-batch']);
const INSTANCES = Number(a.instances);
/** The server splits the cores among a version's instances (threads = cores / count). */
const intra = (a['intra-threads'] ? `\nparameters { key: "intra_op_thread_count" value { string_value: "${a['intra-threads']}" } }` : '') +
  (a.affinities ? `\nparameters { key: "intra_op_thread_affinities" value { string_value: "${a.affinities}" } }` : '');
const group = `instance_group [ { count: ${INSTANCES} kind: KIND_CPU } ]${intra}`;
const IN = 1024, HID = 8192, OUT = 1024;

const { bytes } = mlpModel(IN, HID, OUT, 1);
const repo = makeRepo(bytes, {
  mlp: pbtxt('mlp', MAXB, IN, OUT, group),
  mlp_off: pbtxt('mlp_off', MAXB, IN, OUT, `${group}\n${policyParam('none')}`),
});
const threads = availableParallelism();
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0', '--http-thread-count', a['http-threads']!]);
try {
  // The best in-process batch size, measured now (the same cores, nothing else of ours running).
  const sizes = [8, 16, 32, 64, 128].filter((b) => b <= MAXB);
  const per: string[] = [];
  let best = sizes[0], bestTp = 0;
  for (const b of sizes) {
    const tp = await sessionThroughput(session, IN, b, 800);
    per.push(`${b}: ${tp.toFixed(0)}/s`);
    if (tp > bestTp) { best = b; bestTp = tp; }
  }
  console.log(`in-process session.run (${threads} threads), rows/s by batch: ${per.join(', ')} → best ${best}`);

  const ad = binaryRequests(server.url, 'mlp', IN, 32, {}, ROWS);
  const off = binaryRequests(server.url, 'mlp_off', IN, 32, {}, ROWS);
  const expected = await expectedOutputs(session, ad.inputs, IN);
  const check = { wrong: 0 };
  const vsInproc: number[] = [], vsOff: number[] = [];
  const cpu: string[] = [];
  console.log(`server: ${INSTANCES} instance(s) × ${a['intra-threads'] ?? Math.max(1, Math.floor(defaultComputeCores() / INSTANCES))} threads, HTTP on ${a['http-threads'] === '0' ? 'the main thread' : `${a['http-threads']} frontend threads`}`);
  console.log(`pair | in-process rows/s | adaptive req/s of ${ROWS} row(s) (p50/p99 ms) | batching off req/s (p50/p99 ms)`);
  for (let i = 0; i < PAIRS; i++) {
    const inproc = await sessionThroughput(session, IN, best, MS);
    const [s0, c0, t0] = [processCpu(server.child.pid!), processCpu(process.pid), performance.now()];
    const A = await closedLoop(server.url, ad.requests, expected, CONC, 1000, MS, check);
    const wall = (performance.now() - t0) / 1000;
    const sv = coresBetween(s0, processCpu(server.child.pid!), wall), cl = coresBetween(c0, processCpu(process.pid), wall);
    cpu.push(`server main thread ${sv.main.toFixed(2)}, server workers (ONNX Runtime, frontend threads) ${sv.other.toFixed(2)}, load client ${(cl.main + cl.other).toFixed(2)}`);
    const B = await closedLoop(server.url, off.requests, expected, CONC, 1000, MS, check);
    vsInproc.push((A.throughput * ROWS) / inproc);
    vsOff.push(A.throughput / B.throughput);
    console.log(`${i + 1} | ${inproc.toFixed(0)} | ${A.throughput.toFixed(0)} (${A.p50Ms.toFixed(0)}/${A.p99Ms.toFixed(0)}) ${A.errors} | ` +
      `${B.throughput.toFixed(0)} (${B.p50Ms.toFixed(0)}/${B.p99Ms.toFixed(0)}) ${B.errors}`);
  }
  console.log(`cores used during the adaptive windows (of ${threads}):\n  ${cpu.join('\n  ')}`);
  console.log(`adaptive ÷ in-process best batch (${best}): ${fmtRatio(vsInproc)}   target ≥ 0.8`);
  console.log(`adaptive ÷ batching off:                 ${fmtRatio(vsOff)}   target ≥ 5×`);
  console.log(`answers checked against in-process results: wrong ${check.wrong}`);
} finally {
  await server.close();
  repo.remove();
}
