/** ONNX instances as things that start, fail to start, run off the main thread, die and unload. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError, type Tensor } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import { createBackends } from '../../src/backends/index.js';
import { mlpModel, seededFloats, slowModel } from '../fixtures/models.js';
import { tempModel } from './onnx-helpers.js';

const backend = new OnnxBackend();
// ~280 ms per run on one core of this machine (64 chained 512×512 MatMul+Tanh at batch 1024).
const SLOW_STEPS = 64;
const SLOW_BATCH = 1024;
const slowInput = (): Tensor => ({ name: 'x', datatype: 'FP32', shape: [SLOW_BATCH, 512], data: seededFloats(SLOW_BATCH * 512, 9, 1) });

async function loadFails(spec: Parameters<OnnxBackend['createInstance']>[0], pattern: RegExp): Promise<void> {
  await assert.rejects(backend.createInstance(spec), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, pattern);
    return true;
  });
}

test('the registry offers the onnxruntime backend', () => {
  const backends = createBackends();
  assert.ok(backends.get('onnxruntime') instanceof OnnxBackend);
});

test('a corrupt or missing model file fails createInstance with a message naming the file and the cause', async () => {
  const m = tempModel('corrupt', new Uint8Array([0x08, 0x07, 0x12, 0xff, 0xff, 0x01, 0x02, 0x03]));
  try {
    await loadFails(m.spec(), new RegExp(`instance 'corrupt_0_0'.*cannot load ${m.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*protobuf parsing failed`, 'i'));
    await loadFails(m.spec({ modelPath: `${m.path}.missing` }), /cannot load .*model\.onnx\.missing/);
  } finally {
    m.remove();
  }
});

test('bad session parameters and unavailable execution providers fail with a clear reason', async () => {
  const m = tempModel('mlp', mlpModel(4, 4, 2).bytes);
  try {
    await loadFails(m.spec({ config: { parameters: { intra_op_thread_count: { string_value: 'many' } } } }), /intra_op_thread_count must be a positive integer, got 'many'/);
    await loadFails(m.spec({ config: { parameters: { graph_optimization_level: { string_value: 'max' } } } }), /graph_optimization_level must be one of disabled, basic, extended, all/);
    // This machine has onnxruntime-node's CPU build: asking for CUDA says how to install the CUDA build.
    await loadFails(m.spec({ kind: 'KIND_GPU', gpu: 0 }), /execution provider 'cuda'.*npm ci --onnxruntime-node-install=cuda12/);
    const trt = { optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: {} }], cpu_execution_accelerator: [] } } };
    await loadFails(m.spec({ kind: 'KIND_GPU', gpu: 1, config: trt }), /execution provider 'tensorrt'.*cuda12/);
    // The same options that are valid load and run.
    const ok = await backend.createInstance(m.spec({ config: { parameters: {
      intra_op_thread_count: { string_value: '1' }, inter_op_thread_count: { string_value: '1' },
      execution_mode: { string_value: 'parallel' }, graph_optimization_level: { string_value: 'disabled' },
      enable_mem_pattern: { string_value: 'false' }, enable_cpu_mem_arena: { string_value: 'false' },
    } } }));
    const r = await ok.execute([{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) }], ['output']);
    assert.deepEqual(r.outputs[0].shape, [1, 2]);
    await ok.unload();
  } finally {
    m.remove();
  }
});

test('the event loop stays free while a slow model computes', async () => {
  const m = tempModel('slow', slowModel(SLOW_STEPS));
  const inst = await backend.createInstance(m.spec());
  try {
    const started = performance.now();
    let settledAt = Infinity;
    const run = inst.execute([slowInput()], ['y']).then((r) => { settledAt = performance.now(); return r; });
    const firedAt = await new Promise<number>((resolve) => setTimeout(() => resolve(performance.now()), 10));
    const r = await run;
    const inferMs = r.timing.inferUs / 1000;
    const lateMs = firedAt - started - 10;
    // The timer fires while the run is still computing, and nowhere near as late as the run is long.
    assert.ok(firedAt < settledAt, `timer fired at ${firedAt - started} ms, after the run settled at ${settledAt - started} ms`);
    assert.ok(lateMs < Math.max(100, inferMs / 2), `timer ${lateMs.toFixed(1)} ms late during a ${inferMs.toFixed(0)} ms run`);
  } finally {
    await inst.unload();
    m.remove();
  }
});

test('two instances of one model run at the same time, each with its own answer', async () => {
  const { bytes, reference } = mlpModel(8, 16, 3, 11);
  const m = tempModel('mlp', bytes);
  const [a, b] = await Promise.all([backend.createInstance(m.spec({ instanceName: 'mlp_0_0' })), backend.createInstance(m.spec({ instanceName: 'mlp_0_1' }))]);
  try {
    const xa = seededFloats(5 * 8, 1, 1);
    const xb = seededFloats(9 * 8, 2, 1);
    const [ra, rb] = await Promise.all([
      a.execute([{ name: 'input', datatype: 'FP32', shape: [5, 8], data: xa }], ['output']),
      b.execute([{ name: 'input', datatype: 'FP32', shape: [9, 8], data: xb }], ['output']),
    ]);
    for (const [r, x, batch] of [[ra, xa, 5], [rb, xb, 9]] as const) {
      const want = reference(x, batch);
      const got = r.outputs[0].data as Float32Array;
      assert.equal(got.length, want.length);
      want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-4));
    }
  } finally {
    await Promise.all([a.unload(), b.unload()]);
    m.remove();
  }
});

function isUnavailable(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof InferenceError, String(err));
    assert.equal(err.code, 'UNAVAILABLE');
    assert.match(err.message, pattern);
    return true;
  };
}

test('unload during a run rejects it with UNAVAILABLE before the run ends; later calls are refused', async () => {
  const m = tempModel('slow', slowModel(SLOW_STEPS));
  const inst = await backend.createInstance(m.spec());
  try {
    let unloaded = false;
    const run = inst.execute([slowInput()], ['y']);
    await new Promise((r) => setTimeout(r, 20));
    const unloading = inst.unload().then(() => { unloaded = true; });
    await assert.rejects(run, isUnavailable(/unloaded/));
    // The caller hears at once; the worker is ended only after its native run returns (it cannot be interrupted).
    assert.equal(unloaded, false);
    await unloading;
    await assert.rejects(inst.execute([slowInput()], ['y']), isUnavailable(/unavailable: unloaded/));
    await inst.unload(); // idempotent
  } finally {
    m.remove();
  }
});

// Worker deaths, restarts and the restart budget: instance-conformance.test.ts (every instance kind).
