/**
 * Issue 3, benchmark 3: two priority levels under 1.5× overload. High-priority requests (priority 1) arrive at 20 %
 * of capacity, low-priority ones (priority 2) at 130 %, all with a timeout. Figures: high-priority p99 under
 * overload ÷ its p99 alone at the same rate (target ≤ 2×), and the number of successful answers that came back
 * later than their timeout (target 0), timed by the client from when it sent each request (and, for contrast, from
 * when it meant to: the client's own lag on the shared cores is not the server's).
 * The load client shares the machine's cores with the server. --rows N sends N rows per request (default 8): the
 * model, not the HTTP work, is what the 1.5× overload overloads. With 1-row requests on 2 shared cores the HTTP
 * frontend saturates first (~4,000 req/s offered): requests wait in socket buffers before any scheduler sees them.
 *
 *   node --import tsx bench/batching-priority.ts [--window-ms 4000] [--timeout-ms 200] [--pairs 3] [--rows 8]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mlpModel } from '../test/fixtures/models.js';
import { OpenLoopDriver } from '../src/bench/load-driver.js';
import { MeasurementWindow } from '../src/bench/measurement-window.js';
import { targetOf } from '../src/bench/run-bench.js';
import { spawnAutoglmServe } from './baselines/processes.js';
import { AnswerCheck, binaryRequests, closedLoop, expectedOutputs, fmtRatio, makeRepo, pbtxt, policyParam, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  'window-ms': { type: 'string', default: '4000' }, 'timeout-ms': { type: 'string', default: '200' },
  hidden: { type: 'string', default: '8192' }, pairs: { type: 'string', default: '3' }, rows: { type: 'string', default: '8' },
} });
const ROWS = Number(a.rows);
const MS = Number(a['window-ms']), TIMEOUT_MS = Number(a['timeout-ms']), HID = Number(a.hidden), PAIRS = Number(a.pairs);
const IN = 1024, OUT = 1024;

const { bytes } = mlpModel(IN, HID, OUT, 1);
const repo = makeRepo(bytes, {
  mlp: pbtxt('mlp', 128, IN, OUT, `dynamic_batching {
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 0 allow_timeout_override: true max_queue_size: 0 }
}
${policyParam('adaptive')}`),
});
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0']);

/** Successful answers later than the timeout: counted from when the client sent the request, and from when it meant to. */
interface Run { window: MeasurementWindow; late: number; lateFromIntended: number }
/** Starts an open-loop driver; completions land in a window once `begin` is called; `end` stops it. */
function start(requests: Buffer[], expected: Float32Array[], rate: number, check: { wrong: number }) {
  const driver = new OpenLoopDriver(targetOf(server.url), requests, rate, 'poisson', 1024);
  const run: Run = { window: new MeasurementWindow(undefined), late: 0, lateFromIntended: 0 };
  let checker: AnswerCheck | undefined;
  return {
    begin() {
      run.window = new MeasurementWindow(undefined);
      checker = new AnswerCheck({
        complete: (set, us, r, lagUs) => {
          if (r.status === 200 && us - lagUs > TIMEOUT_MS * 1000) run.late++;
          if (r.status === 200 && us > TIMEOUT_MS * 1000) run.lateFromIntended++;
          run.window.complete(set, us, r);
        },
      }, expected);
      driver.sink = checker;
    },
    async end(): Promise<Run> {
      run.window.close();
      await driver.stop(5000);
      check.wrong += checker?.wrong ?? 0;
      return run;
    },
  };
}

try {
  const timeoutUs = TIMEOUT_MS * 1000;
  const hi = binaryRequests(server.url, 'mlp', IN, 32, { priority: 1, timeout: timeoutUs }, ROWS);
  const lo = binaryRequests(server.url, 'mlp', IN, 32, { priority: 2, timeout: timeoutUs }, ROWS);
  const expected = await expectedOutputs(session, hi.inputs, IN);
  const check = { wrong: 0 };
  // Capacity without timeouts (a closed loop with them would measure admission refusals), 128 rows outstanding.
  const plain = binaryRequests(server.url, 'mlp', IN, 32, {}, ROWS);
  const cap = (await closedLoop(server.url, plain.requests, expected, Math.max(1, Math.round(128 / ROWS)), 1500, 3000, check)).throughput;
  console.log(`capacity (closed loop, ${Math.max(1, Math.round(128 / ROWS))} requests of ${ROWS} rows outstanding): ${cap.toFixed(0)} req/s; high at ${(0.2 * cap).toFixed(0)}/s, low at ${(1.3 * cap).toFixed(0)}/s`);
  // Both levels once before measuring: the first seconds of a fresh process (JIT, the policy's first estimates of a
  // mixed load) are not the steady state the pairs compare.
  {
    const h = start(hi.requests, expected, 0.2 * cap, check), l = start(lo.requests, expected, 1.3 * cap, check);
    await sleep(3000);
    await Promise.all([h.end(), l.end()]);
    await sleep(500);
  }
  const ratios: number[] = [];
  let late = 0, lateFromIntended = 0, admittedLow = 0, refusedLow = 0;
  for (let i = 0; i < PAIRS; i++) {
    const alone = start(hi.requests, expected, 0.2 * cap, check);
    await sleep(1000); alone.begin(); await sleep(MS);
    const A = await alone.end();
    await sleep(500);
    const h = start(hi.requests, expected, 0.2 * cap, check);
    const l = start(lo.requests, expected, 1.3 * cap, check);
    await sleep(1000); h.begin(); l.begin(); await sleep(MS);
    const [H, L] = await Promise.all([h.end(), l.end()]);
    const pA = A.window.latency.summary().p99Us / 1000, pH = H.window.latency.summary().p99Us / 1000;
    ratios.push(pH / pA);
    late += A.late + H.late + L.late;
    lateFromIntended += A.lateFromIntended + H.lateFromIntended + L.lateFromIntended;
    admittedLow += L.window.ok;
    refusedLow += L.window.errorCount;
    const errs = (w: MeasurementWindow) => [...w.errors].map(([k, v]) => `${k}:${v}`).join(' ') || 'none';
    console.log(`pair ${i + 1}: high alone p99 ${pA.toFixed(1)} ms (${A.window.throughput.toFixed(0)}/s, errors ${errs(A.window)}); ` +
      `high in overload p99 ${pH.toFixed(1)} ms (${H.window.throughput.toFixed(0)}/s, errors ${errs(H.window)}); ` +
      `low ${L.window.throughput.toFixed(0)}/s ok, p50 ${(L.window.latency.summary().p50Us / 1000).toFixed(1)} ms, errors ${errs(L.window)}`);
    await sleep(1000);
  }
  console.log(`high-priority p99 in 1.5× overload ÷ alone: ${fmtRatio(ratios)}   target ≤ 2×`);
  console.log(`successful answers later than the ${TIMEOUT_MS} ms timeout, from when the client sent them: ${late}   target 0`);
  console.log(`  … counted from when the client meant to send them (adds the client's own lag on the shared cores): ${lateFromIntended}`);
  console.log(`low priority: ${admittedLow} answered, ${refusedLow} refused or timed out (429/504) during windows`);
  console.log(`answers checked against in-process results: wrong ${check.wrong}`);
} finally {
  await server.close();
  repo.remove();
}
