/**
 * Where a request's main-thread time goes, per phase, in CPU µs per request, for three request shapes:
 *
 *   json    MLP 512→1024→1024→10 (request-path figure 1), 1 row, KServe v2 JSON body, wrk 64 connections;
 *   binary  MLP 1024→8192→1024 (figure 2), 1 row, binary tensors + binary output, wrk 128 connections;
 *   c1      the same model as binary, binary, wrk 1 connection.
 *
 * Per shape: `node --cpu-prof DIST/src/cli/main.js serve` (a fresh server; --dist picks the build, so a second
 * checkout's build is profiled the same way) under `taskset -c SERVER`. Once it listens — and again after the 2 s
 * warm-up, for threads started since — every thread but the main one (ONNX workers, libuv pool, V8's sampler) is
 * moved to the CLIENT CPUs, so the main thread is alone on its core and its samples are CPU time, not time preempted;
 * the sampler gets real-time priority there so that samples come on time (see moveWorkers). A window of wrk (pinned
 * to the CLIENT CPUs, as is this script) is measured: the main thread's CPU from /proc/<pid>/task/<pid>/stat before
 * and after, requests from wrk, the window's ends on CLOCK_MONOTONIC (V8's profile clock). The server is stopped with
 * SIGINT and the main thread's .cpuprofile read (CPU.<date>.<time>.<pid>.0.<seq>: thread id 0; workers write theirs
 * with ids ≥ 1). Only samples inside the window count, each weighted by the time to the next sample.
 *
 * A phase's figure = its samples' time in the window ÷ requests. Node marks the loop idle for the whole poll phase,
 * so '(idle)' samples are not all off-CPU: native work with no JS on the stack (socket reads, llhttp, deserializing
 * worker messages, epoll, wake-ups — and the profiler's own signals while idle) is '(idle)' too. That rest —
 * /proc's main-thread CPU minus the non-idle samples — is its own row; the rows add up to /proc's figure. (Scaling
 * the shares of non-idle samples to /proc's CPU instead would spread that rest over the phases: --json has it as
 * scaledUsPerRequest.) Native functions (no url) and node:buffer / node:internal/encoding (Buffer.concat, TextDecoder)
 * are charged to their caller's phase, except socket writes and postMessage; '(program)' is 'runtime'. The ONNX workers share the client's core with wrk: req/s are lower than in
 * production, and batches smaller.
 *
 *   flock /tmp/bench.lock node --import tsx bench/main-thread-phases.ts [--shapes json,binary,c1] [--window-ms 6000]
 *       [--cpus 0:1] [--dist dist] [--json FILE] [--interval-us 500] [--keep DIR (the main-thread profiles)]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { mlpLayersModel, mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { pbtxt } from './batching-common.js';
import { pinServersTo, requireCommands } from './baselines/processes.js';
import { cpuCount, wrk, wrkScript } from './baselines/wrk.js';

process.env.ORT_DISABLE_TELEMETRY = '1';
const { values: a } = parseArgs({ options: {
  shapes: { type: 'string', default: 'json,binary,c1' }, 'window-ms': { type: 'string', default: '6000' },
  cpus: { type: 'string', default: '0:1' }, dist: { type: 'string', default: 'dist' }, json: { type: 'string' },
  'interval-us': { type: 'string', default: '500' }, keep: { type: 'string' },
} });

const PHASES = ['socket write (writev syscall)', 'node:http + streams', 'routing + body read', 'decode (JSON / binary)', 'validate + resolve',
  'scheduler (queue, policy, batch assembly)', 'worker hop (pack, postMessage, unpack)', 'encode response', 'GC', 'runtime (promises, ticks, other)'] as const;
type Phase = (typeof PHASES)[number];
const [WRITE, HTTP, ROUTING, DECODE, VALIDATE, SCHED, HOP, ENCODE, GC, RUNTIME] = PHASES;
/** /proc's main-thread CPU minus the samples' busy time: native work while Node marks the loop idle (see above). */
const OUTSIDE = 'outside JS in the poll phase (sampled idle)';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface CpuProfile { nodes: { id: number; callFrame: CallFrame; children?: number[] }[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

/** A node's own phase from its call frame; 'native' = charged to its caller, 'idle' = not counted. */
function ownPhase({ functionName: fn, url }: CallFrame, ourPrefix: string): Phase | 'native' | 'idle' {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return GC;
  if (fn === '(program)' || fn === '(root)' || fn === 'runMicrotasks') return RUNTIME;
  if (['writev', 'writeBuffer', 'writevGeneric', 'writeUtf8String', 'writeLatin1String'].includes(fn) && (url === '' || fn === 'writevGeneric')) return WRITE;
  if (fn === 'postMessage' && url === '') return HOP;
  if (url === '' || /^node:(buffer|internal\/buffer|internal\/encoding)$/.test(url)) return 'native';
  if (url.startsWith(ourPrefix)) {
    const f = url.slice(ourPrefix.length);
    if (f.startsWith('frontends/http/encode-response') || ['encodeJsonData', 'nonFinite', 'encodeBinaryData'].includes(fn)) return ENCODE;
    if (/^frontends\/http\/(json-|decode-request|binary-tensor|float16)/.test(f)) return DECODE;
    if (/^frontends\/http\/(http-server|router|read-body|send)/.test(f)) return ROUTING;
    if (f.startsWith('server/')) return VALIDATE;
    if (f.startsWith('scheduler/')) return SCHED;
    if (f.startsWith('backends/')) return HOP;
    return RUNTIME;
  }
  if (url.startsWith('node:internal/worker') || url.includes('per_context/messageport')) return HOP;
  if (url.startsWith('node:internal/process/task_queues')) return RUNTIME;
  return url.startsWith('node:') ? HTTP : RUNTIME;
}

interface Breakdown {
  phases: Record<Phase, number>; idleMs: number; busyMs: number; samples: number;
  top: { fn: string; where: string; phase: Phase; ms: number }[];
}

/** Self time per phase and per function (ms) of the samples with timestamps in [t0Us, t1Us]. */
function breakdown(p: CpuProfile, t0Us: number, t1Us: number, ourPrefix: string): Breakdown {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const phaseOf = new Map<number, Phase | 'idle'>();
  const resolvePhase = (id: number): Phase | 'idle' => {
    let ph = phaseOf.get(id);
    if (ph === undefined) {
      const own = ownPhase(byId.get(id)!.callFrame, ourPrefix);
      ph = own !== 'native' ? own : parent.has(id) ? resolvePhase(parent.get(id)!) : RUNTIME;
      phaseOf.set(id, ph);
    }
    return ph;
  };
  const phases = Object.fromEntries(PHASES.map((x) => [x, 0])) as Record<Phase, number>;
  const fns = new Map<string, { fn: string; where: string; phase: Phase; ms: number }>();
  let idleMs = 0, samples = 0, t = p.startTime;
  const ts = p.timeDeltas.map((d) => (t += d));
  for (let i = 0; i + 1 < ts.length; i++) {
    if (ts[i] < t0Us || ts[i] > t1Us) continue;
    const ms = (ts[i + 1] - ts[i]) / 1000, id = p.samples[i];
    const ph = resolvePhase(id);
    samples++;
    if (ph === 'idle') { idleMs += ms; continue; }
    phases[ph] += ms;
    const cf = byId.get(id)!.callFrame;
    const where = cf.url === '' ? '(native)' : `${cf.url.replace(ourPrefix, '').replace(/^file:\/\/.*\/node_modules\//, '')}:${cf.lineNumber + 1}`;
    const key = `${cf.functionName}@${where}`;
    const e = fns.get(key) ?? { fn: cf.functionName || '(anonymous)', where, phase: ph, ms: 0 };
    e.ms += ms;
    fns.set(key, e);
  }
  const busyMs = PHASES.reduce((s, x) => s + phases[x], 0);
  return { phases, idleMs, busyMs, samples, top: [...fns.values()].sort((x, y) => y.ms - x.ms).slice(0, 8) };
}


const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime and stime of one thread, seconds (Linux USER_HZ = 100). */
function threadCpu(pid: number, tid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}
const comm = (pid: number, tid: number) => { try { return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(); } catch { return ''; } };

/**
 * Moves every thread of `pid` but the main one to `cpus`, and gives V8's sampler thread (v8:ProfEvntProc: it signals
 * the main thread every interval) real-time priority there: on a busy core its wake-ups would come late, in step with
 * the work there; on the main thread's core they would wait for the main thread to block, so its bursts would be
 * sampled as idle. Returns how many threads moved.
 */
function moveWorkers(pid: number, cpus: string): number {
  const tids = readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t !== pid);
  for (const tid of tids) {
    const sampler = comm(pid, tid) === 'v8:ProfEvntProc';
    for (const [cmd, args] of [['taskset', ['-p', '-c', cpus, String(tid)]], ...(sampler ? [['chrt', ['-f', '-p', '1', String(tid)]]] : [])] as [string, string[]][]) {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0 && readdirSync(`/proc/${pid}/task`).includes(String(tid))) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    }
  }
  return tids.length;
}

/** `node --cpu-prof DIST/src/cli/main.js serve` pinned to `cpus`; resolves its pid and URL once it listens. */
function serve(dist: string, repo: string, cpus: string, profDir: string) {
  const child = spawn('taskset', ['-c', cpus, process.execPath, '--cpu-prof', '--cpu-prof-dir', profDir, `--cpu-prof-interval=${a['interval-us']}`, join(dist, 'src', 'cli', 'main.js'), 'serve',
    '--model-repository', repo, '--http-port', '0', '--grpc-port', '0', '--http-address', '127.0.0.1', '--metrics-port', '0'], { cwd: dirname(dist), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (c: Buffer) => { log = (log + c.toString()).slice(-4000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise<{ pid: number; url: string; stop: () => Promise<void> }>((res, rej) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`autoglm serve did not listen within 60 s\n${log}`)); }, 60_000);
    child.once('exit', (code) => { clearTimeout(timer); rej(new Error(`autoglm serve exited (${code}) before listening\n${log}`)); });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const port = line.includes('HTTP server listening') ? /"?port"?[":= ]+(\d+)/.exec(line)?.[1] : undefined;
      if (!port) return;
      clearTimeout(timer);
      res({ pid: child.pid!, url: `http://127.0.0.1:${port}`, stop: async () => {
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(t);
      } });
    });
  });
}

interface Shape { key: string; title: string; model: string; conns: number; script: string }

async function measure(s: Shape, dist: string, repo: string, serverCpus: string, clientCpus: string, seconds: number, ourPrefix: string) {
  const profDir = mkdtempSync(join(tmpdir(), 'autoglm-prof-'));
  try {
    const srv = await serve(dist, repo, serverCpus, profDir);
    const url = `${srv.url}/v2/models/${s.model}/infer`, nClient = cpuCount(clientCpus);
    let moved = moveWorkers(srv.pid, clientCpus);
    await wrk(clientCpus, nClient, url, s.script, s.conns, 2);
    moved = Math.max(moved, moveWorkers(srv.pid, clientCpus));
    await sleep(200);
    const sampler = readdirSync(`/proc/${srv.pid}/task`).map(Number).find((t) => comm(srv.pid, t) === 'v8:ProfEvntProc');
    const t0 = monoUs(), c0 = threadCpu(srv.pid, srv.pid), p0 = sampler ? threadCpu(srv.pid, sampler) : undefined;
    const w = await wrk(clientCpus, nClient, url, s.script, s.conns, seconds);
    const c1 = threadCpu(srv.pid, srv.pid), p1 = sampler ? threadCpu(srv.pid, sampler) : undefined, t1 = monoUs();
    await srv.stop();
    const name = readdirSync(profDir).find((f) => new RegExp(`^CPU\\.\\d+\\.\\d+\\.${srv.pid}\\.0\\.\\d+\\.cpuprofile$`).test(f));
    if (!name) throw new Error(`no main-thread profile (CPU.*.${srv.pid}.0.*.cpuprofile) among ${readdirSync(profDir).join(', ')}`);
    const prof = JSON.parse(readFileSync(join(profDir, name), 'utf8')) as CpuProfile;
    if (a.keep) writeFileSync(join(a.keep, `${s.key}.cpuprofile`), JSON.stringify({ ...prof, window: [t0, t1] }));
    if (!(prof.startTime <= t0 && t1 <= prof.endTime)) throw new Error(`window ${t0}–${t1} µs not inside the profile's ${prof.startTime}–${prof.endTime} µs: clocks differ?`);
    const b = breakdown(prof, t0, t1, ourPrefix);
    const sec = (t1 - t0) / 1e6, cpu = c1.user + c1.sys - c0.user - c0.sys, mainUs = (cpu * 1e6) / w.requests;
    const perReq = (ms: number) => (ms * 1000) / w.requests;
    const phases = Object.fromEntries([...PHASES.map((x) => [x, perReq(b.phases[x])] as const), [OUTSIDE, mainUs - perReq(b.busyMs)] as const]
      .map(([x, us]) => [x, { usPerRequest: us, share: us / mainUs, scaledUsPerRequest: x === OUTSIDE ? 0 : (b.phases[x as Phase] / b.busyMs) * mainUs }]));
    return {
      shape: s.key, title: s.title, requests: w.requests, rps: w.rps, errors: w.errors, windowSec: sec, threadsMoved: moved, intervalUs: Number(a['interval-us']),
      mainCpuSec: cpu, mainSysShare: (c1.sys - c0.sys) / cpu, mainCores: cpu / sec, mainUsPerRequest: mainUs, samples: b.samples,
      samplerCores: p0 && p1 ? (p1.user + p1.sys - p0.user - p0.sys) / sec : NaN, profileBusyOverCpu: b.busyMs / 1000 / cpu, idleMs: b.idleMs, profile: name,
      phases, top: b.top.map((f) => ({ ...f, usPerRequest: perReq(f.ms) })),
    };
  } finally {
    rmSync(profDir, { recursive: true, force: true });
  }
}

function print(r: Awaited<ReturnType<typeof measure>>): void {
  const pad = (x: string, n: number) => x.padEnd(n), num = (v: number, n: number, d = 1) => v.toFixed(d).padStart(n);
  console.log(`\n(${r.shape}) ${r.title}: ${r.rps.toFixed(0)} req/s, main thread ${r.mainUsPerRequest.toFixed(1)} CPU µs/request (${r.mainCores.toFixed(2)} cores, `
    + `${(r.mainSysShare * 100).toFixed(0)} % kernel) over ${r.windowSec.toFixed(1)} s, ${r.requests} requests${r.errors ? `, !! ${r.errors} errors` : ''}; `
    + `${r.samples} samples every ${r.intervalUs} µs (sampler thread ${r.samplerCores.toFixed(3)} cores); ${r.threadsMoved} other threads moved off the main thread's core`);
  console.log(`  ${pad('phase', 45)} | µs/request | % of main thread`);
  for (const [x, v] of Object.entries(r.phases)) console.log(`  ${pad(x, 45)} | ${num(v.usPerRequest, 10)} | ${num(v.share * 100, 15)}%`);
  console.log(`  ${pad('total (/proc main-thread CPU)', 45)} | ${num(r.mainUsPerRequest, 10)} | ${num(100, 15)}%`);
  console.log('  top functions by self time (µs/request):');
  for (const f of r.top) console.log(`    ${num(f.usPerRequest, 6)}  ${f.fn} (${f.where}) — ${f.phase}`);
}

async function main(): Promise<number> {
  requireCommands({ wrk: 'wrk', taskset: 'util-linux' });
  const [serverCpus, clientCpus] = a.cpus!.split(':');
  if (!serverCpus || !clientCpus) throw new Error('usage: --cpus SERVER_LIST:CLIENT_LIST (e.g. 0:1)');
  const seconds = Math.max(1, Math.round(Number(a['window-ms']) / 1000));
  const shapes = a.shapes!.split(',');
  for (const x of shapes) if (!['json', 'binary', 'c1'].includes(x)) throw new Error(`--shapes takes json, binary, c1; got '${x}'`);
  const dist = resolve(a.dist!);
  const ourPrefix = pathToFileURL(join(dist, 'src')).href + '/';
  pinServersTo(serverCpus, clientCpus); // this process onto the client CPUs
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-phases-'));
  try {
    writeModel(join(dir, 'repo-mlp3'), 'mlp3', mlpLayersModel([512, 1024, 1024, 10]), { config: pbtxt('mlp3', 64, 512, 10) });
    writeModel(join(dir, 'repo-big'), 'big', mlpModel(1024, 8192, 1024, 1).bytes, { config: pbtxt('big', 128, 1024, 1024) });
    const jsonBody = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 512], data: Array.from(seededFloats(512, 1001, 1)) }] }));
    const xb = seededFloats(1024, 1002, 1);
    const head = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1024], parameters: { binary_data_size: xb.byteLength } }],
      parameters: { binary_data_output: true } }));
    const jsonScript = wrkScript(dir, 'json', jsonBody, { 'Content-Type': 'application/json' });
    const binScript = wrkScript(dir, 'binary', Buffer.concat([head, Buffer.from(xb.buffer)]),
      { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': head.length });
    const all: Record<string, Shape> = {
      json: { key: 'json', title: 'JSON small — MLP 512→1024→1024→10, 1 row, JSON, 64 connections', model: 'mlp3', conns: 64, script: jsonScript },
      binary: { key: 'binary', title: 'binary large — MLP 1024→8192→1024, 1 row, binary in + out, 128 connections', model: 'big', conns: 128, script: binScript },
      c1: { key: 'c1', title: 'c=1 — MLP 1024→8192→1024, 1 row, binary in + out, 1 connection', model: 'big', conns: 1, script: binScript },
    };
    console.log(`main-thread phases: ${dist}; server CPUs ${serverCpus} (main thread alone), client CPUs ${clientCpus} (wrk, this script, the server's other threads); `
      + `${seconds} s window after a 2 s warm-up; CPU µs/request = the phase's samples in the window ÷ requests; total = /proc main-thread CPU ÷ requests`);
    const results = [];
    for (const k of shapes) {
      const r = await measure(all[k], dist, join(dir, k === 'json' ? 'repo-mlp3' : 'repo-big'), serverCpus, clientCpus, seconds, ourPrefix);
      print(r);
      results.push(r);
    }
    if (a.json) writeFileSync(a.json, JSON.stringify({ date: new Date().toISOString(), dist, cpus: a.cpus, windowSec: seconds, results }, null, 1));
    return results.some((r) => r.errors > 0) ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
