/**
 * Does a pipeline overlap its stages? A three-stage ensemble — JS pre-processing → ONNX MLP → JS post-processing —
 * served in-process by InferenceServer, each stage one instance (its own worker thread), no dynamic batching.
 *
 *   node --import tsx bench/pipeline-overlap.ts [--triples 15] [--window-ms 400] [--concurrency 32] [--js-stages compute|wait]
 *                                                [--hidden 2048] [--batching config|none|static|adaptive]
 *
 * Windows alternate after a warm-up (P S Q P S Q …), closed loop:
 *   P: the pipeline at `concurrency` requests in flight;
 *   S: the slowest stage alone (found in the warm-up) at the same concurrency — the pipeline's ceiling;
 *   Q: the same stages one after another per request, nothing overlapping: the pipeline at concurrency 1.
 * Prints P÷S (target ≥ 0.9) and P÷Q (the gain of overlapping), medians with min–max over the triples. The first
 * answer of every window is checked against a reference computed here. Client, server and the three stage threads
 * share this machine's cores (2 on the development machine, shared with other work).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { InferenceServer } from '../src/server/inference-server.js';
import type { InferenceRequest, Tensor } from '../src/core/index.js';
import type { BatchingPolicyName } from '../src/scheduler/create-scheduler.js';
import { mlpModel, writeModel } from '../test/fixtures/models.js';

const { values: args } = parseArgs({
  options: {
    triples: { type: 'string', default: '15' },
    'window-ms': { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '32' },
    'js-stages': { type: 'string', default: 'compute' },
    hidden: { type: 'string', default: '2048' },
    batching: { type: 'string', default: 'config' },
  },
});
const TRIPLES = Number(args.triples);
const WINDOW_MS = Number(args['window-ms']);
const CONCURRENCY = Number(args.concurrency);
/** compute: the JS stages burn CPU; wait: they wait 2 ms and compute little (as stages calling out to a service would). */
const JS_STAGES = args['js-stages'] === 'wait' ? 'wait' : 'compute';
const WAIT = JS_STAGES === 'wait' ? 'await new Promise((r) => setTimeout(r, 2));' : '';

const SIDE = 64; // pre: a 64×64 gray image
const IN = SIDE * SIDE;
// The ONNX stage's size: 2048 makes it the slowest stage by enough that all three fit on 2 cores at once (the
// pipeline can then reach the slowest stage's rate); 1024 balances the stages (more to gain from overlapping, but
// on 2 cores the stages then compete for CPU rather than run side by side).
const HIDDEN = Number(args.hidden);
/** The server's batching policy for every model: 'config' = each config's choice (the server's default). */
const BATCHING = args.batching as 'config' | BatchingPolicyName;
const OUT = 1000;
// The JS stages' CPU work: box-blur passes (pre) and soft-max passes (post). In wait mode they mostly wait.
const PRE_PASSES = JS_STAGES === 'wait' ? 0 : 1;
const POST_PASSES = JS_STAGES === 'wait' ? 1 : 5;

// The pre stage's computation, shared by the JS model (as source) and the reference check here.
const preSource = `
export function preprocess(px, side, passes) {
  let a = Float32Array.from(px, (v) => v / 255);
  let b = new Float32Array(a.length);
  for (let p = 0; p < passes; p++) {
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
      let s = 0, n = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < side && xx >= 0 && xx < side) { s += a[yy * side + xx]; n++; }
      }
      b[y * side + x] = s / n;
    }
    [a, b] = [b, a];
  }
  for (let i = 0; i < a.length; i++) a[i] = (a[i] - 0.5) / 0.25;
  return a;
}`;
const preprocess = new Function(`${preSource.replace('export ', '')}; return preprocess;`)() as (px: Uint8Array, side: number, passes: number) => Float32Array;

function setUp(repo: string): { reference: (x: Float32Array) => Float32Array } {
  const js = (name: string, config: string, source: string) => {
    mkdirSync(join(repo, name, '1'), { recursive: true });
    writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"\n${config}`);
    writeFileSync(join(repo, name, '1', 'model.mjs'), source);
  };
  js('pre', `backend: "js"
max_batch_size: 8
input [ { name: "pixels" data_type: TYPE_UINT8 dims: [ ${IN} ] } ]
output [ { name: "x" data_type: TYPE_FP32 dims: [ ${IN} ] } ]`, `${preSource}
export async function execute(inputs) {
  ${WAIT}
  const px = inputs[0];
  const n = px.shape[0];
  const out = new Float32Array(n * ${IN});
  for (let i = 0; i < n; i++) out.set(preprocess(px.data.subarray(i * ${IN}, (i + 1) * ${IN}), ${SIDE}, ${PRE_PASSES}), i * ${IN});
  return [{ name: 'x', datatype: 'FP32', shape: [n, ${IN}], data: out }];
}`);
  const { bytes, reference } = mlpModel(IN, HIDDEN, OUT, 5);
  writeModel(repo, 'net', bytes, { config: `name: "net"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${IN} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
parameters { key: "intra_op_thread_count" value: { string_value: "1" } }` });
  js('post', `backend: "js"
max_batch_size: 8
input [ { name: "logits" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
output [ { name: "label" data_type: TYPE_STRING dims: [ 1 ] }, { name: "score" data_type: TYPE_FP32 dims: [ 1 ] } ]`, `
export async function execute(inputs) {
  ${WAIT}
  const t = inputs[0];
  const n = t.shape[0];
  const labels = [], scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = t.data.subarray(i * ${OUT}, (i + 1) * ${OUT});
    let best = 0, p = 0;
    for (let pass = 0; pass < ${POST_PASSES}; pass++) {
      let max = -Infinity, sum = 0;
      for (const v of z) max = Math.max(max, v);
      for (const v of z) sum += Math.exp(v - max);
      best = 0;
      for (let k = 1; k < z.length; k++) if (z[k] > z[best]) best = k;
      p = Math.exp(z[best] - max) / sum;
    }
    labels.push('class_' + best);
    scores[i] = p;
  }
  return [{ name: 'label', datatype: 'BYTES', shape: [n, 1], data: labels }, { name: 'score', datatype: 'FP32', shape: [n, 1], data: scores }];
}`);
  mkdirSync(join(repo, 'pipe', '1'), { recursive: true });
  writeFileSync(join(repo, 'pipe', 'config.pbtxt'), `name: "pipe"
platform: "ensemble"
max_batch_size: 8
input [ { name: "pixels" data_type: TYPE_UINT8 dims: [ ${IN} ] } ]
output [ { name: "label" data_type: TYPE_STRING dims: [ 1 ] } ]
ensemble_scheduling { step [
  { model_name: "pre" model_version: -1 input_map { key: "pixels" value: "pixels" } output_map { key: "x" value: "x" } },
  { model_name: "net" model_version: -1 input_map { key: "input" value: "x" } output_map { key: "output" value: "logits" } },
  { model_name: "post" model_version: -1 input_map { key: "logits" value: "logits" } output_map { key: "label" value: "label" } }
] }`);
  return { reference: (x) => reference(x, 1) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Closed loop: `concurrency` callers, each sending its next request when the last one is answered. */
let lastCores = 0;
async function closedLoop(send: () => Promise<unknown>, concurrency: number, ms: number, check: (r: unknown) => void): Promise<number> {
  const end = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  let done = 0;
  let checked = false;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const r = await send();
      if (!checked) {
        checked = true;
        check(r);
      }
      done++;
    }
  }));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // Cores this process kept busy (all its threads): when it stays well under the machine's, others had them.
  lastCores = (cpu.user + cpu.system) / 1000 / wallMs;
  return done / (wallMs / 1000);
}

async function main(): Promise<void> {
  const repo = mkdtempSync(join(tmpdir(), 'autoglm-bench-pipe-'));
  const { reference } = setUp(repo);
  const server = await InferenceServer.create({ modelRepositories: [repo], batchingPolicy: BATCHING === 'config' ? undefined : BATCHING });
  try {
    const px = Uint8Array.from({ length: IN }, (_, i) => ((i * 37) % 251) ^ (i >> 6));
    const x = preprocess(px, SIDE, PRE_PASSES);
    const logits = reference(x);
    let best = 0;
    for (let k = 1; k < OUT; k++) if (logits[k] > logits[best]) best = k;
    const wantLabel = `class_${best}`;
    const tensor = (name: string, datatype: Tensor['datatype'], data: Tensor['data']): Tensor => ({ name, datatype, shape: [1, data.length], data });
    const requests: Record<string, InferenceRequest> = {
      pipe: { model: 'pipe', inputs: [tensor('pixels', 'UINT8', px)] },
      pre: { model: 'pre', inputs: [tensor('pixels', 'UINT8', px)] },
      net: { model: 'net', inputs: [tensor('input', 'FP32', x)] },
      post: { model: 'post', inputs: [tensor('logits', 'FP32', logits)] },
    };
    const label = (r: unknown) => new TextDecoder().decode(((r as { outputs: Tensor[] }).outputs.find((t) => t.name === 'label')!.data as Uint8Array[])[0]);
    const checks: Record<string, (r: unknown) => void> = {
      pipe: (r) => { if (label(r) !== wantLabel) throw new Error(`pipeline answered ${label(r)}, reference ${wantLabel}`); },
      pre: () => {}, net: () => {},
      post: (r) => { if (label(r) !== wantLabel) throw new Error(`post answered ${label(r)}, reference ${wantLabel}`); },
    };
    const run = (m: string, c: number, ms = WINDOW_MS) => closedLoop(() => server.infer(requests[m]), c, ms, checks[m]);

    // Warm-up, and each stage's throughput alone to find the slowest.
    await run('pipe', CONCURRENCY, 800);
    const alone: Record<string, number> = {};
    for (const m of ['pre', 'net', 'post']) alone[m] = await run(m, CONCURRENCY, 800);
    const slowest = Object.entries(alone).sort((a, b) => a[1] - b[1])[0][0];
    console.log(`batching: ${BATCHING}; JS stages: ${JS_STAGES}; MLP ${IN}→${HIDDEN}→${OUT}; concurrency ${CONCURRENCY}; ${TRIPLES} triples of ${WINDOW_MS} ms windows`);
    console.log(`stages alone (warm-up, req/s at concurrency ${CONCURRENCY}): ${Object.entries(alone).map(([m, v]) => `${m} ${v.toFixed(0)}`).join(', ')}; slowest: ${slowest}`);

    const rows: { p: number; s: number; q: number }[] = [];
    for (let i = 0; i < TRIPLES; i++) {
      const p = await run('pipe', CONCURRENCY);
      const pc = lastCores;
      const s = await run(slowest, CONCURRENCY);
      const sc = lastCores;
      const q = await run('pipe', 1);
      const qc = lastCores;
      rows.push({ p, s, q });
      console.log(`triple ${i + 1}: pipeline ${p.toFixed(0)} req/s (${pc.toFixed(2)} cores busy), ${slowest} alone ${s.toFixed(0)} req/s (${sc.toFixed(2)}), one after another ${q.toFixed(0)} req/s (${qc.toFixed(2)})`);
    }
    const ps = rows.map((r) => r.p / r.s);
    const pq = rows.map((r) => r.p / r.q);
    const fmt = (xs: number[]) => `${median(xs).toFixed(2)} (min–max ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}, ${xs.length} triples)`;
    console.log(`pipeline ÷ slowest stage alone: ${fmt(ps)}   [target ≥ 0.9]`);
    console.log(`pipeline ÷ stages one after another: ${fmt(pq)}`);
  } finally {
    await server.close();
    rmSync(repo, { recursive: true, force: true });
  }
}

await main();
