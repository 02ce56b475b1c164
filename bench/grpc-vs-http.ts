/**
 * gRPC against HTTP binary on the same server (issue 11). `autoglm serve` on the server CPUs with the MLP
 * 1024→8192→1024 (max_batch_size 128), HTTP and gRPC frontends in the same process; the load clients on the client
 * CPUs. Figures, each the median over ≥ 3 alternating pairs of windows (HTTP, gRPC, HTTP, gRPC, …; every window
 * starts with 1 s of unmeasured load) with its min–max:
 *
 *   1. throughput at 128 requests in flight, 1-row requests: gRPC rows/s ÷ HTTP binary rows/s.        Target ≥ 1.0
 *      HTTP binary: wrk (a Lua script posting the binary-extension body, binary output); gRPC: the minimal grpc-js
 *      client (bench/baselines/grpc-load-client.ts), one channel (HTTP/2 connection) unless --channels.
 *   2. latency at 1 request in flight: gRPC p50 vs HTTP binary p50 (and p99), each from every request of its window.
 *      Two client pairs: wrk vs the grpc-js client (each protocol's usual tool), and the two minimal clients of
 *      `autoglm bench` (src/bench/http1-connection.ts vs src/bench/grpc-connection.ts: same language, same care).
 *                                                                                             Target gRPC ≤ HTTP
 *   3. with --agreement: `autoglm bench -i grpc` (the CLI, pinned to the client CPUs, 3 windows) ÷ the grpc-js client
 *      over a window of the same length, alternating, at 128 in flight.                           Target within ±10 %
 *
 * Each window also prints the server's CPU per request (main thread: protocol + scheduling; other threads: the
 * model's worker and ONNX Runtime) from /proc. Answers are checked before the windows: one request over each
 * protocol against in-process `session.run` on the client side.
 *
 *   flock /tmp/bench.lock node --import tsx bench/grpc-vs-http.ts [--pairs 3] [--window-ms 5000] [--cpus 0:1]
 *       [--only throughput,latency] [--agreement] [--channels 1] [--grpc-client grpc-js|engine]
 *       [--batching adaptive|static] [--grpc-server autoglm|grpc-js] [--from src|dist] [--json FILE]
 *
 * --grpc-server grpc-js measures the rejected stack instead (bench/baselines/grpc-js-server.ts: grpc-js's server over
 * the same codec and server core) — the figures behind docs/grpc.md's choice of a transport of its own.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ClosedLoopDriver } from '../src/bench/load-driver.js';
import { MeasurementWindow } from '../src/bench/measurement-window.js';
import { encodeInferBody, encodeInferRequest } from '../src/bench/request-body.js';
import { grpcConnectionFactory } from '../src/bench/grpc-connection.js';
import { decodeGrpcInferResponse, encodeGrpcInferRequest, frameGrpcMessage } from '../src/bench/grpc-messages.js';
import { targetOf } from '../src/bench/run-bench.js';
import { scrapeCounters, splitBetween } from '../src/bench/server-metrics.js';
import type { BenchReport } from '../src/bench/report.js';
import { mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { median, pbtxt, sleep } from './batching-common.js';
import { processCpu } from './baselines/cpu-time.js';
import { GrpcLoadClient } from './baselines/grpc-load-client.js';
import { pinServersTo, requireCommands, spawnAutoglmServe, spawnGrpcJsServer } from './baselines/processes.js';
import { cpuCount, wrk, wrkScript } from './baselines/wrk.js';

process.env.ORT_DISABLE_TELEMETRY = '1';
const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '5000' }, cpus: { type: 'string', default: '0:1' },
  only: { type: 'string', default: 'throughput,latency' }, agreement: { type: 'boolean', default: false },
  channels: { type: 'string', default: '1' }, concurrency: { type: 'string', default: '128' }, from: { type: 'string', default: 'src' },
  'grpc-client': { type: 'string', default: 'grpc-js' }, batching: { type: 'string', default: 'adaptive' },
  'grpc-server': { type: 'string', default: 'autoglm' },
  json: { type: 'string' },
} });

const f0 = (v: number) => v.toFixed(0);
const f3 = (v: number) => v.toFixed(3);
const spread = (xs: number[], f: (x: number) => string) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))}, ${xs.length} pairs)`;
const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

interface Win { rps: number; p50Us: number; p99Us: number; mainUs: number; otherUs: number; errors: string; busy: number; meanBatch: number; clientUs?: number }

async function main(): Promise<number> {
  requireCommands({ wrk: 'wrk', taskset: 'util-linux' });
  const pairs = Number(a.pairs);
  const windowMs = Number(a['window-ms']);
  const seconds = Math.max(1, Math.round(windowMs / 1000));
  const conc = Number(a.concurrency);
  const channels = Number(a.channels);
  const [serverCpus, clientCpus] = a.cpus!.split(':');
  if (!serverCpus || !clientCpus || !(pairs >= 1)) throw new Error('usage: --cpus SERVER_LIST:CLIENT_LIST (e.g. 0:1), --pairs N ≥ 1');
  const only = new Set(a.only!.split(','));
  const split = `server CPUs ${serverCpus}, client CPUs ${clientCpus}`;
  pinServersTo(serverCpus, clientCpus);

  const dir = mkdtempSync(join(tmpdir(), 'autoglm-grpc-vs-http-'));
  const repo = join(dir, 'repo');
  // --batching static: Triton's static batcher (batches of 128, waiting up to 10 ms), the same for both protocols,
  // so the figure isolates what the protocol costs from how arrivals shape adaptive batches.
  const staticBatching = a.batching === 'static' ? 'dynamic_batching { preferred_batch_size: [ 128 ] max_queue_delay_microseconds: 10000 }' : '';
  if (a.batching !== 'static' && a.batching !== 'adaptive') throw new Error(`--batching is adaptive or static, got '${a.batching}'`);
  writeModel(repo, 'big', mlpModel(1024, 8192, 1024, 1).bytes, { config: pbtxt('big', 128, 1024, 1024, staticBatching) });
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  // --grpc-server grpc-js: the rejected stack (grpc-js's server, same codec and server core), for the record of the
  // choice; it has no metrics port, so its windows show no mean batch.
  if (a['grpc-server'] !== 'autoglm' && a['grpc-server'] !== 'grpc-js') throw new Error(`--grpc-server is autoglm or grpc-js, got '${a['grpc-server']}'`);
  const server = a['grpc-server'] === 'grpc-js'
    ? await spawnGrpcJsServer(repo)
    : await spawnAutoglmServe(repo, ['--metrics-port', String(metricsPort)], { fromDist: a.from === 'dist' });
  const pid = server.child.pid!;
  const report: Record<string, unknown> = { date: new Date().toISOString(), cpus: a.cpus, pairs, windowMs, concurrency: conc, channels };
  let errors = 0;
  try {
    if (!server.grpcTarget) throw new Error('autoglm serve did not report a gRPC port');
    const grpcTarget = server.grpcTarget;
    console.log(`grpc-vs-http: ${pairs} pairs of ${seconds} s windows; ${split}; ${a['grpc-server'] === 'grpc-js' ? 'grpc-js server baseline' : `autoglm serve from ${a.from}`}, ` +
      `${a.batching} batching; HTTP ${server.url}, gRPC ${grpcTarget}`);

    // One request body per protocol, the same 8 input sets; answers checked against session.run here.
    const xs = Array.from({ length: 8 }, (_, i) => seededFloats(1024, 2000 + i, 1));
    const tensors = xs.map((x) => [{ name: 'input', datatype: 'FP32' as const, shape: [1, 1024], data: x }]);
    const httpBodies = tensors.map((t) => encodeInferBody(t, 'binary'));
    const httpRequests = httpBodies.map((b) => encodeInferRequest(server.url, '/v2/models/big/infer', b));
    const grpcMessages = tensors.map((t) => encodeGrpcInferRequest('big', '', t));
    const grpcFramed = grpcMessages.map(frameGrpcMessage);
    const session = await ort.InferenceSession.create(join(repo, 'big', '1', 'model.onnx'), { intraOpNumThreads: 1 });
    const want = (await session.run({ input: new ort.Tensor('float32', xs[0], [1, 1024]) })).output.data as Float32Array;
    const check = (what: string, got: ArrayLike<number>) => {
      const scale = Math.max(...Array.from(want, Math.abs));
      const bad = got.length !== want.length ? 0 : Array.from(want).findIndex((w, i) => !(Math.abs(got[i] - w) <= 1e-3 * scale));
      if (bad >= 0) throw new Error(`WRONG ANSWER over ${what}: ${got.length} values, first bad index ${bad}`);
      console.log(`answer check ${what}: ${got.length} values within 1e-3 × max|y| of session.run`);
    };
    {
      const res = await fetch(`${server.url}/v2/models/big/infer`, { method: 'POST', body: new Uint8Array(httpBodies[0].body),
        headers: Object.fromEntries(Object.entries(httpBodies[0].headers).map(([k, v]) => [k, String(v)])) });
      const buf = Buffer.from(await res.arrayBuffer());
      const hl = Number(res.headers.get('inference-header-content-length'));
      check('HTTP binary', new Float32Array(buf.buffer.slice(buf.byteOffset + hl, buf.byteOffset + buf.length)));
      const probe = new GrpcLoadClient(grpcTarget, [grpcMessages[0]], 1);
      await probe.ready();
      probe.start(1);
      await sleep(200);
      await probe.stop();
      const sample = probe.window(performance.now()).sample;
      probe.close();
      if (!sample) throw new Error('no gRPC answer');
      check('gRPC', decodeGrpcInferResponse(sample).get('output')!.values as number[]);
    }

    const script = wrkScript(dir, 'binary', httpBodies[0].body, httpBodies[0].headers);
    /**
     * A window's figures plus the server's side: CPU per request (main thread, other threads), how busy its CPUs were,
     * and the mean batch it executed. The CPU and metrics deltas span the whole run, warm-up second included; the
     * per-request figures divide by the requests counted in the window, so they read ~1/6 high at 5 s windows —
     * the same for both protocols.
     */
    const cpuWindow = async (run: () => Promise<{ rps: number; p50Us: number; p99Us: number; requests: number; errors: string; clientUs?: number }>): Promise<Win> => {
      const m0 = await scrapeCounters(metricsUrl, 'big', '1');
      const c0 = processCpu(pid);
      const t0 = performance.now();
      const r = await run();
      const c1 = processCpu(pid);
      const sec = (performance.now() - t0) / 1000;
      const m1 = await scrapeCounters(metricsUrl, 'big', '1');
      const split = m0 && m1 ? splitBetween(m0, m1) : undefined;
      return {
        ...r, mainUs: ((c1.mainSec - c0.mainSec) * 1e6) / r.requests, otherUs: ((c1.otherSec - c0.otherSec) * 1e6) / r.requests,
        busy: (c1.mainSec - c0.mainSec + c1.otherSec - c0.otherSec) / sec / cpuCount(serverCpus), meanBatch: split?.meanBatch ?? NaN,
      };
    };
    const httpWrk = (c: number) => cpuWindow(async () => {
      await wrk(clientCpus, cpuCount(clientCpus), `${server.url}/v2/models/big/infer`, script, c, 1);
      const r = await wrk(clientCpus, cpuCount(clientCpus), `${server.url}/v2/models/big/infer`, script, c, seconds);
      errors += r.errors;
      return { rps: r.rps, p50Us: r.p50Us, p99Us: r.p99Us, requests: r.requests, errors: r.errors ? `${r.errors} errors` : '' };
    });
    const grpcJs = (c: number) => cpuWindow(async () => {
      const client = new GrpcLoadClient(grpcTarget, grpcMessages, channels);
      await client.ready();
      client.start(c);
      await sleep(1000);
      const t0 = client.resetWindow();
      const u0 = process.cpuUsage();
      await sleep(seconds * 1000);
      const u1 = process.cpuUsage(u0);
      const w = client.window(t0);
      await client.stop();
      client.close();
      const errs = Object.entries(w.errors).map(([k, v]) => `${k}:${v}`).join(' ');
      if (errs) errors++;
      return { rps: w.ok / w.seconds, p50Us: pct(w.latenciesUs, 50), p99Us: pct(w.latenciesUs, 99), requests: w.ok, errors: errs, clientUs: (u1.user + u1.system) / w.ok };
    });
    /** A window of autoglm bench's own engine: HTTP/1.1 or gRPC connections, `c` in flight. */
    const engine = (protocol: 'http' | 'grpc', c: number) => cpuWindow(async () => {
      const driver = protocol === 'http'
        ? new ClosedLoopDriver(targetOf(server.url), httpRequests, c)
        : new ClosedLoopDriver(grpcConnectionFactory(targetOf(`http://${grpcTarget}`), '/inference.GRPCInferenceService/ModelInfer', channels), grpcFramed, c);
      await sleep(1000);
      const w = new MeasurementWindow(undefined);
      driver.sink = w;
      const u0 = process.cpuUsage();
      await sleep(seconds * 1000);
      const u1 = process.cpuUsage(u0);
      w.close();
      await driver.stop(5000);
      const s = w.latency.summary();
      w.latency.destroy();
      const errs = [...w.errors].map(([k, v]) => `${k}:${v}`).join(' ');
      if (errs) errors++;
      return { rps: w.throughput, p50Us: s.p50Us, p99Us: s.p99Us, requests: w.ok, errors: errs, clientUs: (u1.user + u1.system) / w.ok };
    });
    const show = (w: Win) => `${f0(w.rps)} req/s, p50 ${f3(w.p50Us / 1000)} ms, p99 ${f3(w.p99Us / 1000)} ms; server CPU main ${f0(w.mainUs)} + other ${f0(w.otherUs)} µs/req, ` +
      `${(100 * w.busy).toFixed(0)} % busy, mean batch ${w.meanBatch.toFixed(1)}${w.clientUs !== undefined ? `; client ${f0(w.clientUs)} µs CPU/req` : ''}${w.errors ? `; ERRORS ${w.errors}` : ''}`;
    const grpcLoad = (c: number) => (a['grpc-client'] === 'engine' ? engine('grpc', c) : grpcJs(c));
    const grpcLabel = a['grpc-client'] === 'engine' ? 'autoglm bench\'s node:http2 client' : 'grpc-js client';

    if (only.has('throughput')) {
      console.log(`\nfigure 1 — throughput, ${conc} requests in flight, 1 row/request (HTTP: wrk; gRPC: ${grpcLabel}, ${channels} channel(s))`);
      await httpWrk(conc);
      await grpcLoad(conc);
      const rows: { http: Win; grpc: Win }[] = [];
      for (let p = 0; p < pairs; p++) {
        const http = await httpWrk(conc);
        const grpc = await grpcLoad(conc);
        rows.push({ http, grpc });
        console.log(`  pair ${p + 1}: HTTP ${show(http)}\n          gRPC ${show(grpc)}`);
      }
      const ratios = rows.map((r) => r.grpc.rps / r.http.rps);
      console.log(`1. throughput gRPC ÷ HTTP binary at c=${conc}: ${spread(ratios, f3)}; HTTP ${f0(median(rows.map((r) => r.http.rps)))} req/s, gRPC ` +
        `${f0(median(rows.map((r) => r.grpc.rps)))} req/s (medians); server main thread ${f0(median(rows.map((r) => r.http.mainUs)))} vs ` +
        `${f0(median(rows.map((r) => r.grpc.mainUs)))} µs/req; ${split}; target ≥ 1.0: ${median(ratios) >= 1 ? 'met' : 'NOT met'}`);
      report.throughput = { ratios, rows };
    }

    if (only.has('latency')) {
      for (const [label, httpRun, grpcRun] of [
        ['wrk vs grpc-js', () => httpWrk(1), () => grpcJs(1)],
        ['autoglm bench engine, HTTP/1.1 vs HTTP/2 gRPC', () => engine('http', 1), () => engine('grpc', 1)],
      ] as const) {
        console.log(`\nfigure 2 — latency at 1 request in flight (${label})`);
        await httpRun();
        await grpcRun();
        const rows: { http: Win; grpc: Win }[] = [];
        for (let p = 0; p < pairs; p++) {
          const http = await httpRun();
          const grpc = await grpcRun();
          rows.push({ http, grpc });
          console.log(`  pair ${p + 1}: HTTP ${show(http)}\n          gRPC ${show(grpc)}`);
        }
        const diffs = rows.map((r) => (r.grpc.p50Us - r.http.p50Us) / 1000);
        const ratios = rows.map((r) => r.grpc.p50Us / r.http.p50Us);
        console.log(`2. c=1 p50, gRPC − HTTP binary (${label}): ${spread(diffs, (v) => `${v >= 0 ? '+' : ''}${v.toFixed(3)} ms`)}; gRPC ÷ HTTP ${spread(ratios, f3)}; ` +
          `HTTP ${f3(median(rows.map((r) => r.http.p50Us)) / 1000)} ms, gRPC ${f3(median(rows.map((r) => r.grpc.p50Us)) / 1000)} ms (medians); ${split}; ` +
          `target gRPC ≤ HTTP: ${median(diffs) <= 0 ? 'met' : 'NOT met'}`);
        report[`latency ${label}`] = { diffsMs: diffs, ratios, rows };
      }
    }

    if (a.agreement) {
      console.log(`\nfigure 3 — autoglm bench -i grpc ÷ the grpc-js client at c=${conc} (3 windows of ${seconds} s each, alternating)`);
      const cli = async (): Promise<number> => {
        const out = join(dir, 'bench.json');
        const args = ['--import', 'tsx', 'src/cli/main.ts', 'bench', '-i', 'grpc', '-m', 'big', '-u', grpcTarget, '--concurrency-range', String(conc),
          '-p', String(seconds * 1000), '-r', '3', '--warmup', '1000', '--json', out, '--cpus', clientCpus];
        const child = spawn(process.execPath, args, { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
        const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
        if (code !== 0) throw new Error(`autoglm bench -i grpc exited ${code}: ${stderr}`);
        const rep = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
        const step = rep.steps[0];
        if (step.errorCount > 0) errors++;
        console.log(`  autoglm bench -i grpc: ${f0(step.throughput)} req/s over ${step.windows} windows, p50 ${f3(step.latency.p50Us / 1000)} ms, ` +
          `${step.answersChecked} answers checked, errors ${JSON.stringify(step.errors)}`);
        return step.throughput;
      };
      const long = async () => {
        const client = new GrpcLoadClient(grpcTarget, grpcMessages, 1);
        await client.ready();
        client.start(conc);
        await sleep(1000);
        const t0 = client.resetWindow();
        await sleep(3 * seconds * 1000);
        const w = client.window(t0);
        await client.stop();
        client.close();
        console.log(`  grpc-js client: ${f0(w.ok / w.seconds)} req/s over ${3 * seconds} s`);
        return w.ok / w.seconds;
      };
      const ratios: number[] = [];
      for (let p = 0; p < pairs; p++) ratios.push((await cli()) / (await long()));
      console.log(`3. autoglm bench -i grpc ÷ grpc-js client at c=${conc}: ${spread(ratios, f3)}; ${split}; target within ±10 %: ` +
        `${ratios.every((r) => Math.abs(r - 1) <= 0.1) ? 'met (every pair)' : Math.abs(median(ratios) - 1) <= 0.1 ? 'met (median)' : 'NOT met'}`);
      report.agreement = { ratios };
    }
    if (a.json) writeFileSync(a.json, JSON.stringify({ ...report, errors }, null, 1));
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (errors > 0) console.log(`\n!! errors in ${errors} window(s) (see above)`);
  return errors > 0 ? 1 : 0;
}

process.exitCode = await main();
