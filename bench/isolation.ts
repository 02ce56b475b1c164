/**
 * Isolation: the p99 of a healthy model while another model misbehaves beside it (issue 14).
 *
 *   node --import tsx bench/isolation.ts [--rounds 3] [--window-s 10] [--rate 200]
 *
 * `autoglm serve` (from the sources) on core 0, this client on core 1 (pinServersTo('0', '1')); the server's
 * repository holds the healthy `mlp` (the example's, JSON batch 1) and the misbehaving neighbours:
 *   throw  — a JS model that throws on every request (20 req/s)
 *   loop   — a JS model stuck in a loop, ended by execute_timeout_ms 200 (2 req/s; 3 deaths a minute, then FAILED)
 *   oom    — a JS model that allocates until its max_heap_mb 128 ends its worker (2 req/s; the same budget)
 *   onnx   — a heavy ONNX neighbour: 48 chained 512×512 MatMul+Tanh on batch 256, ~85 ms a run (8 req/s: most of
 *            one core when it had it alone)
 * Windows alternate base (healthy alone), scenario, base, … after 2 s of healthy load alone each (the neighbour's
 * requests are sent during its measured window only, so its first failures fall inside it); healthy load is open loop at
 * --rate req/s, latency from each request's intended send time, all samples of a window in an HDR histogram. Each
 * scenario's p99 is divided by the mean p99 of the base windows either side; median (min–max) over rounds. Healthy
 * answers are compared with the first; any error or wrong answer is counted.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LatencyHistogram } from '../src/bench/latency-histogram.js';
import { pinServersTo, spawnAutoglmServe } from './baselines/processes.js';
import { slowModel, writeModel } from '../test/fixtures/models.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'window-s': { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
  },
});
const ROUNDS = Number(args.rounds);
const WINDOW_MS = Number(args['window-s']) * 1000;
const SETTLE_MS = 2000;
const RATE = Number(args.rate);
const ROOT = join(import.meta.dirname, '..');

const repo = mkdtempSync(join(tmpdir(), 'autoglm-isolation-'));
cpSync(join(ROOT, 'examples', 'model_repository', 'mlp'), join(repo, 'mlp'), { recursive: true });
function jsModel(name: string, misbehave: string, params: Record<string, string> = {}): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"\nbackend: "js"\nmax_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\noutput [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
${Object.entries(params).map(([k, v]) => `parameters { key: "${k}" value: { string_value: "${v}" } }`).join('\n')}\n`);
  writeFileSync(join(repo, name, '1', 'model.mjs'), `export function execute([x]) {
  if (x.data[0] === 42) { ${misbehave} }
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }];
}\n`);
}
jsModel('thrower', "throw new Error('boom');");
jsModel('looper', 'for (;;) {}', { execute_timeout_ms: '200' });
jsModel('hog', 'const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random()));', { max_heap_mb: '128' });
writeModel(repo, 'heavy', slowModel(48), { config: `max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
dynamic_batching { }
` });

pinServersTo('0', '1');
const server = await spawnAutoglmServe(repo, ['--allow-grpc=false', '--allow-metrics=false', '--log-format', 'json']);
const BASE = server.url;

const HEALTHY_BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: Array.from({ length: 64 }, (_, i) => (i % 8) / 8 - 0.5) }] });
const HEAVY_BODY = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], data: Array.from({ length: 256 * 512 }, (_, i) => ((i * 13) % 17) / 17 - 0.5) }] });
const BAD = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [42] }] });

interface Scenario { readonly name: string; readonly path?: string; readonly body?: string; readonly rate: number }
const SCENARIOS: Scenario[] = [
  { name: 'throw', path: '/v2/models/thrower/infer', body: BAD, rate: 20 },
  { name: 'loop', path: '/v2/models/looper/infer', body: BAD, rate: 2 },
  { name: 'oom', path: '/v2/models/hog/infer', body: BAD, rate: 2 },
  { name: 'onnx', path: '/v2/models/heavy/infer', body: HEAVY_BODY, rate: 8 },
];

let reference: string | undefined;
interface Window { readonly hist: LatencyHistogram; errors: number; wrong: number; neighbour: Record<number, number> }

/** Open loop at `rate` for `ms`, from `start`; `record` gets each request's latency from its intended send time. */
async function openLoop(rate: number, ms: number, send: (k: number, intended: number) => Promise<void>): Promise<void> {
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let k = 0; ; k++) {
    const due = start + (k * 1000) / rate;
    if (due - start >= ms) break;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(k, due));
  }
  await Promise.all(pending);
}

async function window(s: Scenario | undefined, measure: boolean): Promise<Window> {
  const w: Window = { hist: new LatencyHistogram(), errors: 0, wrong: 0, neighbour: {} };
  const ms = measure ? WINDOW_MS : SETTLE_MS;
  const healthy = openLoop(RATE, ms, async (_k, intended) => {
    try {
      const res = await fetch(`${BASE}/v2/models/mlp/infer`, { method: 'POST', body: HEALTHY_BODY, headers: { 'Content-Type': 'application/json' } });
      const text = await res.text();
      if (res.status !== 200) {
        w.errors++;
        return;
      }
      const data = JSON.stringify((JSON.parse(text) as { outputs: Array<{ data: number[] }> }).outputs[0].data);
      reference ??= data;
      if (data !== reference) w.wrong++;
      w.hist.record((performance.now() - intended) * 1000);
    } catch {
      w.errors++;
    }
  });
  const neighbour = s ? openLoop(s.rate, ms, async () => {
    try {
      const res = await fetch(BASE + s.path!, { method: 'POST', body: s.body, headers: { 'Content-Type': 'application/json' } });
      await res.arrayBuffer();
      w.neighbour[res.status] = (w.neighbour[res.status] ?? 0) + 1;
    } catch {
      w.neighbour[0] = (w.neighbour[0] ?? 0) + 1;
    }
  }) : Promise.resolve();
  await Promise.all([healthy, neighbour]);
  return w;
}

const ms = (us: number) => (us / 1000).toFixed(2);
console.log(`isolation: healthy mlp at ${RATE} req/s (open loop), ${WINDOW_MS / 1000} s windows, ${ROUNDS} rounds; server on core 0, client on core 1`);
await window(undefined, true); // warm-up
const ratios = new Map<string, number[]>();
const p99s = new Map<string, number[]>();
let errors = 0;
let wrong = 0;
const neighbourStatuses = new Map<string, Record<number, number>>();
for (let round = 0; round < ROUNDS; round++) {
  let before = await (async () => { await window(undefined, false); return window(undefined, true); })();
  for (const s of SCENARIOS) {
    await window(undefined, false);
    const during = await window(s, true);
    await window(undefined, false);
    const after = await window(undefined, true);
    for (const w of [before, during, after]) {
      errors += w.errors;
      wrong += w.wrong;
    }
    const base = (before.hist.percentile(99) + after.hist.percentile(99)) / 2;
    const p99 = during.hist.percentile(99);
    (ratios.get(s.name) ?? ratios.set(s.name, []).get(s.name)!).push(p99 / base);
    (p99s.get(s.name) ?? p99s.set(s.name, []).get(s.name)!).push(p99);
    (p99s.get('base') ?? p99s.set('base', []).get('base')!).push(base);
    const st = neighbourStatuses.get(s.name) ?? {};
    for (const [k, v] of Object.entries(during.neighbour)) st[Number(k)] = (st[Number(k)] ?? 0) + v;
    neighbourStatuses.set(s.name, st);
    console.log(`  round ${round + 1} ${s.name.padEnd(6)} healthy p99 ${ms(p99)} ms vs base ${ms(base)} ms (×${(p99 / base).toFixed(2)}), ` +
      `p50 ${ms(during.hist.percentile(50))} ms, n ${during.hist.count}; neighbour ${JSON.stringify(during.neighbour)}`);
    before = after;
  }
}
await server.close();
rmSync(repo, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\n| neighbour | healthy p99 ÷ base p99, median (min–max) | healthy p99 (median) | neighbour\'s answers |');
console.log('| --- | --- | --- | --- |');
for (const s of SCENARIOS) {
  const r = ratios.get(s.name)!;
  console.log(`| ${s.name} | ×${median(r).toFixed(2)} (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}) | ${ms(median(p99s.get(s.name)!))} ms ` +
    `(base ${ms(median(p99s.get('base')!))} ms) | ${JSON.stringify(neighbourStatuses.get(s.name))} |`);
}
console.log(`healthy errors: ${errors}, wrong answers: ${wrong}`);
process.exit(errors + wrong === 0 ? 0 : 1);
