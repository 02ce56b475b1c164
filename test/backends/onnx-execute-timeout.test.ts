/**
 * execute_timeout_ms for ONNX instances (issue 14). onnxruntime-node cannot interrupt a run, and ending its thread
 * inside one aborts the process, so an overrun is abandoned: the batch fails at once with INTERNAL naming the limit,
 * a new worker takes over (the next call runs there), and the old thread finishes its run and is then ended.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError, type Tensor } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import { seededFloats, slowModel } from '../fixtures/models.js';
import { tempModel } from './onnx-helpers.js';

const backend = new OnnxBackend();
// 200 chained 512×512 MatMul+Tanh: ~8 ms at batch 1, ~2.6 s at batch 4096 on one core of this machine — both far
// from the 250 ms limit (a machine 4× faster still overruns by 2.5×; one 4× slower still has 8× headroom).
const STEPS = 200;
const LIMIT_MS = 250;
const input = (batch: number): Tensor => ({ name: 'x', datatype: 'FP32', shape: [batch, 512], data: seededFloats(batch * 512, 5, 1) });

test('execute_timeout_ms: an overrun fails its batch (INTERNAL, naming the limit), the next call runs on a new worker, unload waits for the abandoned run', { timeout: 60_000 }, async (t) => {
  const m = tempModel('slow', slowModel(STEPS));
  const inst = await backend.createInstance(m.spec({ config: { parameters: { execute_timeout_ms: { string_value: String(LIMIT_MS) } } } }));
  const seen: string[] = [];
  inst.onHealthChange!((h) => seen.push(h));
  let unloaded = false;
  try {
    const before = await inst.execute([input(1)], ['y']);
    const t0 = performance.now();
    await assert.rejects(inst.execute([input(4096)], ['y']), (err: unknown) => {
      assert.ok(err instanceof InferenceError, String(err));
      assert.equal(err.code, 'INTERNAL');
      assert.match(err.message, /model 'slow' \(slow_0_0\): execute took longer than 250 ms \(execute_timeout_ms\); the batch was abandoned/);
      return true;
    });
    const failedMs = performance.now() - t0;
    // The next call waits for the replacement, then runs there, right (same input, same answer as before).
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const after = await inst.execute([input(1)], ['y']);
    assert.deepEqual(after.outputs[0].shape, [1, 512]);
    assert.deepEqual(after.outputs[0].data, before.outputs[0].data);
    assert.deepEqual(seen, ['RESTARTING', 'READY']);
    assert.equal(inst.health, 'READY');
    // Not asserted (timing): the abandoned thread still computing while the replacement serves.
    const cpu = process.cpuUsage(c0);
    const wallMs = performance.now() - w0;
    t.diagnostic(`overrun failed after ${failedMs.toFixed(0)} ms; replacement answered ${wallMs.toFixed(0)} ms later, ` +
      `process CPU meanwhile ${((cpu.user + cpu.system) / 1000 / wallMs).toFixed(2)} cores`);
    const u0 = performance.now();
    await inst.unload();
    unloaded = true;
    t.diagnostic(`unload took ${(performance.now() - u0).toFixed(0)} ms (it waits for the abandoned run to return)`);
    assert.equal(inst.health, 'UNLOADED');
  } finally {
    if (!unloaded) await inst.unload();
    m.remove();
  }
});

test('execute_timeout_ms: runs within the limit are untouched; a bad value fails the load naming the parameter', { timeout: 30_000 }, async () => {
  const m = tempModel('slow', slowModel(STEPS));
  try {
    const inst = await backend.createInstance(m.spec({ config: { parameters: { execute_timeout_ms: { string_value: '20000' } } } }));
    for (let i = 0; i < 5; i++) assert.deepEqual((await inst.execute([input(8)], ['y'])).outputs[0].shape, [8, 512]);
    assert.equal(inst.health, 'READY');
    await inst.unload();
    for (const bad of ['soon', '-1', '1.5']) {
      await assert.rejects(backend.createInstance(m.spec({ config: { parameters: { execute_timeout_ms: { string_value: bad } } } })),
        new RegExp(`parameter execute_timeout_ms must be a whole number of milliseconds ≥ 0, got '${bad.replace('.', '\\.')}'`));
    }
  } finally {
    m.remove();
  }
});
