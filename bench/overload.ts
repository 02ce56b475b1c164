/**
 * Issue 10's overload figures, measured from outside: the server pinned to the server CPUs (default CPU 0), this
 * process — an open-loop Poisson client — pinned to the client CPUs (default CPU 1). 1-row requests to the MLP
 * 1024→8192→1024 (adaptive batching, up to 128 rows), 20 % priority 1 and 80 % priority 2.
 *
 * 1. deadlines: offered 1.5× and 3× the model's capacity; priority 2 carries `timeout` (40 ms), priority 1 none.
 *    Figures: answers later than their deadline (from send; target 0), high-priority p99 ÷ its p99 alone at the same
 *    rate (target ≤ 2), goodput — answers in time per second ÷ capacity (target ≥ 0.9).
 * 2. slo: the same offered loads, no timeouts, the model declares a latency target: p99 of admitted (answered)
 *    requests ÷ the target (target ≤ 1.2), and what was shed by priority.
 * 3. refusal: main-thread CPU µs per refused request ÷ per served request, at the same request rate (target ≤ 0.1).
 *    Refused requests are priority-2 requests whose `timeout` (1 µs) no prediction can meet. Beside it, the same rate
 *    to the bare node:http floor server: no refusal over node:http costs less.
 * 4. rss: 3× overload (as in 1) for --soak-s seconds: the server's RSS each second (VmRSS), and that it still answers.
 *
 *   node --import tsx bench/overload.ts [--cpus 0:1] [--only deadlines|slo|refusal] [--window-ms 4000] [--pairs 3]
 *     [--encoding binary|json] [--timeout-ms 40] [--target-ms 100] [--loads 1.5,3] [--soak-s 60]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mlpModel, seededFloats } from '../test/fixtures/models.js';
import { OpenLoopDriver } from '../src/bench/load-driver.js';
import { LatencyHistogram } from '../src/bench/latency-histogram.js';
import type { CompletionSink } from '../src/bench/measurement-window.js';
import { encodeRequest, type HttpResult } from '../src/bench/http1-connection.js';
import { targetOf } from '../src/bench/run-bench.js';
import { pinServersTo, requireCommands, spawnAutoglmServe, spawnFloorServer, type ServerProcess } from './baselines/processes.js';
import { processCpu } from './baselines/cpu-time.js';
import { scrapeCounters } from '../src/bench/server-metrics.js';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { AnswerCheck, closedLoop, expectedOutputs, fmtRatio, makeRepo, pbtxt, policyParam, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' }, only: { type: 'string' }, 'window-ms': { type: 'string', default: '4000' },
  pairs: { type: 'string', default: '3' }, encoding: { type: 'string', default: 'binary' },
  'timeout-ms': { type: 'string', default: '40' }, 'target-ms': { type: 'string', default: '100' },
  loads: { type: 'string', default: '1.5,3' }, 'soak-s': { type: 'string', default: '60' }, 'high-share': { type: 'string', default: '0.2' },
} });
const [SERVER_CPUS, CLIENT_CPUS] = a.cpus!.split(':');
const MS = Number(a['window-ms']), PAIRS = Number(a.pairs), TIMEOUT_MS = Number(a['timeout-ms']), TARGET_MS = Number(a['target-ms']);
const LOADS = a.loads!.split(',').map(Number);
const JSON_BODIES = a.encoding === 'json';
const IN = 1024, HID = 8192, OUT = 1024;
const HIGH_SHARE = Number(a['high-share']);

requireCommands({ taskset: 'util-linux' });
pinServersTo(SERVER_CPUS, CLIENT_CPUS);

const queuePolicy = `dynamic_batching {
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 0 allow_timeout_override: true max_queue_size: 0 }
}`;
const { bytes } = mlpModel(IN, HID, OUT, 1);
const repo = makeRepo(bytes, {
  mlp: pbtxt('mlp', 128, IN, OUT, `${queuePolicy}\n${policyParam('adaptive')}`),
  mlp_slo: pbtxt('mlp_slo', 128, IN, OUT, `${queuePolicy}\n${policyParam('adaptive')}
parameters { key: "latency_target_us" value { string_value: "${TARGET_MS * 1000}" } }`),
});

/** Pre-encoded 1-row requests (binary or JSON), `sets` distinct inputs. */
function requests(url: string, model: string, sets: number, parameters: Record<string, number>): { bodies: Buffer[]; inputs: Float32Array[] } {
  const u = new URL(url);
  const bodies: Buffer[] = [];
  const inputs: Float32Array[] = [];
  for (let s = 0; s < sets; s++) {
    const x = seededFloats(IN, 1000 + s, 1);
    inputs.push(x);
    const path = `/v2/models/${model}/infer`;
    if (JSON_BODIES) {
      // Parameters first, as Triton's client writes them.
      const body = Buffer.from(JSON.stringify({
        parameters, inputs: [{ name: 'input', shape: [1, IN], datatype: 'FP32', data: Array.from(x) }], outputs: [{ name: 'output' }],
      }));
      bodies.push(encodeRequest('POST', u.host, path, { 'Content-Type': 'application/json' }, body));
    } else {
      const header = Buffer.from(JSON.stringify({
        parameters, inputs: [{ name: 'input', shape: [1, IN], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
        outputs: [{ name: 'output', parameters: { binary_data: true } }],
      }));
      bodies.push(encodeRequest('POST', u.host, path,
        { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
        Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)])));
    }
  }
  return { bodies, inputs };
}

/** One priority class's outcome in a window, timed from when the client sent each request. */
class ClassTally implements CompletionSink {
  readonly latency = new LatencyHistogram();
  ok = 0;
  inTime = 0;
  late = 0;
  readonly refused = new Map<number, number>();
  active = false;
  constructor(private readonly deadlineUs: number) {}
  complete(_set: number, latencyUs: number, result: HttpResult, sendLagUs: number): void {
    if (!this.active) return;
    const fromSend = latencyUs - sendLagUs;
    if (result.status === 200) {
      this.ok++;
      this.latency.record(fromSend);
      if (fromSend <= this.deadlineUs) this.inTime++;
      else this.late++;
    } else {
      this.refused.set(result.status, (this.refused.get(result.status) ?? 0) + 1);
    }
  }
  get refusedText(): string {
    return [...this.refused].map(([k, v]) => `${k}:${v}`).join(' ') || 'none';
  }
}

interface Stream { tally: ClassTally; stop(): Promise<void> }

function stream(server: ServerProcess, bodies: Buffer[], expected: Float32Array[], rate: number, deadlineUs: number, wrong: { n: number }): Stream {
  const driver = new OpenLoopDriver(targetOf(server.url), bodies, rate, 'poisson', 2048);
  const tally = new ClassTally(deadlineUs);
  const check = new AnswerCheck(tally, expected, 32);
  driver.sink = check;
  return { tally, async stop() { await driver.stop(5000); wrong.n += check.wrong; } };
}

/** Cumulative batch-size histogram buckets (le = 1, 2, 4, … 128) of a model. */
async function batchHistogram(model: string): Promise<number[]> {
  const text = await (await fetch(metricsUrl)).text();
  return [1, 2, 4, 8, 16, 32, 64, 128].map((le) =>
    Number(new RegExp(`^autoglm_batch_size_bucket\\{model="${model}",version="1",le="${le}"\\} (\\S+)`, 'm').exec(text)?.[1] ?? 0));
}

/** Runs the streams for a warm-up second, then a window; returns their tallies. Prints the server's side of it. */
async function window(make: () => Stream[], model = 'mlp'): Promise<ClassTally[]> {
  const streams = make();
  await sleep(1000);
  const m0 = await scrapeCounters(metricsUrl, model, '1');
  const h0 = await batchHistogram(model);
  const c0 = processCpu(server.child.pid!);
  const client0 = process.cpuUsage();
  for (const s of streams) s.tally.active = true;
  await sleep(MS);
  for (const s of streams) s.tally.active = false;
  const c1 = processCpu(server.child.pid!);
  const client = process.cpuUsage(client0);
  const m1 = await scrapeCounters(metricsUrl, model, '1');
  const h1 = await batchHistogram(model);
  await Promise.all(streams.map((s) => s.stop()));
  if (m0 && m1) {
    const ok = m1.requestSuccess - m0.requestSuccess, batches = m1.execCount - m0.execCount;
    console.log(`    server: mean batch ${((m1.inferenceCount - m0.inferenceCount) / batches).toFixed(1)} rows, mean queue ` +
      `${((m1.queueUs - m0.queueUs) / ok / 1000).toFixed(1)} ms, compute ${((m1.computeInferUs - m0.computeInferUs) / ok / 1000).toFixed(1)} ms/batch; ` +
      `CPU main thread ${(100 * (c1.mainSec - c0.mainSec) / (MS / 1000)).toFixed(0)} %, other threads ${(100 * (c1.otherSec - c0.otherSec) / (MS / 1000)).toFixed(0)} %; ` +
      `client CPU ${((client.user + client.system) / 10 / MS).toFixed(0)} %; batches ≤1,2,4,…: ` +
      h1.map((c, k) => c - h0[k] - (k > 0 ? h1[k - 1] - h0[k - 1] : 0)).join(' '));
  }
  await sleep(500);
  return streams.map((s) => s.tally);
}

const p99 = (t: ClassTally) => t.latency.summary().p99Us / 1000;
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
const metricsPort = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});
const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', String(metricsPort)]);
const wrong = { n: 0 };
console.log(`server on CPU ${SERVER_CPUS}, client on CPU ${CLIENT_CPUS}; ${JSON_BODIES ? 'JSON' : 'binary'} 1-row requests`);

try {
  const plain = requests(server.url, 'mlp', 32, {});
  const expected = await expectedOutputs(session, plain.inputs, IN);
  // Capacity: closed loop, 128 requests outstanding, no timeouts (with them a closed loop measures refusals).
  const capCheck = { wrong: 0 };
  const cap = (await closedLoop(server.url, plain.bodies, expected, 128, 2000, 3000, capCheck)).throughput;
  wrong.n += capCheck.wrong;
  console.log(`capacity (closed loop, 128 outstanding): ${cap.toFixed(0)} req/s`);
  const only = a.only;

  if (!only || only === 'deadlines') {
    const hi = requests(server.url, 'mlp', 32, { priority: 1 });
    const lo = requests(server.url, 'mlp', 32, { priority: 2, timeout: TIMEOUT_MS * 1000 });
    for (const load of LOADS) {
      const hiRate = HIGH_SHARE * load * cap, loRate = (1 - HIGH_SHARE) * load * cap;
      const ratios: number[] = [], goodputs: number[] = [];
      let late = 0;
      for (let i = 0; i < PAIRS; i++) {
        const [alone] = await window(() => [stream(server, hi.bodies, expected, hiRate, Infinity, wrong)]);
        const [H, L] = await window(() => [
          stream(server, hi.bodies, expected, hiRate, Infinity, wrong),
          stream(server, lo.bodies, expected, loRate, TIMEOUT_MS * 1000, wrong),
        ]);
        ratios.push(p99(H) / p99(alone));
        goodputs.push((H.inTime + L.inTime) / (MS / 1000) / cap);
        late += H.late + L.late;
        console.log(`  ${load}× pair ${i + 1}: high alone p99 ${p99(alone).toFixed(1)} ms; in overload: high p99 ${p99(H).toFixed(1)} ms ` +
          `(${H.ok} ok, refused ${H.refusedText}), low ${L.ok} ok (${L.late} late, p99 ${p99(L).toFixed(1)} ms), refused ${L.refusedText}; ` +
          `goodput ${((H.inTime + L.inTime) / (MS / 1000)).toFixed(0)}/s`);
      }
      console.log(`deadlines ${load}×: late answers ${late} (target 0); high p99 ÷ alone ${fmtRatio(ratios)} (target ≤ 2); ` +
        `goodput ÷ capacity ${fmtRatio(goodputs)} (target ≥ 0.9)`);
    }
  }

  if (!only || only === 'slo') {
    const hi = requests(server.url, 'mlp_slo', 32, { priority: 1 });
    const lo = requests(server.url, 'mlp_slo', 32, { priority: 2 });
    for (const load of LOADS) {
      const ratios: number[] = [], goodputs: number[] = [];
      for (let i = 0; i < PAIRS; i++) {
        const [H, L] = await window(() => [
          stream(server, hi.bodies, expected, HIGH_SHARE * load * cap, TARGET_MS * 1000, wrong),
          stream(server, lo.bodies, expected, (1 - HIGH_SHARE) * load * cap, TARGET_MS * 1000, wrong),
        ], 'mlp_slo');
        const all = new LatencyHistogram();
        all.add(H.latency);
        all.add(L.latency);
        ratios.push(all.summary().p99Us / 1000 / TARGET_MS);
        goodputs.push((H.ok + L.ok) / (MS / 1000) / cap);
        const slo = (await (await fetch(metricsUrl)).text()).split('\n').filter((l) => l.startsWith('autoglm_slo_') && l.includes('model="mlp_slo"'))
          .map((l) => l.replace(/\{[^}]*?(priority="\d+")?\}/, (_m, p: string | undefined) => (p ? `{${p}}` : ''))).join(', ');
        console.log(`    slo metrics: ${slo}`);
        const sm = all.summary();
        console.log(`    answered, from send: p50 ${(sm.p50Us / 1000).toFixed(1)}, p90 ${(sm.p90Us / 1000).toFixed(1)}, p95 ${(sm.p95Us / 1000).toFixed(1)}, ` +
          `p99 ${(sm.p99Us / 1000).toFixed(1)}, max ${(sm.maxUs / 1000).toFixed(1)} ms`);
        console.log(`  ${load}× window ${i + 1}: admitted p99 ${(all.summary().p99Us / 1000).toFixed(1)} ms; high ${H.ok} ok (refused ${H.refusedText}), ` +
          `low ${L.ok} ok (refused ${L.refusedText})`);
      }
      console.log(`slo ${load}×: admitted p99 ÷ target (${TARGET_MS} ms) ${fmtRatio(ratios)} (target ≤ 1.2); answered ÷ capacity ${fmtRatio(goodputs)}`);
    }
  }

  if (!only || only === 'refusal') {
    // The same rate to the bare node:http floor (a fixed 64-byte answer, no work, pinned like the server): no
    // refusal over node:http can cost less than it.
    const floor = await spawnFloorServer({ outputBytes: 64 });
    const served = requests(server.url, 'mlp', 32, { priority: 2 });
    const refused = requests(server.url, 'mlp', 32, { priority: 2, timeout: 1 });
    const rate = 0.5 * cap;
    const ratios: number[] = [], floors: number[] = [];
    const perReq = async (target: ServerProcess, bodies: Buffer[], check: boolean) => {
      const driver = new OpenLoopDriver(targetOf(target.url), bodies, rate, 'poisson', 2048);
      const tally = new ClassTally(Infinity);
      const checker = new AnswerCheck(tally, expected, 32);
      driver.sink = check ? checker : tally;
      await sleep(1000);
      const c0 = processCpu(target.child.pid!);
      tally.active = true;
      await sleep(MS);
      tally.active = false;
      const c1 = processCpu(target.child.pid!);
      await driver.stop(5000);
      wrong.n += checker.wrong;
      await sleep(500);
      const n = tally.ok + [...tally.refused.values()].reduce((x, y) => x + y, 0);
      return { us: ((c1.mainSec - c0.mainSec) * 1e6) / n, tally };
    };
    try {
      for (let i = 0; i < PAIRS; i++) {
        const s = await perReq(server, served.bodies, true);
        const r = await perReq(server, refused.bodies, true);
        const f = await perReq(floor, refused.bodies, false);
        ratios.push(r.us / s.us);
        floors.push(f.us / s.us);
        console.log(`  round ${i + 1}: served ${s.us.toFixed(1)} µs/request (${s.tally.ok} ok, refused ${s.tally.refusedText}); ` +
          `refused ${r.us.toFixed(1)} µs/request (${r.tally.ok} ok, refused ${r.tally.refusedText}); node:http floor ${f.us.toFixed(1)} µs/request`);
      }
    } finally {
      await floor.close();
    }
    console.log(`refusal: main-thread CPU per refused ÷ per served request, ${rate.toFixed(0)} req/s: ${fmtRatio(ratios)} (target ≤ 0.1); ` +
      `node:http floor ÷ served ${fmtRatio(floors)}`);
  }
  if (only === 'rss') {
    // Only when asked: a minute of 3× overload.
    const hi = requests(server.url, 'mlp', 32, { priority: 1 });
    const lo = requests(server.url, 'mlp', 32, { priority: 2, timeout: TIMEOUT_MS * 1000 });
    const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    const before = rssMb();
    const streams = [stream(server, hi.bodies, expected, HIGH_SHARE * 3 * cap, Infinity, wrong),
      stream(server, lo.bodies, expected, (1 - HIGH_SHARE) * 3 * cap, TIMEOUT_MS * 1000, wrong)];
    for (const st of streams) st.tally.active = true;
    const samples: number[] = [];
    for (let sec = 0; sec < Number(a['soak-s']); sec++) {
      await sleep(1000);
      samples.push(rssMb());
    }
    for (const st of streams) st.tally.active = false;
    await Promise.all(streams.map((st) => st.stop()));
    const [H, L] = streams.map((st) => st.tally);
    const half = samples.slice(Math.floor(samples.length / 2));
    console.log(`rss: before ${before.toFixed(0)} MB; during ${samples.length} s of 3× overload max ${Math.max(...samples).toFixed(0)} MB, ` +
      `second half ${Math.min(...half).toFixed(0)}–${Math.max(...half).toFixed(0)} MB; after ${rssMb().toFixed(0)} MB; ` +
      `answered high ${H.ok}, low ${L.ok} (late ${H.late + L.late}), refused high ${H.refusedText}, low ${L.refusedText}; server alive: ${server.child.exitCode === null}`);
    console.log(`  every 5 s: ${samples.filter((_, k) => k % 5 === 4).map((x) => x.toFixed(0)).join(' ')} MB`);
  }
  console.log(`answers checked against in-process results: wrong ${wrong.n}`);
} finally {
  await server.close();
  repo.remove();
}
