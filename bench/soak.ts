/**
 * Soak: a mixed load on `autoglm serve` for N minutes, reporting the server's RSS, heap, handles, file descriptors,
 * threads and event-loop delay over time (issue 14).
 *
 *   node --import tsx bench/soak.ts [--minutes 10] [--warmup-minutes 2] [--sample-s 20] [--rate 100]
 *
 * The server (bench/soak-server.ts: the real CLI code plus a stats reporter over IPC) serves examples/model_repository
 * and a second repository holding `cycler` (a copy of the example mlp). It runs on core 0, this client on core 1
 * (pinServersTo('0', '1')). The load, open loop at --rate requests/s in total, each request one of:
 *   42 % JSON mlp (batch 1–4)          — answers compared with the first answer for the same input
 *   25 % binary multi_io (INT32, FP32, INT64, BOOL, BYTES)  — checked against what the model computes
 *  0.5 % the `ocr` pipeline on examples/model_repository/ocr/sample.png — text compared with the first answer
 *   20 % errors: malformed JSON, wrong shape, unknown model, oversize body, lying binary framing — each must be a 4xx
 *    6 % `cycler` (200 while loaded, 503 while unloaded), 6 % health/metadata/statistics
 * and every --sample-s seconds the server reports its figures, then `cycler` is unloaded, and loaded again half a
 * period later (load/unload cycles: worker threads, sessions); the samples thus always see the same models loaded.
 *
 * Figures: RSS growth = (median of the last 3 samples under load − median of the 3 samples ending at warm-up) ÷ the
 * latter; handles (but client connections, timers and immediates), connections, fds, threads: the same two medians, and
 * each one's least-squares trend per minute after warm-up. Wrong answers and unexpected statuses are counted and must
 * be 0.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { pinServersTo } from './baselines/processes.js';
import type { SoakSample } from './soak-server.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'warmup-minutes': { type: 'string', default: '2' },
    'sample-s': { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
  },
});
const MINUTES = Number(args.minutes);
const WARMUP_MIN = Number(args['warmup-minutes']);
const SAMPLE_S = Number(args['sample-s']);
const RATE = Number(args.rate);
const SERVER_CPUS = '0';
const CLIENT_CPUS = '1';
const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples', 'model_repository');

// --- The server ---

const cyclerRepo = mkdtempSync(join(tmpdir(), 'autoglm-soak-'));
mkdirSync(join(cyclerRepo, 'cycler', '1'), { recursive: true });
copyFileSync(join(EXAMPLES, 'mlp', '1', 'model.onnx'), join(cyclerRepo, 'cycler', '1', 'model.onnx'));

pinServersTo(SERVER_CPUS, CLIENT_CPUS);
const child = spawn('taskset', ['-c', SERVER_CPUS, process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'soak-server.ts'), 'serve',
  '--model-repository', EXAMPLES, '--model-repository', cyclerRepo, '--http-port', '0', '--http-address', '127.0.0.1',
  '--allow-grpc=false', '--allow-metrics=false', '--log-format', 'json', '--max-request-body-bytes', String(1 << 20),
  '--model-control-mode', 'explicit', '--load-model', '*'],
{ cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, SOAK_SAMPLE_MS: '0' } });
let stderr = '';
child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
const samples: SoakSample[] = [];
child.on('message', (m: { kind: string; sample: SoakSample }) => {
  if (m.kind !== 'sample') return;
  samples.push(m.sample);
  printRow(m.sample);
});
const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
const port = await new Promise<number>((resolve, reject) => {
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'HTTP server listening') resolve(rec.port!);
    } catch { /* not JSON */ }
  });
  void exited.then((e) => reject(new Error(`server exited (${e.code ?? e.signal}) before listening\n${stderr}`)));
});
const BASE = `http://127.0.0.1:${port}`;

// --- The requests ---

interface Outcome { ok: number; expected4xx: number; expected503: number; wrong: number; unexpected: Record<string, number>; latencyMs: number[] }
const outcomes = new Map<string, Outcome>();
function outcome(kind: string): Outcome {
  let o = outcomes.get(kind);
  if (!o) outcomes.set(kind, o = { ok: 0, expected4xx: 0, expected503: 0, wrong: 0, unexpected: {}, latencyMs: [] });
  return o;
}
const unexpected = (o: Outcome, what: string) => { o.unexpected[what] = (o.unexpected[what] ?? 0) + 1; };

async function post(path: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(BASE + path, { method: 'POST', body: body as unknown as BodyInit, headers: { 'Accept-Encoding': 'identity', ...headers }, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const firstAnswers = new Map<string, string>();
/** The same input must always get the same answer (the first one seen is the reference). */
function sameAsFirst(key: string, answer: string): boolean {
  const first = firstAnswers.get(key);
  if (first === undefined) {
    firstAnswers.set(key, answer);
    return true;
  }
  return first === answer;
}

const MLP_INPUTS = Array.from({ length: 8 }, (_, k) => {
  const batch = 1 + (k % 4);
  return { batch, data: Array.from({ length: batch * 64 }, (_, i) => ((i * 7 + k) % 16) / 16 - 0.5) };
});

async function mlpJson(k: number): Promise<void> {
  const o = outcome('mlp json');
  const input = MLP_INPUTS[k % MLP_INPUTS.length];
  const r = await post('/v2/models/mlp/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [input.batch, 64], data: input.data }] }),
    { 'Content-Type': 'application/json' });
  if (r.status !== 200) return unexpected(o, `http_${r.status}`);
  const out = JSON.parse(r.bytes.toString()) as { outputs: Array<{ shape: number[]; data: number[] }> };
  if (out.outputs[0].shape[0] !== input.batch || !sameAsFirst(`mlp${k % MLP_INPUTS.length}`, JSON.stringify(out.outputs[0].data))) o.wrong++;
  else o.ok++;
}

function bytesElements(items: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of items) {
    const b = Buffer.from(s);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    parts.push(n, b);
  }
  return Buffer.concat(parts);
}

async function multiIoBinary(k: number): Promise<void> {
  const o = outcome('multi_io binary');
  const a = Int32Array.from([k, 2, 3, 4]);
  const b = Float32Array.from([0.5, 0.25, -1, k % 7]);
  const c = BigInt64Array.from([7n, BigInt(-k)]);
  const flag = Uint8Array.from([1, 0, k % 2]);
  const text = bytesElements([`hello ${k}`]);
  const parts: Buffer[] = [...[a, b, c, flag].map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength)), text];
  const header = Buffer.from(JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'INT32', shape: [1, 4], parameters: { binary_data_size: 16 } },
      { name: 'b', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } },
      { name: 'c', datatype: 'INT64', shape: [1, 2], parameters: { binary_data_size: 16 } },
      { name: 'flag', datatype: 'BOOL', shape: [1, 3], parameters: { binary_data_size: 3 } },
      { name: 'text', datatype: 'BYTES', shape: [1, 1], parameters: { binary_data_size: text.length } },
    ],
    outputs: [{ name: 'sum' }, { name: 'scaled' }, { name: 'not_flag' }, { name: 'text_out' }],
  }));
  const r = await post('/v2/models/multi_io/infer', Buffer.concat([header, ...parts]),
    { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) });
  if (r.status !== 200) return unexpected(o, `http_${r.status}`);
  const out = JSON.parse(r.bytes.toString()) as { outputs: Array<{ name: string; data: unknown[] }> };
  const get = (n: string) => out.outputs.find((x) => x.name === n)?.data;
  const sum = Array.from(a, (v, i) => Math.fround(v + b[i]));
  const ok = JSON.stringify(get('sum')) === JSON.stringify(sum) && JSON.stringify(get('scaled')) === JSON.stringify([21, -3 * k])
    && JSON.stringify(get('not_flag')) === JSON.stringify([false, true, k % 2 === 0]) && JSON.stringify(get('text_out')) === JSON.stringify([`hello ${k}`]);
  if (ok) o.ok++;
  else o.wrong++;
}

const SAMPLE_PNG = readFileSync(join(EXAMPLES, 'ocr', 'sample.png'));
async function ocr(): Promise<void> {
  const o = outcome('ocr pipeline');
  const img = Buffer.alloc(4 + SAMPLE_PNG.length);
  img.writeUInt32LE(SAMPLE_PNG.length, 0);
  SAMPLE_PNG.copy(img, 4);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: img.length } }] }));
  const r = await post('/v2/models/ocr/infer', Buffer.concat([header, img]),
    { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) });
  if (r.status !== 200) return unexpected(o, `http_${r.status}`);
  const out = JSON.parse(r.bytes.toString()) as { outputs: Array<{ name: string; data: unknown[] }> };
  const lines = out.outputs.find((x) => x.name === 'text')?.data;
  if (!lines || lines.length === 0 || !sameAsFirst('ocr', JSON.stringify(lines))) o.wrong++;
  else o.ok++;
}

const BAD: Array<() => Promise<{ status: number; bytes: Buffer }>> = [
  () => post('/v2/models/mlp/infer', '{"inputs": [', { 'Content-Type': 'application/json' }),
  () => post('/v2/models/mlp/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 63], data: new Array(63).fill(0) }] })),
  () => post('/v2/models/nope/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: new Array(64).fill(0) }] })),
  () => post('/v2/models/mlp/infer', Buffer.alloc((1 << 20) + 10, 0x20)),
  () => {
    const h = '{"inputs":[{"name":"a","datatype":"INT32","shape":[1,4],"parameters":{"binary_data_size":64}}]}';
    return post('/v2/models/multi_io/infer', Buffer.from(`${h}xx`), { 'Inference-Header-Content-Length': String(h.length) });
  },
  () => post('/v2/models/mlp/versions/x/infer', '{}'),
];
async function bad(k: number): Promise<void> {
  const o = outcome('errors');
  const r = await BAD[k % BAD.length]();
  const isJsonError = (() => {
    try {
      return typeof (JSON.parse(r.bytes.toString()) as { error?: unknown }).error === 'string';
    } catch {
      return false;
    }
  })();
  if (r.status >= 400 && r.status < 500 && isJsonError) o.expected4xx++;
  else unexpected(o, `http_${r.status}`);
}

let cyclerLoaded = true;
async function cycler(k: number): Promise<void> {
  const o = outcome('cycler');
  const input = MLP_INPUTS[k % MLP_INPUTS.length];
  const r = await post('/v2/models/cycler/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [input.batch, 64], data: input.data }] }));
  if (r.status === 200) {
    const out = JSON.parse(r.bytes.toString()) as { outputs: Array<{ data: number[] }> };
    // The same weights as mlp: the same answer as mlp's for this input.
    const mlpFirst = firstAnswers.get(`mlp${k % MLP_INPUTS.length}`);
    if (mlpFirst !== undefined && mlpFirst !== JSON.stringify(out.outputs[0].data)) o.wrong++;
    else o.ok++;
  } else if (r.status === 503) {
    o.expected503++;
  } else unexpected(o, `http_${r.status}`);
}

async function control(k: number): Promise<void> {
  const o = outcome('health/metadata/stats');
  const paths = ['/v2/health/ready', '/v2/models/mlp', '/v2/models/stats', '/v2/models/ocr/config', '/v2'];
  const res = await fetch(BASE + paths[k % paths.length], { signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  // Ready is 503 while `cycler` is unloaded? No: an explicitly unloaded model does not count against readiness.
  if (res.status === 200) o.ok++;
  else unexpected(o, `${paths[k % paths.length]} ${res.status}`);
}

async function cycle(): Promise<void> {
  const o = outcome('load/unload');
  const t = performance.now();
  const path = cyclerLoaded ? '/v2/repository/models/cycler/unload' : '/v2/repository/models/cycler/load';
  const r = await post(path, '');
  if (r.status === 200) {
    o.ok++;
    o.latencyMs.push(performance.now() - t);
    cyclerLoaded = !cyclerLoaded;
  } else unexpected(o, `${path} ${r.status}`);
}

const MIX: Array<[number, (k: number) => Promise<void>]> = [[84, mlpJson], [50, multiIoBinary], [1, () => ocr()], [41, bad], [12, cycler], [12, control]];
const TOTAL_WEIGHT = MIX.reduce((n, [w]) => n + w, 0);

// --- The run ---

function printRow(s: SoakSample): void {
  const counts = [...outcomes.values()].reduce((a, o) => a + o.ok + o.expected4xx + o.expected503, 0);
  console.log([`${(s.t / 60_000).toFixed(1)} min`.padStart(9), `${s.rssMb} MB`.padStart(9), `${s.heapUsedMb}/${s.heapTotalMb} MB`.padStart(14),
    `${s.arrayBuffersMb} MB`.padStart(9), String(s.handles).padStart(7), String(s.connections).padStart(5), String(s.fds).padStart(4), String(s.threads).padStart(7),
    `${s.lagP99Ms.toFixed(1)}/${s.lagMaxMs.toFixed(1)} ms`.padStart(14), String(counts).padStart(8)].join(' '));
}

console.log(`soak: ${MINUTES} min at ${RATE} req/s (warm-up ${WARMUP_MIN} min), server on core ${SERVER_CPUS}, client on core ${CLIENT_CPUS}`);
console.log(['time'.padStart(9), 'RSS'.padStart(9), 'heap used/total'.padStart(14), 'arrayBuf'.padStart(9), 'handles'.padStart(7), 'conns'.padStart(5), 'fds'.padStart(4),
  'threads'.padStart(7), 'loop p99/max'.padStart(14), 'answered'.padStart(8)].join(' '));
child.send({ kind: 'sample-now' });

const endAt = performance.now() + MINUTES * 60_000;
let k = 0;
let inFlight = 0;
let skipped = 0;
const pending = new Set<Promise<void>>();
// Every SAMPLE_S seconds: a sample (always with `cycler` loaded: the same phase of the cycle, so the same threads and
// sessions exist), then `cycler` is unloaded, and loaded again half a period later.
let ticks = 0;
const cycleTimer = setInterval(() => {
  if (ticks++ % 2 === 0) child.send({ kind: 'sample-now' });
  void cycle();
}, (SAMPLE_S * 1000) / 2);
const start = performance.now();
while (performance.now() < endAt) {
  // Open loop: request k is due at start + k / RATE; a loop that falls behind sends at once (and counts none lost).
  const due = start + (k * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  if (inFlight > 256) {
    skipped++;
    k++;
    continue;
  }
  let pick = (k * 7919) % TOTAL_WEIGHT;
  let fn = MIX[0][1];
  for (const [w, f] of MIX) {
    if (pick < w) {
      fn = f;
      break;
    }
    pick -= w;
  }
  const kk = k++;
  inFlight++;
  const p = fn(kk).catch((err: unknown) => unexpected(outcome('network'), (err as Error).name)).finally(() => {
    inFlight--;
    pending.delete(p);
  });
  pending.add(p);
}
clearInterval(cycleTimer);
await Promise.all(pending);
// The figures use the samples taken under load (a sample after it would see another phase of the cycle).
const underLoad = samples.length;
await new Promise((r) => setTimeout(r, 500));

// Shutdown under the soak's leftovers: it must exit 0, promptly.
const tStop = performance.now();
child.kill('SIGTERM');
const exit = await exited;
const stopMs = performance.now() - tStop;
rmSync(cyclerRepo, { recursive: true, force: true });

// --- The figures ---

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const loaded = samples.slice(0, underLoad);
const warm = loaded.filter((s) => s.t <= WARMUP_MIN * 60_000).slice(-3);
const last = loaded.slice(-3);
/** Least-squares slope of `f` over the samples after warm-up, per minute. */
function slopePerMin(f: (s: SoakSample) => number): number {
  const xs = loaded.filter((s) => s.t > WARMUP_MIN * 60_000);
  const mx = xs.reduce((a, s) => a + s.t, 0) / xs.length;
  const my = xs.reduce((a, s) => a + f(s), 0) / xs.length;
  const num = xs.reduce((a, s) => a + (s.t - mx) * (f(s) - my), 0);
  const den = xs.reduce((a, s) => a + (s.t - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60_000;
}
const figure = (f: (s: SoakSample) => number) => ({ atWarmup: median(warm.map(f)), atEnd: median(last.map(f)) });
const rss = figure((s) => s.rssMb);
const growth = ((rss.atEnd - rss.atWarmup) / rss.atWarmup) * 100;
console.log('\nrequests by kind:');
for (const [kind, o] of outcomes) {
  console.log(`  ${kind.padEnd(22)} ok ${o.ok}, expected 4xx ${o.expected4xx}, expected 503 ${o.expected503}, wrong answers ${o.wrong}, ` +
    `unexpected ${JSON.stringify(o.unexpected)}${o.latencyMs.length ? `, median ${median(o.latencyMs).toFixed(0)} ms` : ''}`);
}
console.log(`  sent ${k - skipped} of ${k} due (${skipped} skipped: more than 256 in flight)`);
const rows: Array<[string, (s: SoakSample) => number]> = [['RSS MB', (s) => s.rssMb], ['heap used MB', (s) => s.heapUsedMb],
  ['arrayBuffers MB', (s) => s.arrayBuffersMb], ['handles', (s) => s.handles], ['connections', (s) => s.connections],
  ['fds − connections', (s) => s.fds - s.connections], ['threads', (s) => s.threads],
  ['loop p99 ms', (s) => s.lagP99Ms]];
console.log(`\nmedian of the 3 samples ending at warm-up (${WARMUP_MIN} min) → median of the last 3 under load; trend after warm-up:`);
for (const [name, f] of rows) {
  const v = figure(f);
  console.log(`  ${name.padEnd(16)} ${v.atWarmup} → ${v.atEnd}   (${slopePerMin(f) >= 0 ? '+' : ''}${slopePerMin(f).toFixed(2)} per min)`);
}
const half = loaded.filter((s) => s.t <= (MINUTES * 60_000) / 2).slice(-3);
console.log(`RSS over the second half: ${median(half.map((s) => s.rssMb))} → ${rss.atEnd} MB ` +
  `(${(((rss.atEnd - median(half.map((s) => s.rssMb))) / median(half.map((s) => s.rssMb))) * 100).toFixed(1)} %)`);
console.log(`RSS growth after warm-up: ${growth.toFixed(1)} % (target < 5 %)`);
console.log(`active resources at warm-up → at the end: ${JSON.stringify(warm.at(-1)?.resources)} → ${JSON.stringify(last.at(-1)?.resources)}`);
console.log(`threads by name at warm-up → at the end: ${JSON.stringify(warm.at(-1)?.threadNames)} → ${JSON.stringify(last.at(-1)?.threadNames)}`);
console.log(`shutdown: exit ${exit.code ?? exit.signal} after ${stopMs.toFixed(0)} ms`);
const wrong = [...outcomes.values()].reduce((n, o) => n + o.wrong + Object.values(o.unexpected).reduce((a, b) => a + b, 0), 0);
console.log(`wrong answers + unexpected statuses: ${wrong}`);
process.exit(wrong === 0 && exit.code === 0 ? 0 : 1);
