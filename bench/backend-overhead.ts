/**
 * Per-call cost of running a model through an OnnxInstance (worker thread, transfer buffer, message hop) against
 * calling onnxruntime-node's session.run directly on the main thread, for a tiny model where the hop dominates:
 * MLP 64→64→10, batch 1, one intra-op thread on both sides.
 *
 *   node --import tsx bench/backend-overhead.ts [callsPerWindow=1000] [pairs=5]
 *
 * Alternating windows (direct, worker, direct, worker, …) after a warm-up; prints each side's median µs per call
 * and the median ratio worker/direct with its min–max over the pairs. Every window's first answer is checked
 * against the reference forward pass. Both sides share this machine's cores with whatever else runs on it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { OnnxBackend } from '../src/backends/onnx/onnx-backend.js';
import { mlpModel, seededFloats } from '../test/fixtures/models.js';

const CALLS = Number(process.argv[2] ?? 1000);
const PAIRS = Number(process.argv[3] ?? 5);
const IN = 64;
const OUT = 10;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function check(label: string, got: Float32Array, want: Float32Array): void {
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > 1e-4) throw new Error(`${label}: wrong answer at ${i}: ${got[i]} vs ${want[i]}`);
  }
}

const { bytes, reference } = mlpModel(IN, 64, OUT, 3);
const dir = mkdtempSync(join(tmpdir(), 'autoglm-bench-overhead-'));
const modelPath = join(dir, 'model.onnx');
writeFileSync(modelPath, bytes);
const x = seededFloats(IN, 42, 1);
const want = reference(x, 1);

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, executionProviders: ['cpu'], logSeverityLevel: 3 });
const instance = await new OnnxBackend().createInstance({
  model: 'mlp', version: '1', modelDir: dir, versionDir: dir, modelPath, instanceName: 'mlp_0_0', kind: 'KIND_CPU', threads: 1,
  config: {
    name: 'mlp', platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 0, version_policy: { latest: { num_versions: 1 } },
    input: [], output: [], instance_group: [], parameters: {}, default_model_filename: 'model.onnx',
  },
});

async function direct(): Promise<Float32Array> {
  const r = await session.run({ input: new ort.Tensor('float32', x, [1, IN]) });
  return r.output.data as Float32Array;
}
async function viaWorker(): Promise<Float32Array> {
  const r = await instance.execute([{ name: 'input', datatype: 'FP32', shape: [1, IN], data: x }], ['output']);
  return r.outputs[0].data as Float32Array;
}

async function window(label: string, call: () => Promise<Float32Array>, n: number): Promise<number[]> {
  const times: number[] = new Array(n);
  check(label, await call(), want);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    times[i] = (performance.now() - t0) * 1000;
  }
  return times;
}

try {
  await window('direct warm-up', direct, 500);
  await window('worker warm-up', viaWorker, 500);
  const ratios: number[] = [];
  const allDirect: number[] = [];
  const allWorker: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const d = await window('direct', direct, CALLS);
    const w = await window('worker', viaWorker, CALLS);
    allDirect.push(...d);
    allWorker.push(...w);
    ratios.push(median(w) / median(d));
  }
  const md = median(allDirect);
  const mw = median(allWorker);
  console.log(`MLP ${IN}→64→${OUT}, batch 1, 1 thread; ${PAIRS} pairs × ${CALLS} calls per side (shared 2-core machine)`);
  console.log(`  direct session.run on the main thread   median ${md.toFixed(1)} µs/call`);
  console.log(`  OnnxInstance.execute (worker thread)    median ${mw.toFixed(1)} µs/call  (+${(mw - md).toFixed(1)} µs per call)`);
  console.log(`  ratio worker/direct: median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`);
} finally {
  await instance.unload();
  await session.release();
  rmSync(dir, { recursive: true, force: true });
}
