/**
 * Issue 12's reload-under-load figures, measured from outside: `autoglm serve` pinned to the server CPUs (default
 * CPU 0), this process — a closed-loop client at c=32 over keep-alive HTTP/1.1 connections, binary 1-row requests —
 * pinned to the client CPUs (default CPU 1). Each run is a fresh server on a fresh repository, under load for
 * --duration-s; at --switch-s the model is reloaded:
 *
 *   version  a version folder 2 appears (the default version policy, latest 1: version 2 replaces 1), then
 *            POST /v2/repository/models/mlp/load
 *   config   config.pbtxt changes (instance_group count 1 → 2, max_batch_size 32 → 64), then the same load
 *   control  nothing is reloaded: how much p99 differs between the same windows when nothing happens
 *
 * Runs alternate control, version, config, … (--runs of each). Every answer is checked: its `model_version` is
 * recorded and its output compared with that version's function, computed in this process with ONNX Runtime
 * (versions 1 and 2 have different weights, so an answer can match only one of them). Figures per run: failed
 * requests (target 0), wrong answers (not exactly the answer of the version it names; target 0), answers per
 * version, and p99 latency of the answers completed in the window around the switch (from the load request until
 * 1 s after it returned: building, warming and swapping in the new copy, draining and unloading the old one) ÷ p99
 * of those completed in the 2 s before it (target ≤ 2).
 *
 * --load-nice N emulates a server that builds the new copy at a lower priority than the serving one: while the load
 * request runs, this process renices every thread the server starts to N (polling /proc every 2 ms, again whenever
 * a thread set its own priority), and sets them to the server's compute nice (10) once the load returned.
 *
 *   node --import tsx bench/reload-under-load.ts [--cpus 0:1] [--runs 3] [--only version,config,control]
 *     [--duration-s 10] [--switch-s 3] [--concurrency 32] [--dims 256,1024,64] [--from src|dist] [--load-nice N]
 *     [--json FILE]
 */
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { mlpModel, writeModel } from '../test/fixtures/models.js';
import { ClosedLoopDriver } from '../src/bench/load-driver.js';
import type { CompletionSink } from '../src/bench/measurement-window.js';
import { errorKindOf } from '../src/bench/measurement-window.js';
import type { HttpResult } from '../src/bench/http1-connection.js';
import { decodeInferResponse } from '../src/bench/response-check.js';
import { LatencyHistogram } from '../src/bench/latency-histogram.js';
import { targetOf } from '../src/bench/run-bench.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { explicitControlFlags, hasExplicitControl } from './baselines/control-mode.js';
import { binaryRequests, expectedOutputs, fmtRatio, median, pbtxt, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' }, runs: { type: 'string', default: '3' },
  only: { type: 'string', default: 'control,version,config' }, 'duration-s': { type: 'string', default: '10' },
  'switch-s': { type: 'string', default: '3' }, concurrency: { type: 'string', default: '32' },
  dims: { type: 'string', default: '256,1024,64' }, from: { type: 'string', default: 'src' }, json: { type: 'string' },
  'load-nice': { type: 'string' },
} });
const [SERVER_CPUS, CLIENT_CPUS] = a.cpus!.split(':');
const RUNS = Number(a.runs), DURATION_MS = Number(a['duration-s']) * 1000, SWITCH_MS = Number(a['switch-s']) * 1000;
const CONCURRENCY = Number(a.concurrency);
const [IN, HID, OUT] = a.dims!.split(',').map(Number);
const BEFORE_MS = 2000;
const LOAD_NICE = a['load-nice'] === undefined ? undefined : Number(a['load-nice']);
/** The server's default compute nice (DEFAULT_COMPUTE_NICE): what --load-nice hands the new threads back to. */
const COMPUTE_NICE = 10;
/** The switch window runs on this long after the load request returned (the old copy's last answers, its unload). */
const AFTER_RETURN_MS = 1000;
const SETS = 64;
type Scenario = 'control' | 'version' | 'config';
const SCENARIOS = a.only!.split(',') as Scenario[];
for (const s of SCENARIOS) if (!['control', 'version', 'config'].includes(s)) throw new Error(`--only takes control,version,config; got '${s}'`);
if (!(RUNS >= 1) || !(SWITCH_MS >= BEFORE_MS) || !(DURATION_MS > SWITCH_MS)) throw new Error('need --runs ≥ 1 and 2 ≤ --switch-s < --duration-s');

requireCommands({ taskset: 'util-linux' });
pinServersTo(SERVER_CPUS, CLIENT_CPUS);

const v1 = mlpModel(IN, HID, OUT, 1);
const v2 = mlpModel(IN, HID, OUT, 101);
const config = (maxBatch: number, count: number) => pbtxt('mlp', maxBatch, IN, OUT, `dynamic_batching { }
instance_group [ { count: ${count} kind: KIND_CPU } ]`);

/** One answer as the client saw it: when it completed (ms from the run's start), how long it took, what it was. */
interface Answer { readonly atMs: number; readonly latencyUs: number; readonly status: string; readonly version: string }

/** Records every completion and checks every successful answer against the function of the version it names. */
class Recorder implements CompletionSink {
  readonly answers: Answer[] = [];
  /** Answers that match no version, or a version other than the one they name. */
  wrong = 0;
  readonly wrongExamples: string[] = [];
  constructor(private readonly t0: number, private readonly expected: ReadonlyMap<string, readonly Float32Array[]>) {}

  complete(set: number, latencyUs: number, result: HttpResult): void {
    const atMs = performance.now() - this.t0;
    if (result.status !== 200) {
      this.answers.push({ atMs, latencyUs, status: errorKindOf(result), version: '' });
      return;
    }
    let version = '';
    try {
      const body = result.body.length === 1 ? result.body[0] : Buffer.concat(result.body as Buffer[]);
      version = String((JSON.parse(body.toString('utf8', 0, result.inferenceHeaderLength)) as { model_version?: unknown }).model_version ?? '');
      const got = decodeInferResponse(result).get('output')?.values as number[] | undefined;
      const matches = [...this.expected].filter(([, sets]) => got !== undefined && close(got, sets[set])).map(([v]) => v);
      if (matches.length !== 1 || matches[0] !== version) this.miss(`set ${set}: named version '${version}', matches ${matches.join('+') || 'none'}`);
    } catch (err) {
      this.miss(`set ${set}: ${(err as Error).message}`);
    }
    this.answers.push({ atMs, latencyUs, status: 'ok', version });
  }

  private miss(why: string): void {
    this.wrong++;
    if (this.wrongExamples.length < 5) this.wrongExamples.push(why);
  }
}

/** Within the batched-vs-unbatched rounding of FP32 (relative 1e-3), as bench/batching-common's AnswerCheck. */
function close(got: readonly number[], want: Float32Array): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (Math.abs(got[i] - want[i]) > 1e-3 * (1 + Math.abs(want[i]))) return false;
  return true;
}

/** CPU seconds of a process (exited threads included) and of each living thread, with the thread's nice value. */
interface CpuSnapshot { readonly total: number; readonly threads: ReadonlyMap<number, { readonly sec: number; readonly nice: number }> }

/** Fields of a /proc stat line after the command name (index 0 = state); times in 100 Hz ticks. */
const statFields = (path: string): string[] => { const s = readFileSync(path, 'utf8'); return s.slice(s.lastIndexOf(')') + 2).split(' '); };

function cpuSnapshot(pid: number): CpuSnapshot {
  const p = statFields(`/proc/${pid}/stat`);
  const threads = new Map<number, { sec: number; nice: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
    try {
      const f = statFields(`/proc/${pid}/task/${tid}/stat`);
      threads.set(tid, { sec: (Number(f[11]) + Number(f[12])) / 100, nice: Number(f[16]) });
    } catch { /* ended meanwhile */ }
  }
  return { total: (Number(p[11]) + Number(p[12])) / 100, threads };
}

/**
 * Cores the server used between two snapshots, by kind of thread: the main thread (event loop), threads that were
 * there at `a` (niced: model instances' workers and ONNX Runtime pools; not niced: libuv, V8), threads started since
 * (the new copy's workers), and threads that ended since (the old copy's).
 */
function coresByKind(pid: number, a: CpuSnapshot, b: CpuSnapshot, wallSec: number): string {
  if (wallSec < 0.1) return 'n/a';
  const k = { main: 0, niced: 0, other: 0, started: 0, ended: 0 };
  let living = 0;
  for (const [tid, t] of b.threads) {
    const was = a.threads.get(tid);
    const d = t.sec - (was?.sec ?? 0);
    living += d;
    if (tid === pid) k.main += d;
    else if (!was) k.started += d;
    else if (t.nice > 0) k.niced += d;
    else k.other += d;
  }
  k.ended = Math.max(0, b.total - a.total - living);
  return `main ${(k.main / wallSec).toFixed(2)}, compute ${(k.niced / wallSec).toFixed(2)}, other ${(k.other / wallSec).toFixed(2)}, ` +
    `started ${(k.started / wallSec).toFixed(2)}, ended ${(k.ended / wallSec).toFixed(2)}`;
}

/** Keeps every thread of `pid` not in `known` at `nice` until stopped; then sets them to COMPUTE_NICE. */
function holdNewThreadsAt(pid: number, known: ReadonlySet<number>, nice: number): () => number {
  const held = new Set<number>();
  const poll = () => {
    for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
      if (known.has(tid)) continue;
      try {
        if (Number(statFields(`/proc/${pid}/task/${tid}/stat`)[16]) !== nice) setPriority(tid, nice);
        held.add(tid);
      } catch { /* ended meanwhile */ }
    }
  };
  poll();
  const timer = setInterval(poll, 2);
  return () => {
    clearInterval(timer);
    poll();
    for (const tid of held) try { setPriority(tid, COMPUTE_NICE); } catch { /* ended */ }
    return held.size;
  };
}

interface RunResult {
  readonly scenario: Scenario;
  readonly failed: number;
  readonly failures: string;
  readonly wrong: number;
  readonly perVersion: Record<string, number>;
  readonly loadStatus: number;
  readonly loadMs: number;
  readonly p99BeforeMs: number;
  readonly p99SwitchMs: number;
  readonly p99AfterMs: number;
  readonly maxSwitchMs: number;
  readonly ratio: number;
  readonly rpsBefore: number;
  readonly rpsSwitch: number;
  /** Last answer from the old version and first from the new one, ms after the load request (version runs). */
  readonly lastOldMs?: number;
  readonly firstNewMs?: number;
  readonly servedAfter: string;
  /** p99 ms / answers per 250 ms slice, from 500 ms before the load request to 1 s after it returned. */
  readonly timeline: string;
  /** Server cores by kind of thread in the 2 s before the load request and from it until it returned. */
  readonly coresBefore: string;
  readonly coresLoad: string;
}

function windowStats(answers: readonly Answer[], fromMs: number, toMs: number): { p99Ms: number; maxMs: number; rps: number; n: number } {
  const h = new LatencyHistogram();
  for (const x of answers) if (x.status === 'ok' && x.atMs >= fromMs && x.atMs < toMs) h.record(x.latencyUs);
  const s = h.summary();
  return { p99Ms: s.p99Us / 1000, maxMs: s.maxUs / 1000, rps: s.count / ((toMs - fromMs) / 1000), n: s.count };
}

async function run(scenario: Scenario, expected: Map<string, Float32Array[]>, bodiesFor: (url: string) => Buffer[]): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-reload-'));
  const repo = join(dir, 'repo');
  writeModel(repo, 'mlp', v1.bytes, { config: config(32, 1) });
  const server = await spawnAutoglmServe(repo, [...explicitControlFlags(['mlp']), '--log-format', 'json'], { fromDist: a.from === 'dist' });
  try {
    const bodies = bodiesFor(server.url);
    const t0 = performance.now();
    const rec = new Recorder(t0, scenario === 'version' ? expected : new Map([['1', expected.get('1')!]]));
    const driver = new ClosedLoopDriver(targetOf(server.url), bodies, CONCURRENCY);
    driver.sink = rec;
    const pid = server.child.pid!;
    await sleep(SWITCH_MS - BEFORE_MS);
    const c0 = cpuSnapshot(pid);
    await sleep(BEFORE_MS);
    // The new files are written beside the repository and renamed in, so the server never sees half a file.
    if (scenario === 'version') {
      writeModel(dir, 'staged', v2.bytes, { version: '2' });
      renameSync(join(dir, 'staged', '2'), join(repo, 'mlp', '2'));
    } else if (scenario === 'config') {
      writeFileSync(join(dir, 'config.pbtxt'), config(64, 2));
      renameSync(join(dir, 'config.pbtxt'), join(repo, 'mlp', 'config.pbtxt'));
    }
    const c1 = cpuSnapshot(pid);
    const trigger = performance.now() - t0;
    let loadStatus = 0;
    if (scenario !== 'control') {
      const release = LOAD_NICE === undefined ? undefined : holdNewThreadsAt(pid, new Set(c1.threads.keys()), LOAD_NICE);
      const r = await fetch(`${server.url}/v2/repository/models/mlp/load`, { method: 'POST', body: '' });
      const held = release?.();
      loadStatus = r.status;
      if (r.status !== 200) console.log(`  load answered ${r.status}: ${await r.text()}`);
      if (held !== undefined) console.log(`    --load-nice: ${held} new threads held at nice ${LOAD_NICE} during the load`);
    }
    const c2 = cpuSnapshot(pid);
    const returned = performance.now() - t0;
    await sleep(Math.max(0, DURATION_MS - (performance.now() - t0)));
    await driver.stop(5000);
    const meta = await (await fetch(`${server.url}/v2/models/mlp`)).json() as { versions?: string[] };
    const cfg = await (await fetch(`${server.url}/v2/models/mlp/config`)).json() as { max_batch_size?: number; instance_group?: Array<{ count?: number }> };
    const ans = rec.answers;
    const before = windowStats(ans, trigger - BEFORE_MS, trigger);
    const during = windowStats(ans, trigger, returned + AFTER_RETURN_MS);
    const after = windowStats(ans, returned + AFTER_RETURN_MS, DURATION_MS);
    const failures = new Map<string, number>();
    const perVersion: Record<string, number> = {};
    for (const x of ans) {
      if (x.status !== 'ok') failures.set(x.status, (failures.get(x.status) ?? 0) + 1);
      else perVersion[x.version] = (perVersion[x.version] ?? 0) + 1;
    }
    const okOf = (v: string) => ans.filter((x) => x.status === 'ok' && x.version === v).map((x) => x.atMs);
    const old = okOf('1'), fresh = okOf('2');
    const slices: string[] = [];
    for (let t = trigger - 500; t < returned + AFTER_RETURN_MS; t += 250) {
      const w = windowStats(ans, t, t + 250);
      slices.push(`${(t - trigger).toFixed(0)}: ${w.p99Ms.toFixed(1)}/${w.n}`);
    }
    if (rec.wrongExamples.length > 0) console.log(`  wrong answers, e.g.: ${rec.wrongExamples.join('; ')}`);
    return {
      scenario, failed: [...failures.values()].reduce((x, y) => x + y, 0), failures: [...failures].map(([k, v]) => `${k}:${v}`).join(' ') || 'none',
      wrong: rec.wrong, perVersion, loadStatus, loadMs: returned - trigger,
      p99BeforeMs: before.p99Ms, p99SwitchMs: during.p99Ms, p99AfterMs: after.p99Ms, maxSwitchMs: during.maxMs,
      ratio: during.p99Ms / before.p99Ms, rpsBefore: before.rps, rpsSwitch: during.rps,
      ...(scenario === 'version' ? { lastOldMs: old.reduce((x, y) => Math.max(x, y), -Infinity) - trigger, firstNewMs: fresh.reduce((x, y) => Math.min(x, y), Infinity) - trigger } : {}),
      timeline: slices.join(', '),
      coresBefore: coresByKind(pid, c0, c1, BEFORE_MS / 1000),
      coresLoad: coresByKind(pid, c1, c2, (returned - trigger) / 1000),
      servedAfter: `versions [${(meta.versions ?? []).join(',')}], max_batch_size ${cfg.max_batch_size}, instances ${(cfg.instance_group ?? []).map((g) => g.count).join('+')}`,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const s1 = await ort.InferenceSession.create(v1.bytes, { intraOpNumThreads: 1 });
const s2 = await ort.InferenceSession.create(v2.bytes, { intraOpNumThreads: 1 });
let inputs: Float32Array[] = [];
const bodiesFor = (url: string) => {
  const r = binaryRequests(url, 'mlp', IN, SETS);
  inputs = r.inputs;
  return r.requests;
};
bodiesFor('http://127.0.0.1:1');
const expected = new Map([['1', await expectedOutputs(s1, inputs, IN)], ['2', await expectedOutputs(s2, inputs, IN)]]);
console.log(`reload-under-load: server CPU ${SERVER_CPUS}, client CPU ${CLIENT_CPUS}; MLP ${IN}→${HID}→${OUT}, binary 1-row requests, ` +
  `closed loop c=${CONCURRENCY}, ${DURATION_MS / 1000} s per run, reload at ${SWITCH_MS / 1000} s; autoglm serve from ${a.from}` +
  `${hasExplicitControl() ? ' --model-control-mode explicit --load-model mlp' : ' (no --model-control-mode: load/unload open)'}` +
  (LOAD_NICE === undefined ? '' : `; threads started during a load held at nice ${LOAD_NICE} until it returned`));

const results: RunResult[] = [];
for (let i = 0; i < RUNS; i++) {
  for (const scenario of SCENARIOS) {
    const r = await run(scenario, expected, bodiesFor);
    results.push(r);
    const versions = Object.entries(r.perVersion).map(([v, n]) => `v${v} ${n}`).join(', ');
    console.log(`  ${scenario} run ${i + 1}: failed ${r.failed} (${r.failures}), wrong ${r.wrong}; answers ${versions}; ` +
      (scenario === 'control' ? '' : `load ${r.loadStatus} in ${r.loadMs.toFixed(0)} ms; `) +
      `p99 before ${r.p99BeforeMs.toFixed(1)} ms (${r.rpsBefore.toFixed(0)} req/s), switch window ${r.p99SwitchMs.toFixed(1)} ms ` +
      `(max ${r.maxSwitchMs.toFixed(1)}, ${r.rpsSwitch.toFixed(0)} req/s), after ${r.p99AfterMs.toFixed(1)} ms → ${r.ratio.toFixed(2)}×` +
      (r.firstNewMs !== undefined ? `; first v2 answer ${r.firstNewMs.toFixed(0)} ms, last v1 ${r.lastOldMs!.toFixed(0)} ms after the load request` : '') +
      `; now serving ${r.servedAfter}\n    p99 ms/answers per 250 ms from the load request (ms): ${r.timeline}` +
      `\n    server cores 2 s before: ${r.coresBefore}; until the load returned: ${r.coresLoad}`);
  }
}
console.log('summary (switch window = from the load request until 1 s after it returned):');
for (const scenario of SCENARIOS) {
  const rs = results.filter((r) => r.scenario === scenario);
  const sum = (f: (r: RunResult) => number) => rs.reduce((x, r) => x + f(r), 0);
  console.log(`  ${scenario}: failed ${sum((r) => r.failed)} (target 0), wrong ${sum((r) => r.wrong)} (target 0) over ${rs.length} runs; ` +
    `p99 switch ÷ before ${fmtRatio(rs.map((r) => r.ratio)).replace('pairs', 'runs')} (target ≤ 2)` +
    (scenario === 'control' ? '' : `; load took ${median(rs.map((r) => r.loadMs)).toFixed(0)} ms (median)`));
}
if (a.json) writeFileSync(a.json, JSON.stringify({ date: new Date().toISOString(), cpus: a.cpus, dims: [IN, HID, OUT], concurrency: CONCURRENCY, results }, null, 2));
