/**
 * Issue 12's unload figure: does unloading a ~200 MB model give its memory back? `autoglm serve` pinned to the
 * server CPUs (default CPU 0) starts with only a small model loaded (`--model-control-mode explicit --load-model
 * small` where the server has control modes; otherwise the big model's folder is written into the repository only
 * after the server started), so ONNX Runtime's library is in memory before the baseline is read; this process (CPU 1) loads it through the repository API, runs a few requests, unloads it. The server's
 * resident memory (VmRSS of /proc/<pid>/status, split by /proc/<pid>/smaps into the main heap, anonymous mappings
 * and files) is read before the load, after it, and after the unload, each once it stopped moving.
 * Figure: after-unload ÷ before-load per run (target ≤ 1.10), over --runs fresh servers.
 *
 * Variants (--variants, comma list), each a fresh server per run:
 *   default           the model as it is
 *   no-cpu-arena      parameters { key: "enable_cpu_mem_arena" value { string_value: "false" } }
 *   arena-max-2       MALLOC_ARENA_MAX=2 in the server's environment (glibc: at most 2 malloc arenas)
 *   mmap-threshold    MALLOC_MMAP_THRESHOLD_=131072 (glibc: every block ≥ 128 KiB its own mapping, unmapped on free)
 *   jemalloc          LD_PRELOAD of Debian's libjemalloc2 with a background thread returning freed pages after 1 s
 * With --gc, after the unload the server is sent SIGUSR2, on which it writes a V8 heap snapshot (node
 * --heapsnapshot-signal, into a temporary --diagnostic-dir): a snapshot starts with a full garbage collection, so
 * what that gives back was only waiting for V8 to collect it (e.g. a Buffer of the model file read on the main thread).
 * With --trim (gdb installed), after the unload (and the --gc probe) the server is stopped under gdb for one call of glibc's
 * `malloc_trim(0)` and read again: what that gives back was freed but kept by malloc.
 * With --cycles N, the model is loaded and unloaded N times per run (RSS after each unload): a one-off high-water
 * mark stays flat, a leak grows.
 *
 * Also checks that the unload removed the model's metric series from the metrics port (see
 * test/server/unload-metrics.test.ts).
 *
 *   node --import tsx bench/unload-rss.ts [--cpus 0:1] [--runs 3] [--variants default,no-cpu-arena,arena-max-2]
 *     [--mb 200] [--cycles 1] [--trim] [--from src|dist] [--json FILE]
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { writeOnnxModel, ONNX, f32Raw } from '../src/onnx-proto/index.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { explicitControlFlags, hasExplicitControl } from './baselines/control-mode.js';
import { fmtRatio, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' }, runs: { type: 'string', default: '3' },
  variants: { type: 'string', default: 'default,no-cpu-arena,arena-max-2' }, mb: { type: 'string', default: '200' },
  cycles: { type: 'string', default: '1' }, trim: { type: 'boolean', default: false }, gc: { type: 'boolean', default: false },
  from: { type: 'string', default: 'src' }, json: { type: 'string' },
} });
const [SERVER_CPUS, CLIENT_CPUS] = a.cpus!.split(':');
const RUNS = Number(a.runs), CYCLES = Number(a.cycles);
const IN = 1024, OUT = 4;
/** Width of the big weight: IN × WIDE floats ≈ --mb MB. */
const WIDE = Math.round((Number(a.mb) * 1e6) / 4 / IN);
const VARIANTS: Record<string, { env?: Record<string, string>; params?: string }> = {
  default: {},
  'no-cpu-arena': { params: 'parameters { key: "enable_cpu_mem_arena" value { string_value: "false" } }' },
  'arena-max-2': { env: { MALLOC_ARENA_MAX: '2' } },
  'mmap-threshold': { env: { MALLOC_MMAP_THRESHOLD_: '131072' } },
  // jemalloc instead of glibc's malloc (Debian libjemalloc2), purging freed pages from a background thread after 1 s.
  jemalloc: { env: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', MALLOC_CONF: 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0' } },
};
const variants = a.variants!.split(',');
for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant '${v}' (known: ${Object.keys(VARIANTS).join(', ')})`);
if (variants.includes('jemalloc') && !existsSync(VARIANTS.jemalloc.env!.LD_PRELOAD)) throw new Error('variant jemalloc needs Debian\'s libjemalloc2: apt-get install libjemalloc2');

requireCommands({ taskset: 'util-linux' });
if (a.trim) requireCommands({ gdb: 'gdb' });
pinServersTo(SERVER_CPUS, CLIENT_CPUS);

/** y = (x·W)·V: x FP32 [batch, 1024], W [1024, WIDE] (the bulk), V [WIDE, 4]. */
function bigModel(): Uint8Array {
  return writeOnnxModel({
    name: 'big',
    nodes: [
      { op: 'MatMul', inputs: ['input', 'W'], outputs: ['wide'] },
      { op: 'MatMul', inputs: ['wide', 'V'], outputs: ['output'] },
    ],
    inputs: [{ name: 'input', elemType: ONNX.FLOAT, dims: ['batch', IN] }],
    outputs: [{ name: 'output', elemType: ONNX.FLOAT, dims: ['batch', OUT] }],
    initializers: [
      { name: 'W', elemType: ONNX.FLOAT, dims: [IN, WIDE], raw: f32Raw(seededFloats(IN * WIDE, 5, 0.03)) },
      { name: 'V', elemType: ONNX.FLOAT, dims: [WIDE, OUT], raw: f32Raw(seededFloats(WIDE * OUT, 6, 0.03)) },
    ],
  });
}

const configOf = (params = '') => `name: "big"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${IN} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
${params}
`;

/** Resident memory in MB: total, and by kind of mapping (smaps). */
interface Rss { total: number; heap: number; anon: number; file: number; threads: number }

function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const r: Rss = { total: kb('VmRSS') / 1024, heap: 0, anon: 0, file: 0, threads: kb('Threads') };
  let kind: 'heap' | 'anon' | 'file' = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1];
      kind = name === '[heap]' ? 'heap' : name === '' || name.startsWith('[') ? 'anon' : 'file';
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) r[kind] += Number(m[1]) / 1024;
  }
  return r;
}

/** RSS once it stopped moving: samples every 250 ms until two in a row agree within 1 MB (at most 5 s). */
async function settledRss(pid: number): Promise<Rss> {
  let last = rssOf(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const now = rssOf(pid);
    if (Math.abs(now.total - last.total) < 1) return now;
    last = now;
  }
  return last;
}

/** Anonymous mappings of at least `minMb` MB resident, as 'size/rss MB' (the model's size stands out). */
function bigAnonMappings(pid: number, minMb = 32): string {
  const out: string[] = [];
  let size = 0, anon = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1048576;
      anon = head[3] === '';
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m && anon && Number(m[1]) / 1024 >= minMb) out.push(`${size.toFixed(1)}/${(Number(m[1]) / 1024).toFixed(1)}`);
  }
  return out.join(' ') || 'none';
}

/** Sends SIGUSR2 (a heap snapshot, after a full GC) and waits until the snapshot file stops growing. */
async function fullGc(pid: number, diagDir: string): Promise<boolean> {
  process.kill(pid, 'SIGUSR2');
  let last = -1;
  for (let i = 0; i < 120; i++) {
    await sleep(250);
    const files = readdirSync(diagDir).filter((f) => f.endsWith('.heapsnapshot'));
    if (files.length === 0) continue;
    const size = statSync(join(diagDir, files[0])).size;
    if (size > 0 && size === last) {
      rmSync(join(diagDir, files[0]));
      return true;
    }
    last = size;
  }
  return false;
}

const fmt = (r: Rss) => `${r.total.toFixed(0)} MB (heap ${r.heap.toFixed(0)}, anon ${r.anon.toFixed(0)}, files ${r.file.toFixed(0)}; ${r.threads} threads)`;

/** Calls glibc's malloc_trim(0) inside the process through gdb; false when gdb could not attach. */
function mallocTrim(pid: number): boolean {
  const r = spawnSync('gdb', ['-p', String(pid), '-batch', '-nx', '-ex', 'call (int) malloc_trim(0)', '-ex', 'detach'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 && /\$1 = 1|\$1 = 0/.test(r.stdout);
}

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

/** Metric lines (Prometheus text) that carry model="big". */
async function bigSeries(metricsUrl: string): Promise<string[]> {
  const text = await (await fetch(metricsUrl)).text();
  return text.split('\n').filter((l) => !l.startsWith('#') && l.includes('model="big"'));
}

async function post(url: string): Promise<void> {
  const r = await fetch(url, { method: 'POST', body: '' });
  if (r.status !== 200) throw new Error(`POST ${url} answered ${r.status}: ${await r.text()}`);
}

/** A few requests of 1–8 rows, each answered 200 with [rows, 4] FP32. */
async function exercise(url: string): Promise<void> {
  for (const rows of [1, 2, 4, 8, 1, 8]) {
    const x = seededFloats(rows * IN, rows, 1);
    const r = await fetch(`${url}/v2/models/big/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, IN], data: [...x] }] }),
    });
    const body = await r.json() as { outputs?: Array<{ shape: number[] }>; error?: string };
    if (r.status !== 200 || body.outputs?.[0]?.shape.join(',') !== `${rows},${OUT}`) throw new Error(`infer of ${rows} rows: ${r.status} ${JSON.stringify(body).slice(0, 200)}`);
  }
}

interface RunResult {
  variant: string; before: Rss; loaded: Rss[]; unloaded: Rss[]; collected?: Rss; trimmed?: Rss; bigMappings: string; ratio: number; loadMs: number;
  seriesLoaded: number; seriesAfterUnload: number;
}

async function run(variant: string, bytes: Uint8Array): Promise<RunResult> {
  const spec = VARIANTS[variant];
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-unload-rss-'));
  const repo = join(dir, 'repo');
  const explicit = hasExplicitControl();
  const write = () => writeModel(repo, 'big', bytes, { config: configOf(spec.params) });
  // A small model serves from the start, so ONNX Runtime's library is loaded before the baseline is read.
  writeModel(repo, 'small', mlpModel(16, 32, 4, 1).bytes);
  // Explicit mode: the big model's folder is there from the start, unloaded; without it, it would load at start.
  if (explicit) write();
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const saved = { ...process.env };
  const diagDir = join(dir, 'diag');
  mkdirSync(diagDir);
  const env = { ...spec.env, ...(a.gc ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${diagDir}` } : {}) };
  Object.assign(process.env, env);
  const server = await spawnAutoglmServe(repo, [...explicitControlFlags(['small']), '--metrics-port', String(metricsPort), '--log-format', 'json'], { fromDist: a.from === 'dist' })
    .finally(() => { for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; });
  const pid = server.child.pid!;
  try {
    if (!explicit) write();
    await sleep(1000);
    const before = await settledRss(pid);
    const loaded: Rss[] = [], unloaded: Rss[] = [];
    let loadMs = 0, seriesLoaded = 0, seriesAfterUnload = 0;
    for (let c = 0; c < CYCLES; c++) {
      const t = performance.now();
      await post(`${server.url}/v2/repository/models/big/load`);
      loadMs = performance.now() - t;
      await exercise(server.url);
      loaded.push(await settledRss(pid));
      seriesLoaded = (await bigSeries(metricsUrl)).length;
      await post(`${server.url}/v2/repository/models/big/unload`);
      await sleep(500);
      unloaded.push(await settledRss(pid));
      seriesAfterUnload = (await bigSeries(metricsUrl)).length;
    }
    const bigMappings = bigAnonMappings(pid);
    let collected: Rss | undefined;
    if (a.gc) collected = await fullGc(pid, diagDir) ? await settledRss(pid) : undefined;
    let trimmed: Rss | undefined;
    if (a.trim) trimmed = mallocTrim(pid) ? await settledRss(pid) : undefined;
    return { variant, before, loaded, unloaded, collected, trimmed, bigMappings, ratio: unloaded[unloaded.length - 1].total / before.total, loadMs, seriesLoaded, seriesAfterUnload };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const t = performance.now();
const bytes = bigModel();
console.log(`unload-rss: server CPU ${SERVER_CPUS}, client CPU ${CLIENT_CPUS}; model ${(bytes.length / 1e6).toFixed(0)} MB ` +
  `(MatMul ${IN}×${WIDE} then ${WIDE}×${OUT}; written in ${((performance.now() - t) / 1000).toFixed(1)} s); ` +
  `${hasExplicitControl() ? '--model-control-mode explicit, started without the model' : 'no --model-control-mode: the model folder appears after start'}; ` +
  `${CYCLES} load/unload cycle(s) per run; autoglm serve from ${a.from}`);
const results: RunResult[] = [];
for (let i = 0; i < RUNS; i++) {
  for (const variant of variants) {
    const r = await run(variant, bytes);
    results.push(r);
    console.log(`  ${variant} run ${i + 1}: before ${fmt(r.before)}; loaded (in ${r.loadMs.toFixed(0)} ms) ${r.loaded.map(fmt).join(' / ')}; ` +
      `after unload ${r.unloaded.map(fmt).join(' / ')} (anonymous mappings ≥ 32 MB resident, size/rss MB: ${r.bigMappings})` +
      (a.gc ? `; after a full GC ${r.collected ? fmt(r.collected) : 'no heap snapshot came'}` : '') + (a.trim ? `; after malloc_trim(0) ${r.trimmed ? fmt(r.trimmed) : 'gdb could not attach'}` : '') +
      ` → ${r.ratio.toFixed(2)}×; model="big" metric series: ${r.seriesLoaded} loaded, ${r.seriesAfterUnload} after unload`);
  }
}
console.log('summary: RSS after unload ÷ before load (target ≤ 1.10)' + (a.gc ? '; after a full GC ÷ before' : '') + (a.trim ? '; after malloc_trim(0) ÷ before' : ''));
for (const variant of variants) {
  const rs = results.filter((r) => r.variant === variant);
  const gcs = rs.filter((r) => r.collected).map((r) => r.collected!.total / r.before.total);
  const trims = rs.filter((r) => r.trimmed).map((r) => r.trimmed!.total / r.before.total);
  const grew = rs.map((r) => r.loaded[0].total - r.before.total);
  const first = CYCLES > 1 ? `after the first unload ${fmtRatio(rs.map((r) => r.unloaded[0].total / r.before.total)).replace('pairs', 'runs')}, after the last ` : '';
  console.log(`  ${variant}: ${first}${fmtRatio(rs.map((r) => r.ratio)).replace('pairs', 'runs')}; the load added ${fmtRatio(grew).replace(/×/g, ' MB').replace('pairs', 'runs')}` +
    (gcs.length ? `; after a full GC ${fmtRatio(gcs).replace('pairs', 'runs')}` : '') +
    (trims.length ? `; then trimmed ${fmtRatio(trims).replace('pairs', 'runs')}` : '') +
    `; metric series left after unload: ${rs.map((r) => r.seriesAfterUnload).join(', ')} (target 0)`);
}
if (a.json) writeFileSync(a.json, JSON.stringify({ date: new Date().toISOString(), cpus: a.cpus, mb: bytes.length / 1e6, results }, null, 2));
