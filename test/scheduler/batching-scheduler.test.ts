/** BatchingScheduler over real onnxruntime instances (worker threads) of small ONNX models. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { InferenceError, type InferenceRequest, type ModelConfig, type Tensor } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import { InstanceDiedError, type ModelInstance } from '../../src/backends/backend.js';
import { createBatchScheduler } from '../../src/scheduler/create-scheduler.js';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';
import { ONNX, writeOnnxModel } from '../../src/onnx-proto/index.js';
import { mlpModel, seededFloats, slowModel } from '../fixtures/models.js';
import { tempModel, type TempModel } from '../backends/onnx-helpers.js';

const backend = new OnnxBackend();
const IN = 16, OUT = 4;
const { bytes: mlpBytes, reference } = mlpModel(IN, 32, OUT, 3);
/** y = x, x: FP32 [batch, n] with n variable: requests with different n must not share a batch. */
const identityBytes = writeOnnxModel({
  name: 'ident', nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 'n'] }], outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 'n'] }],
});

const files: TempModel[] = [];
const instances: ModelInstance[] = [];

function cfg(name: string, inDims: number[], outDims: number[], extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    name, platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 64, version_policy: { latest: { num_versions: 1 } },
    input: [{ name: name === 'slow' ? 'x' : name === 'ident' ? 'x' : 'input', data_type: 'TYPE_FP32', dims: inDims }],
    output: [{ name: name === 'slow' ? 'y' : name === 'ident' ? 'y' : 'output', data_type: 'TYPE_FP32', dims: outDims }],
    instance_group: [], parameters: {}, default_model_filename: 'model.onnx', ...extra,
  };
}

async function load(name: string, bytes: Uint8Array, config: ModelConfig, count: number): Promise<ModelInstance[]> {
  const f = tempModel(name, bytes);
  files.push(f);
  const made = await Promise.all(Array.from({ length: count }, (_, i) => backend.createInstance(f.spec({ config, instanceName: `${name}_0_${i}` }))));
  instances.push(...made);
  return made;
}

let mlp: ModelInstance[];
let ident: ModelInstance[];
let slow: ModelInstance[];
const mlpConfig = cfg('mlp', [IN], [OUT]);
const identConfig = cfg('ident', [-1], [-1]);
const slowConfig = cfg('slow', [512], [512], {
  max_batch_size: 1024,
  dynamic_batching: {
    preferred_batch_size: [], max_queue_delay_microseconds: 0, preserve_ordering: false, priority_levels: 2, default_priority_level: 2,
    default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: true, max_queue_size: 3 },
    priority_queue_policy: {},
  },
});

before(async () => {
  [mlp, ident, slow] = await Promise.all([
    load('mlp', mlpBytes, mlpConfig, 2), load('ident', identityBytes, identConfig, 1), load('slow', slowModel(8), slowConfig, 1),
  ]);
});

after(async () => {
  await Promise.all(instances.map((i) => i.unload()));
  for (const f of files) f.remove();
});

const req = (model: string, name: string, rows: number, width: number, seed: number, extra: Partial<InferenceRequest> = {}): InferenceRequest => ({
  model, inputs: [{ name, datatype: 'FP32', shape: [rows, width], data: seededFloats(rows * width, seed, 1) }], ...extra,
});

test('concurrent requests (1 and 3 rows) are batched on two instances and each gets its own rows back', async () => {
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'mlp', version: '1', config: mlpConfig, instances: mlp }, { metrics: metrics.forModel('mlp', '1') });
  await s.warmUp();
  const reqs = Array.from({ length: 60 }, (_, i) => req('mlp', 'input', i % 5 === 0 ? 3 : 1, IN, 100 + i, { id: `r${i}` }));
  const res = await Promise.all(reqs.map((r) => s.enqueue(r)));
  for (let i = 0; i < reqs.length; i++) {
    const x = reqs[i].inputs[0];
    assert.equal(res[i].id, `r${i}`);
    assert.deepEqual(res[i].outputs[0].shape, [x.shape[0], OUT]);
    const want = reference(x.data as Float32Array, x.shape[0]);
    const got = res[i].outputs[0].data as Float32Array;
    for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[j] - want[j]) < 1e-4, `request ${i} element ${j}`);
  }
  const text = metrics.render();
  const execs = Number(/nv_inference_exec_count\{model="mlp",version="1"\} (\d+)/.exec(text)![1]);
  assert.ok(execs < reqs.length, `60 requests ran in ${execs} executions`);
  assert.match(text, /nv_inference_count\{model="mlp",version="1"\} 84\n/);
  assert.match(text, /nv_inference_request_success\{model="mlp",version="1"\} 60\n/);
  await s.drain();
});

test('requests whose non-batch dims differ never share a batch', async () => {
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'ident', version: '1', config: identConfig, instances: ident }, { metrics: metrics.forModel('ident', '1'), warmUp: false });
  const reqs = Array.from({ length: 30 }, (_, i) => req('ident', 'x', 1 + (i % 2), 2 + (i % 3), i));
  const res = await Promise.all(reqs.map((r) => s.enqueue(r)));
  for (let i = 0; i < reqs.length; i++) {
    assert.deepEqual(res[i].outputs[0].shape, reqs[i].inputs[0].shape);
    assert.deepEqual(Array.from(res[i].outputs[0].data as Float32Array), Array.from(reqs[i].inputs[0].data as Float32Array));
  }
  const execs = Number(/nv_inference_exec_count\{model="ident",version="1"\} (\d+)/.exec(metrics.render())![1]);
  assert.ok(execs < reqs.length, `30 requests ran in ${execs} executions`);
  await s.drain();
});

test('a request whose deadline passes while the instance is busy is answered DEADLINE_EXCEEDED at once', async () => {
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'slow', version: '1', config: slowConfig, instances: slow }, { metrics: metrics.forModel('slow', '1'), warmUp: false });
  const busy = Array.from({ length: 3 }, (_, i) => s.enqueue(req('slow', 'x', 1024, 512, i)));
  const t0 = performance.now();
  const late = s.enqueue(req('slow', 'x', 1, 512, 9, { timeoutUs: 5_000 }));
  await assert.rejects(late, (e: unknown) => e instanceof InferenceError && e.code === 'DEADLINE_EXCEEDED' && /timeout/.test(e.message));
  const waited = performance.now() - t0;
  const done = await Promise.all(busy);
  const finished = performance.now() - t0;
  assert.ok(waited < finished, `rejected after ${waited.toFixed(1)} ms, before the busy batches ended (${finished.toFixed(1)} ms)`);
  assert.equal(done.length, 3);
  assert.match(metrics.render(), /autoglm_deadline_exceeded\{model="slow",version="1"\} 1\n/);
  await s.drain();
});

test('a request still running at its deadline is answered DEADLINE_EXCEEDED then, not when its batch ends', async () => {
  const metrics = new InferenceMetrics();
  // No warm-up: nothing predicts that 1024 rows cannot finish in 1 ms, so the request is admitted and runs.
  const s = createBatchScheduler({ model: 'slow', version: '1', config: slowConfig, instances: slow }, { metrics: metrics.forModel('slow', '1'), warmUp: false });
  const t0 = performance.now();
  await assert.rejects(s.enqueue(req('slow', 'x', 1024, 512, 1, { timeoutUs: 1_000 })), (e: unknown) =>
    e instanceof InferenceError && e.code === 'DEADLINE_EXCEEDED' && /batch was still running/.test(e.message));
  const answeredMs = performance.now() - t0;
  const t1 = performance.now();
  await s.enqueue(req('slow', 'x', 1024, 512, 2)); // waits for the first batch, then runs its own
  const twoBatchesMs = performance.now() - t1 + answeredMs;
  assert.ok(answeredMs < twoBatchesMs / 2, `answered after ${answeredMs.toFixed(1)} ms; two batches took ${twoBatchesMs.toFixed(1)} ms`);
  assert.match(metrics.render(), /autoglm_deadline_exceeded_running\{model="slow",version="1"\} 1\n/);
  await s.drain();
});

test('priority 1 runs before queued priority 2; an aborted request leaves the queue; a full level refuses with retry', async () => {
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'slow', version: '1', config: slowConfig, instances: slow }, { metrics: metrics.forModel('slow', '1'), warmUp: false });
  const order: string[] = [];
  const track = (p: Promise<unknown>, name: string) => p.then(() => order.push(name), (e) => { order.push(`${name}:${(e as InferenceError).code}`); });
  const first = track(s.enqueue(req('slow', 'x', 1024, 512, 1)), 'busy'); // starts at once
  const ac = new AbortController();
  const low = track(s.enqueue(req('slow', 'x', 1, 512, 2, { priority: 2 })), 'low');
  const gone = track(s.enqueue(req('slow', 'x', 1, 512, 3, { priority: 2, signal: ac.signal })), 'aborted');
  const high = track(s.enqueue(req('slow', 'x', 1, 512, 4, { priority: 1 })), 'high');
  // Level 2 (default) holds 3 at most: low, aborted … and one more; then it is full.
  const extra = track(s.enqueue(req('slow', 'x', 1, 512, 5)), 'extra');
  await assert.rejects(s.enqueue(req('slow', 'x', 1, 512, 6)), (e: unknown) =>
    e instanceof InferenceError && e.code === 'QUEUE_FULL' && e.httpStatus === 429 && (e.retryAfterSec ?? 0) >= 1);
  ac.abort();
  await Promise.all([first, low, gone, high, extra]);
  assert.equal(order[0], 'aborted:CANCELLED', 'cancelled at once, while queued');
  assert.equal(order[1], 'busy');
  assert.ok(order.indexOf('high') < order.indexOf('low'), order.join(' '));
  assert.equal(s.pendingCount, 0);
  assert.match(metrics.render(), /nv_inference_request_failure\{model="slow",version="1",reason="CANCELED"\} 1\n/);
  await s.drain();
  await assert.rejects(s.enqueue(req('slow', 'x', 1, 512, 7)), (e: unknown) => e instanceof InferenceError && e.code === 'UNAVAILABLE');
});

test('a request timeout counts from when the frontend received it, not from enqueue', async () => {
  const s = createBatchScheduler({ model: 'mlp', version: '1', config: mlpConfig, instances: mlp }, { warmUp: false });
  const nowUs = performance.now() * 1000;
  // Received 100 ms ago with a 50 ms timeout: already past its deadline when it reaches the scheduler.
  await assert.rejects(s.enqueue(req('mlp', 'input', 1, IN, 1, { timeoutUs: 50_000, receivedUs: nowUs - 100_000 })), (e: unknown) =>
    e instanceof InferenceError && e.code === 'DEADLINE_EXCEEDED' && /50\.0 ms from when the server received it/.test(e.message));
  // The same timeout counted from enqueue (no receivedUs), or from a recent receipt, runs.
  await s.enqueue(req('mlp', 'input', 1, IN, 2, { timeoutUs: 50_000 }));
  await s.enqueue(req('mlp', 'input', 1, IN, 3, { timeoutUs: 50_000, receivedUs: performance.now() * 1000 }));
  await s.drain();
});

test('batching "none" runs one request per execution; a request past max_batch_size is INVALID_ARGUMENT', async () => {
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'mlp', version: '1', config: mlpConfig, instances: mlp }, { metrics: metrics.forModel('mlp', '1'), policy: 'none' });
  await s.warmUp();
  const reqs = Array.from({ length: 12 }, (_, i) => req('mlp', 'input', 2, IN, i));
  await Promise.all(reqs.map((r) => s.enqueue(r)));
  assert.match(metrics.render(), /nv_inference_exec_count\{model="mlp",version="1"\} 12\n/);
  await assert.rejects(s.enqueue(req('mlp', 'input', 65, IN, 1)), (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT');
  await s.drain();
});

test('drain finishes what is queued and running, then refuses; preserve_ordering answers in admission order', async () => {
  const config: ModelConfig = { ...mlpConfig, dynamic_batching: {
    preferred_batch_size: [], max_queue_delay_microseconds: 0, preserve_ordering: true, priority_levels: 0, default_priority_level: 0,
    priority_queue_policy: {},
  } };
  const s = createBatchScheduler({ model: 'mlp', version: '1', config, instances: mlp }, { warmUp: false });
  const done: number[] = [];
  // Requests of very different sizes on two instances: without ordering, small ones could overtake big ones.
  const ps = Array.from({ length: 20 }, (_, i) => s.enqueue(req('mlp', 'input', i % 2 === 0 ? 64 : 1, IN, i)).then(() => { done.push(i); }));
  await s.drain();
  assert.equal(done.length, 20, 'drain resolved after every queued request was answered');
  assert.deepEqual(done, Array.from({ length: 20 }, (_, i) => i));
  await Promise.all(ps);
  await assert.rejects(s.enqueue(req('mlp', 'input', 1, IN, 1)), (e: unknown) => e instanceof InferenceError && e.code === 'UNAVAILABLE');
});

test('a batch whose worker died under it runs once more on the replacement; a second death fails it', async () => {
  // The real instance behind a stand-in for deaths mid-run (ending an ONNX worker inside session.run aborts the
  // process, so the death is reported the way OnnxInstance reports it, then the real run happens).
  let deaths = 0;
  const dying: ModelInstance = {
    name: 'mlp_dying',
    execute: (inputs, names) => (deaths-- > 0 ? Promise.reject(new InstanceDiedError('worker exited (code 1)')) : mlp[0].execute(inputs, names)),
    unload: async () => {},
  };
  const metrics = new InferenceMetrics();
  const s = createBatchScheduler({ model: 'mlp', version: '1', config: mlpConfig, instances: [dying] }, { metrics: metrics.forModel('mlp', '1'), warmUp: false });
  const r = req('mlp', 'input', 2, IN, 7);
  deaths = 1;
  const res = await s.enqueue(r);
  const want = reference(r.inputs[0].data as Float32Array, 2);
  const got = res.outputs[0].data as Float32Array;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5);
  deaths = 2;
  await assert.rejects(s.enqueue(req('mlp', 'input', 1, IN, 8)), (e: unknown) => e instanceof InstanceDiedError);
  const text = metrics.render();
  assert.match(text, /autoglm_batch_retries\{model="mlp",version="1"\} 2/);
  assert.match(text, /nv_inference_request_failure\{model="mlp",version="1",reason="BACKEND"\} 1/);
  await s.drain();
});
