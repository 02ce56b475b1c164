/**
 * Issue 12's warm-start figure: time-to-READY of `autoglm serve` (built, from dist/) serving the example OCR pipeline
 * (examples/model_repository ocr*: PP-OCRv4 det + rec in ONNX Runtime, JS decode/crop/CTC), from spawn until
 * GET /v2/health/ready answers 200. Each pair, in this order:
 *   off    no --model-cache-dir (today's start),
 *   cold   --model-cache-dir on an empty folder (optimizes and writes the entries),
 *   warm   the same folder again (loads the optimized graphs with optimization off).
 * Figures: warm ÷ cold (target ≤ 0.5) and cold ÷ off (what writing costs), medians with min–max over the pairs; and,
 * to say where the time goes, the floor (the same server with an empty repository) and the ONNX sessions' own
 * creation times, cold and warm, measured in this process pinned to the server's CPU. Each server start answers
 * one OCR request, checked against the first start's answer.
 *
 *   npm run build && flock /tmp/bench.lock node --import tsx bench/warm-start.ts [--pairs 5] [--cpus 0:1]
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { renderText } from '../test/pipeline/render-text.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';
import { fmtRatio, median, sleep } from './batching-common.js';
import { ENTRY_SUFFIX } from '../src/backends/onnx/model-cache-key.js';
import { readEntry } from '../src/backends/onnx/optimized-model-file.js';
import type { InstanceSpec } from '../src/backends/backend.js';
import { loadModelConfig, scanModel } from '../src/repository/index.js';

const { values: a } = parseArgs({ options: { pairs: { type: 'string', default: '5' }, cpus: { type: 'string', default: '0:1' } } });
const PAIRS = Number(a.pairs);
const [serverCpus, clientCpus] = a.cpus!.split(':');
const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples', 'model_repository');
const OCR_MODELS = ['ocr', 'ocr_decode', 'ocr_det', 'ocr_crop', 'ocr_rec', 'ocr_ctc'];
process.env.ORT_DISABLE_TELEMETRY = '1';

if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('run `npm run build` first: this benchmark starts dist/src/cli/main.js');
requireCommands({ taskset: 'util-linux' });
pinServersTo(serverCpus, clientCpus);

const scratch = mkdtempSync(join(tmpdir(), 'autoglm-warm-start-'));
const repo = join(scratch, 'repo');
const emptyRepo = join(scratch, 'empty');
mkdirSync(repo);
mkdirSync(emptyRepo);
for (const m of OCR_MODELS) symlinkSync(join(EXAMPLES, m), join(repo, m));

const loadedConfigs = new Map<string, InstanceSpec['config']>();
for (const m of ['ocr_det', 'ocr_rec']) {
  loadedConfigs.set(m, (await loadModelConfig(await scanModel(m, repo, join(repo, m)), { strict: false, defaultMaxBatchSize: undefined })).config);
}

const page = await renderText({ width: 420, height: 110, lines: [{ text: 'Warm start 2026', x: 20, y: 45 }, { text: 'cache the graph', x: 20, y: 90 }] });
// The image travels as a binary BYTES element (4-byte length, then the bytes) after the JSON header.
const element = Buffer.concat([Buffer.alloc(4), page]);
element.writeUInt32LE(page.length);
const header = Buffer.from(JSON.stringify({
  inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: element.length } }],
  outputs: [{ name: 'text' }],
}));
const body = Buffer.concat([header, element]);

/** Spawns the server, waits for /v2/health/ready 200; the time, and (for a non-empty repo) the OCR answer. */
async function start(repository: string, extra: string[]): Promise<{ ms: number; text?: string }> {
  const t0 = performance.now();
  const server = await spawnAutoglmServe(repository, ['--metrics-port', '0', ...extra], { fromDist: true });
  try {
    for (;;) {
      const r = await fetch(`${server.url}/v2/health/ready`).catch(() => undefined);
      if (r?.status === 200) break;
      await sleep(2);
    }
    const ms = performance.now() - t0;
    if (repository === emptyRepo) return { ms };
    const res = await fetch(`${server.url}/v2/models/ocr/infer`, {
      method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
    });
    const out = (await res.json()) as { outputs?: Array<{ name: string; data: string[] }>; error?: string };
    return { ms, text: out.outputs?.find((o) => o.name === 'text')?.data.join(' | ') ?? `error: ${out.error}` };
  } finally {
    await server.close();
  }
}


/**
 * ONNX session creation in this process (pinned to the server's CPU): optimizing now as the server's cold start does
 * vs what a warm start does with the server's entry (read, verify, create with optimization off).
 */
async function sessionTimes(cacheDir: string): Promise<Array<{ model: string; coldMs: number; warmMs: number }>> {
  const rows = [];
  for (const model of ['ocr_det', 'ocr_rec']) {
    const path = join(EXAMPLES, model, '1', 'model.onnx');
    const options = { intraOpNumThreads: 1, logSeverityLevel: 3 as const, executionProviders: ['cpu'] };
    const name = readdirSync(cacheDir).find((n) => n.startsWith(`${model}-1-`) && n.endsWith(ENTRY_SUFFIX));
    if (name === undefined) throw new Error(`no entry of ${model} in ${cacheDir}`);
    const entry = { dir: cacheDir, path: join(cacheDir, name), key: name.slice(0, -ENTRY_SUFFIX.length), maxBytes: 1 << 30 };
    const t0 = performance.now();
    const s0 = await ort.InferenceSession.create(path, options);
    const t1 = performance.now();
    await s0.release();
    // What the worker does on a hit: read and verify the entry, then create with optimization off.
    const t2 = performance.now();
    const hit = readEntry(entry);
    if (hit.kind !== 'hit') throw new Error(`no entry for ${model} in ${cacheDir}: ${hit.kind}`);
    const s1 = await ort.InferenceSession.create(hit.model, { ...options, graphOptimizationLevel: 'disabled' });
    const t3 = performance.now();
    await s1.release();
    rows.push({ model, coldMs: t1 - t0, warmMs: t3 - t2 });
  }
  return rows;
}

const ratios = { warmCold: [] as number[], coldOff: [] as number[] };
const times = { off: [] as number[], cold: [] as number[], warm: [] as number[], floor: [] as number[] };
let reference: string | undefined;
let lastCache = '';
const check = (what: string, text: string | undefined) => {
  reference ??= text;
  if (text !== reference) throw new Error(`${what} answered '${text}', the first start '${reference}'`);
};

console.log(`# warm start: autoglm serve (dist) on CPU ${serverCpus}, this client on CPU ${clientCpus}; OCR pipeline (${OCR_MODELS.join(', ')})`);
await start(repo, []); // not counted: brings the files into the page cache for every start alike
for (let i = 0; i < PAIRS; i++) {
  const cacheDir = join(scratch, `cache-${i}`);
  const floor = await start(emptyRepo, []);
  const off = await start(repo, []);
  check('off', off.text);
  const cold = await start(repo, ['--model-cache-dir', cacheDir]);
  check('cold', cold.text);
  const entries = readdirSync(cacheDir).filter((n) => n.endsWith('.onnxcache')).length;
  const warm = await start(repo, ['--model-cache-dir', cacheDir]);
  check('warm', warm.text);
  times.floor.push(floor.ms); times.off.push(off.ms); times.cold.push(cold.ms); times.warm.push(warm.ms);
  ratios.warmCold.push(warm.ms / cold.ms);
  ratios.coldOff.push(cold.ms / off.ms);
  console.log(`pair ${i + 1}: floor ${floor.ms.toFixed(0)} ms, off ${off.ms.toFixed(0)} ms, cold ${cold.ms.toFixed(0)} ms (${entries} entries written), warm ${warm.ms.toFixed(0)} ms: warm/cold ${(warm.ms / cold.ms).toFixed(2)}`);
  if (lastCache) rmSync(lastCache, { recursive: true, force: true });
  lastCache = cacheDir;
}
console.log(`answer of every start: '${reference}'`);
console.log(`time-to-READY medians: floor (empty repository) ${median(times.floor).toFixed(0)} ms, off ${median(times.off).toFixed(0)} ms, cold ${median(times.cold).toFixed(0)} ms, warm ${median(times.warm).toFixed(0)} ms`);
console.log(`warm ÷ cold: ${fmtRatio(ratios.warmCold)}; target ≤ 0.5`);
console.log(`cold ÷ off: ${fmtRatio(ratios.coldOff)} (what writing the entries costs)`);

pinServersTo(clientCpus, serverCpus); // moves this process onto the server's CPU (no server is spawned after this)
const sessions: Array<Awaited<ReturnType<typeof sessionTimes>>> = [];
for (let i = 0; i < 3; i++) sessions.push(await sessionTimes(lastCache));
for (const [k, model] of ['ocr_det', 'ocr_rec'].entries()) {
  const cold = median(sessions.map((s) => s[k].coldMs)), warm = median(sessions.map((s) => s[k].warmMs));
  console.log(`${model} session creation (1 thread, CPU ${serverCpus}, medians of 3): optimized now ${cold.toFixed(1)} ms, from the entry ${warm.toFixed(1)} ms (${(warm / cold).toFixed(2)}×)`);
}
// A whole ONNX instance as the server makes one (worker thread start + key + session), so the session's share shows.
// From dist/, as the server runs: through tsx a worker would also compile its sources.
const { OnnxBackend } = await import(join(ROOT, 'dist', 'src', 'backends', 'onnx', 'onnx-backend.js')) as typeof import('../src/backends/onnx/onnx-backend.js');
const backend = new OnnxBackend();
for (const model of ['ocr_det', 'ocr_rec']) {
  const spec = (modelCache?: { dir: string; maxBytes: number }): InstanceSpec => ({
    model, version: '1', modelDir: join(repo, model), versionDir: join(repo, model, '1'), modelPath: join(repo, model, '1', 'model.onnx'),
    config: loadedConfigs.get(model)!, instanceName: `${model}_0`, kind: 'KIND_CPU', threads: 1, modelCache,
  });
  const ms: Record<'off' | 'warm', number[]> = { off: [], warm: [] };
  for (let i = 0; i < 3; i++) {
    for (const mode of ['off', 'warm'] as const) {
      const t0 = performance.now();
      const instance = await backend.createInstance(spec(mode === 'off' ? undefined : { dir: lastCache, maxBytes: 1 << 30 }));
      ms[mode].push(performance.now() - t0);
      await instance.unload();
    }
  }
  console.log(`${model} instance creation (worker start + session; medians of 3): no cache ${median(ms.off).toFixed(0)} ms, from the entry ${median(ms.warm).toFixed(0)} ms`);
}
rmSync(scratch, { recursive: true, force: true });
