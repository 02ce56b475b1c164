/**
 * The request path (issue 9): what a request costs between the socket and `session.run`. Four figures from one run,
 * each the median over ≥ 3 alternating pairs (A B A B …, after a 2 s warm-up per server) with its min–max:
 *
 *   1. JSON: Open-AutoGLM req/s ÷ the naive server's (bench/baselines/naive-server.ts), MLP 512→1024→1024→10
 *      (max_batch_size 64), 1-row KServe v2 JSON requests, 64 connections, closed loop (wrk).   Target ≥ 2× (aim 3×).
 *   2. binary: Open-AutoGLM rows/s ÷ in-process `session.run` rows/s at its best batch (32, 64, 128), MLP
 *      1024→8192→1024 (max_batch_size 128), 1-row binary-extension requests with binary output, 128 connections.
 *                                                                                                    Target ≥ 0.85.
 *   3. latency: Open-AutoGLM p50 − in-process p50 of `session.run` at batch 1, same model, binary, 1 connection.
 *                                                                                                 Target ≤ +0.15 ms.
 *   4. compute: the server's compute time per batch (Δnv_inference_compute_infer_duration_us ÷ Δnv_inference_count:
 *      Triton adds a batch's duration once per request of it) ÷ in-process `session.run` of a batch of the server's
 *      mean size (Δnv_inference_count ÷ Δnv_inference_exec_count), over figure 2's windows.        Target ≤ 1.05.
 *      The numerator is a row-weighted mean, so when batch sizes vary it reads a little high (t(b) grows with b).
 *
 * Same core budget, client apart: `autoglm serve` (built, dist/), the naive server and the in-process baseline (a
 * child process; ONNX Runtime intra-op threads = number of server CPUs) all run under `taskset -c SERVER`, wrk (and
 * this script) under `taskset -c CLIENT` with one wrk thread per client CPU. Answers are checked (one request of each
 * kind to each server against `session.run`) before the windows. Also printed: where a request's time goes — the
 * server's own metrics split and its main-thread / other-threads CPU per request (from /proc).
 *
 *   flock /tmp/bench.lock node --import tsx bench/request-path.ts [--pairs 3] [--window-ms 5000] [--cpus 0:1]
 *       [--only json|binary|latency] [--json FILE] [--from dist|src] [--serve-args "--http-thread-count 1"]
 *
 * wrk's durations are whole seconds: --window-ms is rounded to seconds (at least 1). The in-process window of figure 2
 * is split among its batch sizes (32, 64, 128 and the server's mean batch). --only is repeatable or comma-separated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scrapeCounters, splitBetween, type ServerCounters, type ServerSplit } from '../src/bench/server-metrics.js';
import { mlpLayersModel, mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { median, pbtxt } from './batching-common.js';
import { pinServersTo, requireCommands, spawnAutoglmServe, spawnNaiveServer, type ServerProcess } from './baselines/processes.js';
import { cpuCount, wrk, wrkScript, type WrkResult } from './baselines/wrk.js';

process.env.ORT_DISABLE_TELEMETRY = '1';
const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '5000' }, cpus: { type: 'string', default: '0:1' },
  only: { type: 'string', multiple: true }, json: { type: 'string' }, from: { type: 'string', default: 'dist' },
  'serve-args': { type: 'string', default: '' }, child: { type: 'boolean' }, threads: { type: 'string', default: '1' },
} });

// ---- In-process baseline: this file with --child, pinned to the server CPUs, driven over IPC. ----
type Ask =
  | { op: 'load'; name: string; path: string; inDim: number }
  | { op: 'run'; name: string; x: Float32Array; rows: number }
  | { op: 'rate'; name: string; batches: number[]; ms: number }
  | { op: 'latency'; name: string; ms: number };
interface RatePoint { batch: number; rowsPerSec: number; runUs: number }

async function childMain(): Promise<void> {
  const ort = await import('onnxruntime-node');
  const models = new Map<string, { s: import('onnxruntime-node').InferenceSession; inDim: number }>();
  const input = (name: string, b: number) => new ort.Tensor('float32', seededFloats(b * models.get(name)!.inDim, 7, 1), [b, models.get(name)!.inDim]);
  const handle = async (m: Ask): Promise<unknown> => {
    if (m.op === 'load') {
      models.set(m.name, { s: await ort.InferenceSession.create(m.path, { intraOpNumThreads: Number(a.threads), logSeverityLevel: 3 }), inDim: m.inDim });
      return true;
    }
    const { s } = models.get(m.name)!;
    if (m.op === 'run') return (await s.run({ input: new ort.Tensor('float32', m.x, [m.rows, m.x.length / m.rows]) })).output.data;
    if (m.op === 'rate') {
      const points: RatePoint[] = [];
      for (const b of m.batches) {
        const x = input(m.name, b);
        for (let w = 0; w < 3; w++) await s.run({ input: x });
        let runs = 0;
        const t0 = performance.now();
        while (runs < 3 || performance.now() - t0 < m.ms / m.batches.length) { await s.run({ input: x }); runs++; }
        const sec = (performance.now() - t0) / 1000;
        points.push({ batch: b, rowsPerSec: (runs * b) / sec, runUs: (sec * 1e6) / runs });
      }
      return points;
    }
    const x = input(m.name, 1);
    for (let w = 0; w < 20; w++) await s.run({ input: x });
    const ts: number[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < m.ms) { const t = performance.now(); await s.run({ input: x }); ts.push(performance.now() - t); }
    return { p50Us: median(ts) * 1000, runs: ts.length };
  };
  process.on('message', (m: Ask) => { void handle(m).then((r) => process.send!({ ok: r }), (e: Error) => process.send!({ err: e.message })); });
}

class InProcess {
  private waiting: ((m: { ok?: unknown; err?: string }) => void)[] = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: { ok?: unknown; err?: string }) => this.waiting.shift()?.(m));
  }
  static start(serverCpus: string, threads: number): InProcess {
    return new InProcess(spawn('taskset', ['-c', serverCpus, process.execPath, '--import', 'tsx', import.meta.filename, '--child', '--threads', String(threads)],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' }));
  }
  ask<T>(m: Ask): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiting.push((r) => (r.err === undefined ? resolve(r.ok as T) : reject(new Error(`in-process child: ${r.err}`))));
      this.child.send(m);
    });
  }
}

// ---- helpers ----
const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});
const spread = (xs: number[], f: (x: number) => string, unit = '') => `${f(median(xs))}${unit} (${f(Math.min(...xs))}–${f(Math.max(...xs))}, ${xs.length} pairs)`;
const x2 = (v: number) => v.toFixed(2);
const f0 = (v: number) => v.toFixed(0);
const newestMtime = (dir: string) => Math.max(...readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => statSync(join(dir, f)).mtimeMs));

/** Output of a reply: JSON `data`, or the binary extension's bytes after the JSON header. */
async function outputOf(res: Response): Promise<Float32Array> {
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const buf = await res.arrayBuffer();
  const hlen = res.headers.get('inference-header-content-length');
  if (hlen === null) return Float32Array.from((JSON.parse(Buffer.from(buf).toString()) as { outputs: { data: number[] }[] }).outputs[0].data);
  const head = JSON.parse(Buffer.from(buf, 0, Number(hlen)).toString()) as { outputs: { parameters?: { binary_data_size?: number } }[] };
  return new Float32Array(buf.slice(Number(hlen), Number(hlen) + head.outputs[0].parameters!.binary_data_size!));
}

function check(what: string, got: Float32Array, want: Float32Array): void {
  const scale = Math.max(...Array.from(want, Math.abs));
  const bad = got.length !== want.length ? 0 : want.findIndex((w, i) => !(Math.abs(got[i] - w) <= 1e-3 * scale));
  if (got.length !== want.length || bad >= 0) {
    throw new Error(`WRONG ANSWER from ${what}: ${got.length} values (want ${want.length}); first bad index ${bad}: got ${got[bad]}, want ${want[bad]}`);
  }
  console.log(`answer check ${what}: ${got.length} values within 1e-3 × max|y| of session.run`);
}


// ---- the benchmark ----
interface BinaryPair {
  server: WrkResult; split: ServerSplit; batchUs: number; meanBatch: number; inProcess: RatePoint[]; best: RatePoint; ratio: number; compute: number;
}

async function main(): Promise<number> {
  requireCommands({ wrk: 'wrk', taskset: 'util-linux' });
  const pairs = Number(a.pairs);
  const seconds = Math.max(1, Math.round(Number(a['window-ms']) / 1000));
  const [serverCpus, clientCpus] = a.cpus!.split(':');
  if (!serverCpus || !clientCpus || !(pairs >= 1)) throw new Error('usage: --cpus SERVER_LIST:CLIENT_LIST (e.g. 0:1, 0-7:8-15), --pairs N ≥ 1');
  const nServer = cpuCount(serverCpus), nClient = cpuCount(clientCpus);
  const only = new Set((a.only ?? ['json,binary,latency']).flatMap((o) => o.split(',')));
  for (const o of only) if (!['json', 'binary', 'latency'].includes(o)) throw new Error(`--only takes json, binary or latency, got '${o}'`);
  const split = `server CPUs ${serverCpus}, client CPUs ${clientCpus}`;
  const fromDist = a.from !== 'src';
  if (fromDist && newestMtime('src') > newestMtime('dist/src')) console.log('!! src/ is newer than dist/: run `npm run build` (or pass --from src)');
  pinServersTo(serverCpus, clientCpus);

  const dir = mkdtempSync(join(tmpdir(), 'autoglm-request-path-'));
  const repo = join(dir, 'repo');
  const mlp3 = mlpLayersModel([512, 1024, 1024, 10]);
  const big = mlpModel(1024, 8192, 1024, 1).bytes;
  writeModel(repo, 'mlp3', mlp3, { config: pbtxt('mlp3', 64, 512, 10) });
  writeModel(repo, 'big', big, { config: pbtxt('big', 128, 1024, 1024) });
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const servers: ServerProcess[] = [];
  const inproc = InProcess.start(serverCpus, nServer);
  const report: Record<string, unknown> = { date: new Date().toISOString(), cpus: a.cpus, pairs, windowSec: seconds, from: fromDist ? 'dist' : 'src' };
  let errors = 0, closing = false;
  try {
    await inproc.ask({ op: 'load', name: 'mlp3', path: join(repo, 'mlp3', '1', 'model.onnx'), inDim: 512 });
    await inproc.ask({ op: 'load', name: 'big', path: join(repo, 'big', '1', 'model.onnx'), inDim: 1024 });
    const ag = await spawnAutoglmServe(repo, ['--metrics-port', String(metricsPort), ...a['serve-args']!.split(/\s+/).filter(Boolean)], { fromDist });
    servers.push(ag);
    let agErr = '';
    for (const out of [ag.child.stdout!, ag.child.stderr!]) out.on('data', (c: Buffer) => { agErr = (agErr + c.toString()).slice(-4000); });
    ag.child.once('exit', (code, signal) => { if (!closing) console.log(`!! autoglm serve exited (${code ?? signal}) during the run\n${agErr}`); });
    const naive = only.has('json') ? await spawnNaiveServer(join(repo, 'mlp3', '1', 'model.onnx'), 'mlp3', nServer) : undefined;
    if (naive) servers.push(naive);
    const agPid = ag.child.pid!;
    const infer = (s: ServerProcess, m: string) => `${s.url}/v2/models/${m}/infer`;
    console.log(`request-path: ${pairs} pairs of ${seconds} s windows; ${split}; in-process and server ONNX threads ${nServer}; wrk threads ${nClient}; autoglm from ${fromDist ? 'dist' : 'src'}`);

    // Request bodies, checked against session.run once on each server before any window.
    const xj = seededFloats(512, 1001, 1);
    const jsonBody = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512], data: Array.from(xj) }] }));
    const xb = seededFloats(1024, 1002, 1);
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1024], parameters: { binary_data_size: xb.byteLength } }],
      parameters: { binary_data_output: true } }));
    const binBody = Buffer.concat([head, Buffer.from(xb.buffer)]);
    const binHeaders = { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': head.length };
    const jsonScript = wrkScript(dir, 'json', jsonBody, { 'Content-Type': 'application/json' });
    const binScript = wrkScript(dir, 'binary', binBody, binHeaders);
    const post = (url: string, body: Buffer, headers: Record<string, string | number>) =>
      fetch(url, { method: 'POST', body: new Uint8Array(body), headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])) });
    if (only.has('json')) {
      const want = await inproc.ask<Float32Array>({ op: 'run', name: 'mlp3', x: xj, rows: 1 });
      check('Open-AutoGLM, JSON, mlp3', await outputOf(await post(infer(ag, 'mlp3'), jsonBody, { 'Content-Type': 'application/json' })), want);
      check('naive, JSON, mlp3', await outputOf(await post(infer(naive!, 'mlp3'), jsonBody, { 'Content-Type': 'application/json' })), want);
    }
    if (only.has('binary') || only.has('latency')) {
      const want = await inproc.ask<Float32Array>({ op: 'run', name: 'big', x: xb, rows: 1 });
      check('Open-AutoGLM, binary, big', await outputOf(await post(infer(ag, 'big'), binBody, binHeaders)), want);
    }
    const load = async (s: ServerProcess, m: string, script: string, c: number, sec = seconds) => {
      const r = await wrk(clientCpus, nClient, infer(s, m), script, c, sec, s.child.pid);
      errors += r.errors;
      return r;
    };
    /** An Open-AutoGLM window with the server's counters for `m` read before and after. */
    const agWindow = async (m: string, script: string, c: number) => {
      const m0 = await scrapeCounters(metricsUrl, m, '1');
      const w = await load(ag, m, script, c);
      const m1 = await scrapeCounters(metricsUrl, m, '1');
      if (!m0 || !m1) throw new Error(`no counters for model ${m} at ${metricsUrl}`);
      return { w, m0, m1, split: splitBetween(m0, m1)! };
    };
    const splitText = (s: { queueUs: number; computeInputUs: number; computeInferUs: number; computeOutputUs: number; meanBatch: number }) =>
      `queue ${f0(s.queueUs)}, compute input ${f0(s.computeInputUs)}, infer ${f0(s.computeInferUs)}, output ${f0(s.computeOutputUs)} µs/request; mean batch ${s.meanBatch.toFixed(1)}`;

    if (only.has('json')) {
      console.log(`\nfigure 1 — JSON, MLP 512→1024→1024→10, 1 row/request, 64 connections (warm-up 2 s each)`);
      await load(ag, 'mlp3', jsonScript, 64, 2);
      await load(naive!, 'mlp3', jsonScript, 64, 2);
      const rows: { ag: WrkResult; split: ServerSplit; nv: WrkResult }[] = [];
      for (let p = 0; p < pairs; p++) {
        const { w, split: s } = await agWindow('mlp3', jsonScript, 64);
        const r = { ag: w, split: s, nv: await load(naive!, 'mlp3', jsonScript, 64) };
        rows.push(r);
        console.log(`  pair ${p + 1}: Open-AutoGLM ${f0(r.ag.rps)} req/s (CPU main ${f0(r.ag.mainUs)} + other ${f0(r.ag.otherUs)} µs/req; ${splitText(s)}), `
          + `naive ${f0(r.nv.rps)} req/s (CPU main ${f0(r.nv.mainUs)} + other ${f0(r.nv.otherUs)} µs/req)`);
      }
      const ratios = rows.map((r) => r.ag.rps / r.nv.rps);
      const med = (f: (r: (typeof rows)[number]) => number) => median(rows.map(f));
      console.log(`1. JSON throughput, Open-AutoGLM ÷ naive: ${spread(ratios, x2, '×')}; Open-AutoGLM ${f0(med((r) => r.ag.rps))} req/s, naive ${f0(med((r) => r.nv.rps))} req/s `
        + `(medians); ${split}; target ≥ 2× (aim 3×): ${median(ratios) >= 2 ? 'met' : 'NOT met'}`);
      console.log(`   where a request's time goes (medians, CPU µs/request): Open-AutoGLM main thread ${f0(med((r) => r.ag.mainUs))}, other threads ${f0(med((r) => r.ag.otherUs))}; `
        + `naive main thread ${f0(med((r) => r.nv.mainUs))}, other threads ${f0(med((r) => r.nv.otherUs))}; Open-AutoGLM's metrics: `
        + splitText({ queueUs: med((r) => r.split.queueUs), computeInputUs: med((r) => r.split.computeInputUs), computeInferUs: med((r) => r.split.computeInferUs),
          computeOutputUs: med((r) => r.split.computeOutputUs), meanBatch: med((r) => r.split.meanBatch) }));
      report.json = { ratios, pairs: rows };
    }

    if (only.has('binary')) {
      console.log(`\nfigures 2 and 4 — binary, MLP 1024→8192→1024, 1 row/request, 128 connections vs in-process session.run (warm-up 2 s)`);
      await load(ag, 'big', binScript, 128, 2);
      const rows: BinaryPair[] = [];
      for (let p = 0; p < pairs; p++) {
        const { w, m0, m1, split: s } = await agWindow('big', binScript, 128);
        const d = (k: keyof ServerCounters) => m1[k] - m0[k];
        const batchUs = d('computeInferUs') / d('inferenceCount');
        const meanBatch = d('inferenceCount') / d('execCount');
        const sizes = [...new Set([32, 64, 128, Math.max(1, Math.round(meanBatch))])].sort((x, y) => x - y);
        const pts = await inproc.ask<RatePoint[]>({ op: 'rate', name: 'big', batches: sizes, ms: seconds * 1000 });
        const best = pts.filter((q) => [32, 64, 128].includes(q.batch)).reduce((x, y) => (y.rowsPerSec > x.rowsPerSec ? y : x));
        const atMean = pts.find((q) => q.batch === Math.max(1, Math.round(meanBatch)))!;
        const r: BinaryPair = { server: w, split: s, batchUs, meanBatch, inProcess: pts, best, ratio: w.rps / best.rowsPerSec, compute: batchUs / atMean.runUs };
        rows.push(r);
        console.log(`  pair ${p + 1}: Open-AutoGLM ${f0(w.rps)} rows/s; in-process ${pts.map((q) => `b${q.batch} ${f0(q.rowsPerSec)} rows/s (${(q.runUs / 1000).toFixed(2)} ms/run)`).join(', ')}`);
        console.log(`     server: ${splitText(s)}; compute ${(batchUs / 1000).toFixed(2)} ms/batch vs in-process b${atMean.batch} ${(atMean.runUs / 1000).toFixed(2)} ms; `
          + `CPU main thread ${f0(w.mainUs)} µs/req, other threads ${f0(w.otherUs)} µs/req`);
      }
      const med = (f: (r: BinaryPair) => number) => median(rows.map(f));
      const ratios = rows.map((r) => r.ratio), compute = rows.map((r) => r.compute);
      console.log(`2. binary throughput, Open-AutoGLM ÷ in-process best batch: ${spread(ratios, (v) => v.toFixed(3))}; Open-AutoGLM ${f0(med((r) => r.server.rps))} rows/s, `
        + `in-process ${f0(med((r) => r.best.rowsPerSec))} rows/s (medians; best batch ${rows.map((r) => r.best.batch).join('/')}); ${split}; `
        + `target ≥ 0.85: ${median(ratios) >= 0.85 ? 'met' : 'NOT met'}`);
      console.log(`   where a request's time goes (medians): ${splitText({ queueUs: med((r) => r.split.queueUs), computeInputUs: med((r) => r.split.computeInputUs),
        computeInferUs: med((r) => r.split.computeInferUs), computeOutputUs: med((r) => r.split.computeOutputUs), meanBatch: med((r) => r.meanBatch) })}; `
        + `server CPU main thread ${f0(med((r) => r.server.mainUs))}, other threads ${f0(med((r) => r.server.otherUs))} µs/request`);
      console.log(`4. compute per batch, server ÷ in-process at the mean batch: ${spread(compute, (v) => v.toFixed(3))}; server ${(med((r) => r.batchUs) / 1000).toFixed(2)} ms/batch `
        + `(medians); ${split}; target ≤ 1.05: ${median(compute) <= 1.05 ? 'met' : 'NOT met'}`);
      report.binary = { ratios, pairs: rows };
      report.compute = { ratios: compute };
    }

    if (only.has('latency')) {
      console.log(`\nfigure 3 — latency at 1 connection, binary, MLP 1024→8192→1024, vs in-process session.run batch 1 (warm-up 2 s)`);
      await load(ag, 'big', binScript, 1, 2);
      const rows = [];
      for (let p = 0; p < pairs; p++) {
        const { w, split: s } = await agWindow('big', binScript, 1);
        const ip = await inproc.ask<{ p50Us: number; runs: number }>({ op: 'latency', name: 'big', ms: seconds * 1000 });
        rows.push({ server: w, split: s, inProcess: ip, diffMs: (w.p50Us - ip.p50Us) / 1000 });
        console.log(`  pair ${p + 1}: Open-AutoGLM p50 ${(w.p50Us / 1000).toFixed(3)} ms (p99 ${(w.p99Us / 1000).toFixed(3)}, ${f0(w.rps)} req/s, `
          + `CPU main ${f0(w.mainUs)} + other ${f0(w.otherUs)} µs/req; ${splitText(s)}); in-process p50 ${(ip.p50Us / 1000).toFixed(3)} ms (${ip.runs} runs)`);
      }
      const diffs = rows.map((r) => r.diffMs);
      console.log(`3. c=1 latency, Open-AutoGLM p50 − in-process p50: ${spread(diffs, (v) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`, ' ms')}; Open-AutoGLM `
        + `${(median(rows.map((r) => r.server.p50Us)) / 1000).toFixed(3)} ms, in-process ${(median(rows.map((r) => r.inProcess.p50Us)) / 1000).toFixed(3)} ms (medians); `
        + `${split}; target ≤ +0.15 ms: ${median(diffs) <= 0.15 ? 'met' : 'NOT met'}`);
      report.latency = { diffsMs: diffs, pairs: rows };
    }
    if (errors > 0) console.log(`\n!! ${errors} non-2xx answers or socket errors in total (see above)`);
    if (a.json) writeFileSync(a.json, JSON.stringify({ ...report, errors }, null, 1));
  } finally {
    closing = true;
    inproc.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
  return errors > 0 ? 1 : 0;
}

if (a.child) await childMain();
else process.exitCode = await main();
