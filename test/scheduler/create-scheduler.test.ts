import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DynamicBatchingConfig, ModelConfig } from '../../src/core/index.js';
import { planScheduler } from '../../src/scheduler/create-scheduler.js';
import { levelOf, queueConfigOf, timeoutOf } from '../../src/scheduler/queue-config.js';
import { warmUpSizes } from '../../src/scheduler/warm-up.js';

const base: ModelConfig = {
  name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 8, version_policy: { latest: { num_versions: 1 } },
  input: [], output: [], instance_group: [], parameters: {}, default_model_filename: 'model.onnx',
};
const db: DynamicBatchingConfig = {
  preferred_batch_size: [4], max_queue_delay_microseconds: 100, preserve_ordering: false, priority_levels: 3, default_priority_level: 2,
  default_queue_policy: { timeout_action: 'REJECT', default_timeout_microseconds: 5000, allow_timeout_override: true, max_queue_size: 10 },
  priority_queue_policy: { '1': { timeout_action: 'DELAY', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 0 } },
};
const param = (v: string) => ({ string_value: v });

test('policy choice: adaptive by default, static with dynamic_batching, the parameter wins, none without a batch dim', () => {
  assert.equal(planScheduler(base).policy, 'adaptive');
  assert.equal(planScheduler({ ...base, dynamic_batching: db }).policy, 'static');
  assert.equal(planScheduler({ ...base, dynamic_batching: db, parameters: { batching_policy: param('adaptive') } }).policy, 'adaptive');
  assert.equal(planScheduler({ ...base, parameters: { batching_policy: param('none') } }).policy, 'none');
  assert.equal(planScheduler({ ...base, max_batch_size: 0 }).policy, 'none');
  assert.equal(planScheduler(base, 'static').policy, 'static');
  assert.equal(planScheduler({ ...base, parameters: { batching_latency_target_us: param('2500') } }).latencyTargetUs, 2500);
  assert.throws(() => planScheduler({ ...base, parameters: { batching_policy: param('greedy') } }), /batching_policy must be one of/);
  assert.throws(() => planScheduler({ ...base, parameters: { batching_latency_target_us: param('-1') } }), /positive number/);
});

test('queue policies: levels, default level, timeout override only shortens, Triton\'s priority rules', () => {
  const qc = queueConfigOf(db);
  assert.equal(qc.levels.length, 3);
  assert.equal(qc.levels[0].timeoutAction, 'DELAY');
  assert.equal(qc.levels[1].maxQueueSize, 10);
  assert.equal(levelOf(qc, 1), 0);
  assert.equal(levelOf(qc, 3), 2);
  assert.equal(levelOf(qc, undefined), 1, 'absent → default_priority_level');
  assert.equal(levelOf(qc, 0), 1, '0 → default');
  assert.equal(levelOf(qc, 9), 1, 'past the last level → default');
  assert.equal(timeoutOf(qc.levels[1], 1000), 1000, 'a shorter timeout overrides');
  assert.equal(timeoutOf(qc.levels[1], 9000), 5000, 'a longer one does not');
  assert.equal(timeoutOf(qc.levels[0], 1000), 0, 'no override when the policy forbids it');
  const open = queueConfigOf(undefined);
  assert.equal(open.levels.length, 1);
  assert.equal(timeoutOf(open.levels[0], 700), 700, 'without dynamic_batching, request timeouts are honoured');
});

test('warm-up sizes: powers of two, the max and the preferred sizes', () => {
  assert.deepEqual(warmUpSizes(48, [12]), [1, 2, 4, 8, 12, 16, 32, 48]);
  assert.deepEqual(warmUpSizes(0), [1]);
});
