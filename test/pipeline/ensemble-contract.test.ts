/**
 * EnsembleScheduler against step runners that break the server's contract (which the real server does not do):
 * the request must still settle with an error naming the step, never crash the process or hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnsembleScheduler, planEnsemble, type StepRunner } from '../../src/pipeline/index.js';
import { InferenceError, type InferenceRequest, type ModelConfig } from '../../src/core/index.js';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';
import { modelConfig, tensorConfig as tc } from './helpers.js';

const models = new Map<string, ModelConfig>([
  ['a', modelConfig({ name: 'a', input: [tc('x', 'TYPE_FP32', [1])], output: [tc('y', 'TYPE_FP32', [1])] })],
  ['b', modelConfig({ name: 'b', input: [tc('x', 'TYPE_FP32', [1])], output: [tc('y', 'TYPE_FP32', [1])] })],
]);
const plan = planEnsemble(modelConfig({
  name: 'ab',
  platform: 'ensemble',
  backend: '',
  input: [tc('in', 'TYPE_FP32', [1])],
  output: [tc('out', 'TYPE_FP32', [1])],
  ensemble_scheduling: { step: [
    { model_name: 'a', model_version: -1, input_map: { x: 'in' }, output_map: { y: 'mid' } },
    { model_name: 'b', model_version: -1, input_map: { x: 'mid' }, output_map: { y: 'out' } },
  ] },
}), (m) => models.get(m) ?? 'is not in the repository');

const request: InferenceRequest = { model: 'ab', inputs: [{ name: 'in', datatype: 'FP32', shape: [1], data: new Float32Array([1]) }] };

test('a step answering without the output it was asked for fails the request, naming the step', async () => {
  const runner: StepRunner = { infer: async (r) => ({ model: r.model, version: '1', outputs: [] }) };
  const s = new EnsembleScheduler({ plan, version: '1', service: runner });
  await assert.rejects(s.enqueue(request), (e: unknown) =>
    e instanceof InferenceError && e.code === 'INTERNAL' && e.message === "ensemble 'ab' step 1 (a): model 'a' returned no output 'y'");
  assert.equal(s.pendingCount, 0);
});

test('a runner that throws instead of rejecting fails the request, naming the step', async () => {
  let calls = 0;
  const runner: StepRunner = {
    infer: (r) => {
      if (++calls === 2) throw new InferenceError('UNAVAILABLE', `model '${r.model}' is not ready`);
      return Promise.resolve({ model: r.model, version: '1', outputs: [{ ...r.inputs[0], name: 'y' }] });
    },
  };
  const s = new EnsembleScheduler({ plan, version: '1', service: runner });
  await assert.rejects(s.enqueue(request), (e: unknown) =>
    e instanceof InferenceError && e.code === 'UNAVAILABLE' && e.message === "ensemble 'ab' step 2 (b): model 'b' is not ready");
});

test('drain waits for requests in flight and then refuses new ones', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const runner: StepRunner = { infer: async (r) => { await gate; return { model: r.model, version: '1', outputs: [{ ...r.inputs[0], name: 'y' }] }; } };
  const s = new EnsembleScheduler({ plan, version: '1', service: runner });
  const inFlight = s.enqueue(request);
  let drained = false;
  const draining = s.drain().then(() => { drained = true; });
  await assert.rejects(s.enqueue(request), (e: unknown) => e instanceof InferenceError && e.code === 'UNAVAILABLE');
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false);
  release();
  const r = await inFlight;
  assert.deepEqual(Array.from(r.outputs[0].data as Float32Array), [1]);
  assert.equal(r.outputs[0].name, 'out');
  await draining;
  assert.equal(drained, true);
});

test('metrics: the ensemble counts its own requests (success, failure by reason, inferences, latency)', async () => {
  const metrics = new InferenceMetrics();
  let fail = false;
  const runner: StepRunner = {
    infer: async (r) => {
      if (fail && r.model === 'b') throw new InferenceError('INTERNAL', 'b broke');
      return { model: r.model, version: '1', outputs: [{ ...r.inputs[0], name: 'y' }] };
    },
  };
  const s = new EnsembleScheduler({ plan, version: '1', service: runner, metrics: metrics.forModel('ab', '1') });
  await s.enqueue(request);
  await s.enqueue(request);
  fail = true;
  await assert.rejects(s.enqueue(request));
  const text = metrics.render();
  assert.match(text, /nv_inference_request_success\{model="ab",version="1"\} 2/);
  assert.match(text, /nv_inference_request_failure\{model="ab",version="1",reason="BACKEND"\} 1/);
  assert.match(text, /nv_inference_count\{model="ab",version="1"\} 2/);
  assert.match(text, /nv_inference_pending_request_count\{model="ab",version="1"\} 0/);
  assert.match(text, /autoglm_request_duration_us_count\{model="ab",version="1"\} 2/);
});
