/**
 * gRPC against HTTP binary with C load clients on both sides (issue 11): h2load (nghttp2's HTTP/2 load generator,
 * Debian package nghttp2-client) for gRPC, wrk for HTTP/1.1 — so the comparison measures the server's two protocol
 * paths, not grpc-js's client (93–106 µs CPU per call) against wrk's. bench/grpc-vs-http.ts is the same comparison
 * with each protocol's usual Node client.
 *
 * One `autoglm serve` pinned to the server CPU(s) with HTTP and gRPC ports and the MLP 1024→8192→1024
 * (max_batch_size 128), as grpc-vs-http uses; the clients pinned to the client CPU(s). Alternating windows
 * (HTTP, gRPC, HTTP, gRPC, …), each after 1 s of unmeasured load; medians over the pairs with min–max:
 *
 *   1. throughput at 128 in flight, 1-row requests: gRPC (h2load) ÷ HTTP binary (wrk).                Target ≥ 1.0
 *   2. latency at 1 in flight: gRPC p50 − HTTP binary p50 (h2load's per-request log; wrk's --latency).  Target ≤ 0
 *   3. `autoglm bench -i grpc` at 128 in flight ÷ h2load at 128 in flight, throughput.           Target within ±10 %
 *
 * h2load: by default one connection carrying 128 streams (-c 1 -m 128), the way a gRPC client multiplexes calls over
 * one channel and the way the grpc-js client and `autoglm bench -i grpc` load the server in grpc-vs-http and figure 3
 * (so figure 3 compares like with like); `--h2load-conns 128` runs -c 128 -m 1 instead (one call per connection, the
 * shape of wrk's 128 HTTP/1.1 connections). It posts the gRPC-framed ModelInferRequest (5-byte prefix) from a file
 * with content-type application/grpc and te: trailers. h2load judges success by `:status 200` only, not by the
 * `grpc-status` trailer, so every measured gRPC window is checked against the server's statistics
 * (GET /v2/models/mlp/stats): success count delta == requests h2load completed, fail count delta 0. Measured
 * h2load windows are `-n N` (N from the warm-up's rate × the window), so every request sent is finished and counted.
 *
 *   flock /tmp/bench.lock node --import tsx bench/grpc-c-clients.ts [--pairs 3] [--window-ms 5000] [--cpus 0:1]
 *       [--h2load-conns 1|128] [--only throughput,latency,agreement] [--from src|dist]
 *
 * Each window also prints the server's CPU per request from /proc (main thread: protocol + scheduling; other
 * threads: the model's worker and ONNX Runtime), over the measured run only.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { encodeInferBody } from '../src/bench/request-body.js';
import { encodeGrpcInferRequest, frameGrpcMessage } from '../src/bench/grpc-messages.js';
import type { BenchReport } from '../src/bench/report.js';
import { mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { median, pbtxt, sleep } from './batching-common.js';
import { processCpu } from './baselines/cpu-time.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { cpuCount, wrk, wrkScript } from './baselines/wrk.js';

const run = promisify(execFile);
const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '5000' }, cpus: { type: 'string', default: '0:1' },
  'h2load-conns': { type: 'string', default: '1' }, only: { type: 'string', default: 'throughput,latency,agreement' },
  from: { type: 'string', default: 'src' },
} });

const CONC = 128;
const MODEL = 'mlp';
const f0 = (v: number) => v.toFixed(0);
const f3 = (v: number) => v.toFixed(3);
const spread = (xs: number[], f: (x: number) => string) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))}, ${xs.length} pairs)`;
// Copied from bench/grpc-vs-http.ts (not exported there): the p-th percentile of a sample.
const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

interface Win { rps: number; p50Us: number; p99Us: number; requests: number; mainUs: number; otherUs: number; note: string }

async function main(): Promise<number> {
  requireCommands({ wrk: 'wrk', h2load: 'nghttp2-client', taskset: 'util-linux' });
  const pairs = Number(a.pairs);
  const seconds = Math.max(1, Math.round(Number(a['window-ms']) / 1000));
  const [serverCpus, clientCpus] = a.cpus!.split(':');
  if (!serverCpus || !clientCpus || !(pairs >= 1)) throw new Error('usage: --cpus SERVER_LIST:CLIENT_LIST (e.g. 0:1), --pairs N ≥ 1');
  const h2Conns = Number(a['h2load-conns']);
  if (h2Conns !== 1 && h2Conns !== CONC) throw new Error(`--h2load-conns is 1 (-c 1 -m ${CONC}) or ${CONC} (-c ${CONC} -m 1)`);
  const only = new Set(a.only!.split(','));
  const split = `server CPUs ${serverCpus}, client CPUs ${clientCpus}`;
  pinServersTo(serverCpus, clientCpus);

  const dir = mkdtempSync(join(tmpdir(), 'autoglm-grpc-c-clients-'));
  const repo = join(dir, 'repo');
  writeModel(repo, MODEL, mlpModel(1024, 8192, 1024, 1).bytes, { config: pbtxt(MODEL, 128, 1024, 1024) });
  const server = await spawnAutoglmServe(repo, [], { fromDist: a.from === 'dist' });
  const pid = server.child.pid!;
  let errors = 0;
  try {
    if (!server.grpcTarget) throw new Error('autoglm serve did not report a gRPC port');
    const grpcTarget = server.grpcTarget;
    const grpcUrl = `http://${grpcTarget}/inference.GRPCInferenceService/ModelInfer`;
    console.log(`grpc-c-clients: ${pairs} pairs of ${seconds} s windows; ${split}; autoglm serve from ${a.from}; HTTP ${server.url}, gRPC ${grpcTarget}; ` +
      `h2load ${h2Conns === 1 ? `-c 1 -m ${CONC}` : `-c ${CONC} -m 1`} at ${CONC} in flight`);

    // The same 1-row input for both protocols (what grpc-vs-http's first request set is).
    const tensor = [{ name: 'input', datatype: 'FP32' as const, shape: [1, 1024], data: seededFloats(1024, 2000, 1) }];
    const httpBody = encodeInferBody(tensor, 'binary');
    const script = wrkScript(dir, 'binary', httpBody.body, httpBody.headers);
    const grpcFile = join(dir, 'infer.grpc');
    writeFileSync(grpcFile, frameGrpcMessage(encodeGrpcInferRequest(MODEL, '', tensor)));

    const stats = async (): Promise<{ ok: number; failed: number }> => {
      const res = await fetch(`${server.url}/v2/models/${MODEL}/stats`);
      const doc = await res.json() as { model_stats: { inference_stats: { success: { count: number }; fail: { count: number } } }[] };
      const s = doc.model_stats[0].inference_stats;
      return { ok: s.success.count, failed: s.fail.count };
    };
    /** The server's CPU per request over `measure` (which reports how many requests it completed). */
    const withCpu = async (measure: () => Promise<Omit<Win, 'mainUs' | 'otherUs'>>): Promise<Win> => {
      const c0 = processCpu(pid);
      const r = await measure();
      const c1 = processCpu(pid);
      return { ...r, mainUs: ((c1.mainSec - c0.mainSec) * 1e6) / r.requests, otherUs: ((c1.otherSec - c0.otherSec) * 1e6) / r.requests };
    };

    const httpWrk = async (c: number): Promise<Win> => {
      await wrk(clientCpus, cpuCount(clientCpus), `${server.url}/v2/models/${MODEL}/infer`, script, c, 1);
      return withCpu(async () => {
        const r = await wrk(clientCpus, cpuCount(clientCpus), `${server.url}/v2/models/${MODEL}/infer`, script, c, seconds);
        if (r.errors) errors++;
        return { rps: r.rps, p50Us: r.p50Us, p99Us: r.p99Us, requests: r.requests, note: r.errors ? `ERRORS ${r.errors}` : '' };
      });
    };

    /** h2load's flags for `c` calls in flight: one connection with c streams, or c connections (see the header). */
    const h2Shape = (c: number) => (c === 1 ? ['-c', '1', '-m', '1'] : h2Conns === 1 ? ['-c', '1', '-m', String(c)] : ['-c', String(c), '-m', '1']);
    const h2load = async (c: number, volume: string[], logFile?: string) => {
      const { stdout } = await run('taskset', ['-c', clientCpus, 'h2load', ...h2Shape(c), '-t', '1', ...volume, '-d', grpcFile,
        '-H', 'content-type: application/grpc', '-H', 'te: trailers', ...(logFile ? ['--log-file', logFile] : []), grpcUrl], { maxBuffer: 1 << 20 });
      const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
      const fin = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(stdout);
      if (!m || !fin) throw new Error(`h2load: unexpected output:\n${stdout}`);
      const sec = Number(fin[1]) / ({ us: 1e6, ms: 1e3, s: 1 } as Record<string, number>)[fin[2]];
      return { done: Number(m[3]), succeeded: Number(m[4]), failed: Number(m[5]) + Number(m[6]) + Number(m[7]), sec, rps: Number(fin[3]) };
    };
    let windowId = 0;
    /** A gRPC window: 1 s of unmeasured load (its rate sizes the window), then -n N with the statistics checked. */
    const grpcH2load = async (c: number, windowSec = seconds): Promise<Win> => {
      const warm = await h2load(c, ['-D', '1']);
      await sleep(200); // the warm-up's last calls in flight finish before the statistics are read
      const n = Math.max(c, Math.round(warm.rps * windowSec));
      const log = join(dir, `h2load-${++windowId}.log`); // a fresh file: h2load appends to an existing one
      const s0 = await stats();
      const w = await withCpu(async () => {
        const r = await h2load(c, ['-n', String(n)], log);
        const lat = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t'))
          .filter((f) => f[1] === '200').map((f) => Number(f[2]));
        rmSync(log);
        return { rps: r.succeeded / r.sec, p50Us: pct(lat, 50), p99Us: pct(lat, 99), requests: r.succeeded, note: r.failed ? `h2load ${r.failed} failed` : '' };
      });
      const s1 = await stats();
      const ok = s1.ok - s0.ok;
      const failed = s1.failed - s0.failed;
      const agrees = ok === w.requests && failed === 0 && w.requests === n;
      if (!agrees) errors++;
      return { ...w, note: `${w.note}${w.note ? '; ' : ''}stats: success +${ok}, fail +${failed} vs h2load ${w.requests}/${n} ${agrees ? 'ok' : 'MISMATCH'}` };
    };
    const show = (w: Win) => `${f0(w.rps)} req/s, p50 ${f3(w.p50Us / 1000)} ms, p99 ${f3(w.p99Us / 1000)} ms; server CPU main ${f0(w.mainUs)} + ` +
      `other ${f0(w.otherUs)} µs/req${w.note ? `; ${w.note}` : ''}`;
    const alternate = async (label: string, httpRun: () => Promise<Win>, grpcRun: () => Promise<Win>) => {
      console.log(`\n${label}`);
      const rows: { http: Win; grpc: Win }[] = [];
      for (let p = 0; p < pairs; p++) {
        const http = await httpRun();
        const grpc = await grpcRun();
        rows.push({ http, grpc });
        console.log(`  pair ${p + 1}: HTTP (wrk)    ${show(http)}\n          gRPC (h2load) ${show(grpc)}`);
      }
      return rows;
    };
    const mainThread = (rows: { http: Win; grpc: Win }[]) =>
      `server main thread ${f0(median(rows.map((r) => r.http.mainUs)))} (HTTP) vs ${f0(median(rows.map((r) => r.grpc.mainUs)))} (gRPC) µs/req`;

    if (only.has('throughput')) {
      const rows = await alternate(`figure 1 — throughput, ${CONC} in flight, 1 row/request (HTTP: wrk -c ${CONC}; gRPC: h2load ${h2Shape(CONC).join(' ')})`,
        () => httpWrk(CONC), () => grpcH2load(CONC));
      const ratios = rows.map((r) => r.grpc.rps / r.http.rps);
      console.log(`1. throughput gRPC (h2load) ÷ HTTP binary (wrk) at c=${CONC}: ${spread(ratios, f3)}; HTTP ${f0(median(rows.map((r) => r.http.rps)))}, ` +
        `gRPC ${f0(median(rows.map((r) => r.grpc.rps)))} req/s (medians); ${mainThread(rows)}; ${split}; target ≥ 1.0: ${median(ratios) >= 1 ? 'met' : 'NOT met'}`);
    }

    if (only.has('latency')) {
      const rows = await alternate('figure 2 — latency at 1 in flight (HTTP: wrk -c 1; gRPC: h2load -c 1 -m 1, p50/p99 from its --log-file)',
        () => httpWrk(1), () => grpcH2load(1));
      const diffs = rows.map((r) => (r.grpc.p50Us - r.http.p50Us) / 1000);
      console.log(`2. c=1 p50, gRPC (h2load) − HTTP binary (wrk): ${spread(diffs, (v) => `${v >= 0 ? '+' : ''}${v.toFixed(3)} ms`)}; HTTP ` +
        `${f3(median(rows.map((r) => r.http.p50Us)) / 1000)} ms, gRPC ${f3(median(rows.map((r) => r.grpc.p50Us)) / 1000)} ms (medians); ` +
        `${mainThread(rows)}; ${split}; target ≤ 0: ${median(diffs) <= 0 ? 'met' : 'NOT met'}`);
    }

    if (only.has('agreement')) {
      console.log(`\nfigure 3 — autoglm bench -i grpc (3 windows of ${seconds} s) ÷ h2load (one ${3 * seconds} s window), ${CONC} in flight, alternating`);
      // As bench/grpc-vs-http.ts runs the CLI (copied: not exported there).
      const cli = async (): Promise<number> => {
        const out = join(dir, 'bench.json');
        const args = ['--import', 'tsx', 'src/cli/main.ts', 'bench', '-i', 'grpc', '-m', MODEL, '-u', grpcTarget, '--concurrency-range', String(CONC),
          '-p', String(seconds * 1000), '-r', '3', '--warmup', '1000', '--json', out, '--cpus', clientCpus];
        const child = spawn(process.execPath, args, { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
        const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
        if (code !== 0) throw new Error(`autoglm bench -i grpc exited ${code}: ${stderr}`);
        const step = (JSON.parse(readFileSync(out, 'utf8')) as BenchReport).steps[0];
        if (step.errorCount > 0) errors++;
        console.log(`  autoglm bench -i grpc: ${f0(step.throughput)} req/s over ${step.windows} windows, p50 ${f3(step.latency.p50Us / 1000)} ms, ` +
          `${step.answersChecked} answers checked, errors ${JSON.stringify(step.errors)}`);
        return step.throughput;
      };
      const ratios: number[] = [];
      for (let p = 0; p < pairs; p++) {
        const bench = await cli();
        const h = await grpcH2load(CONC, 3 * seconds);
        console.log(`  h2load ${h2Shape(CONC).join(' ')}: ${show(h)}`);
        ratios.push(bench / h.rps);
      }
      console.log(`3. autoglm bench -i grpc ÷ h2load at c=${CONC}: ${spread(ratios, f3)}; ${split}; target within ±10 %: ` +
        `${ratios.every((r) => Math.abs(r - 1) <= 0.1) ? 'met (every pair)' : Math.abs(median(ratios) - 1) <= 0.1 ? 'met (median)' : 'NOT met'}`);
    }
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (errors > 0) console.log(`\n!! errors or statistics mismatches in ${errors} window(s) (see above)`);
  return errors > 0 ? 1 : 0;
}

process.exitCode = await main();
