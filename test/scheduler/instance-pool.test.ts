/**
 * The instance pool's choice of instance by health (InstanceHealth): batches go to instances that can run while one
 * can; a FAILED instance takes a batch only when none can (so it fails at once rather than waiting for nothing); an
 * instance back from FAILED takes the queue. Driven through the real BatchingScheduler with in-process instances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError, type InferenceRequest, type ModelConfig, type Tensor } from '../../src/core/index.js';
import type { ExecuteResult, InstanceHealth, ModelInstance } from '../../src/backends/backend.js';
import { createBatchScheduler } from '../../src/scheduler/create-scheduler.js';

/** An in-process instance that answers y = x, whose health the test sets; a FAILED one refuses as real ones do. */
class StandIn implements ModelInstance {
  health: InstanceHealth = 'READY';
  healthReason = '';
  runs = 0;
  /** While set, runs wait for it. */
  gate: Promise<void> | undefined;
  private readonly listeners: Array<(h: InstanceHealth) => void> = [];
  constructor(readonly name: string) {}
  set(h: InstanceHealth): void {
    this.health = h;
    this.healthReason = h === 'READY' ? '' : 'test';
    for (const l of this.listeners) l(h);
  }
  onHealthChange(l: (h: InstanceHealth) => void): () => void {
    this.listeners.push(l);
    return () => {};
  }
  async execute(inputs: readonly Tensor[]): Promise<ExecuteResult> {
    if (this.health === 'FAILED') throw new InferenceError('UNAVAILABLE', `instance '${this.name}' FAILED: test`);
    this.runs++;
    await new Promise((r) => setTimeout(r, 2));
    await this.gate;
    const x = inputs[0];
    return { outputs: [{ name: 'y', datatype: 'FP32', shape: x.shape, data: new Float32Array(x.data as Float32Array) }], timing: { inputUs: 0, inferUs: 1000, outputUs: 0 } };
  }
  async unload(): Promise<void> {}
}

const config: ModelConfig = {
  name: 'm', platform: '', backend: 'js', max_batch_size: 4, version_policy: { latest: { num_versions: 1 } },
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [1] }], output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
  instance_group: [], parameters: {}, default_model_filename: 'model.mjs',
};
const req = (v: number): InferenceRequest => ({ model: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: new Float32Array([v]) }] });

test('a FAILED instance gets no batch while another can run; all FAILED fails at once; one back READY takes the queue', async () => {
  const a = new StandIn('m_0_0');
  const b = new StandIn('m_0_1');
  const s = createBatchScheduler({ model: 'm', version: '1', config, instances: [a, b] }, { policy: 'none' });
  a.set('FAILED');
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => s.enqueue(req(i))));
  assert.deepEqual(answers.map((r) => (r.outputs[0].data as Float32Array)[0]), Array.from({ length: 40 }, (_, i) => i));
  assert.equal(a.runs, 0, 'the FAILED instance ran nothing');
  assert.equal(b.runs, 40);

  b.set('FAILED');
  await assert.rejects(s.enqueue(req(1)), (e: InferenceError) => e.code === 'UNAVAILABLE', 'no instance can run: refused at once, not held');

  // a FAILED, b busy: the next request waits for b — until a is back, and takes it at once.
  b.set('READY');
  let open!: () => void;
  b.gate = new Promise((r) => { open = r; });
  const first = s.enqueue(req(1));
  await new Promise((r) => setTimeout(r, 10));
  const second = s.enqueue(req(2));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(a.runs, 0, 'held back from the FAILED instance');
  a.set('READY');
  assert.equal(((await second).outputs[0].data as Float32Array)[0], 2, 'ran on a while b was still busy');
  assert.equal(a.runs, 1);
  open();
  await first;
  await s.drain();
});
