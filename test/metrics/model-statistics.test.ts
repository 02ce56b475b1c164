import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchStatsTable, modelStatisticsOf } from '../../src/metrics/model-statistics.js';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';

test('BatchStatsTable agrees with a map of batch size → sums, for sizes that grow the table and sizes past it', () => {
  const size = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 5000 }), fc.constantFrom(1, 8, 4096, 4097, 100_000));
  const batch = fc.tuple(size, fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }));
  fc.assert(fc.property(fc.array(batch, { maxLength: 60 }), (batches) => {
    const table = new BatchStatsTable();
    const ref = new Map<number, number[]>();
    for (const [b, i, n, o] of batches) {
      table.record(b, i, n, o);
      const r = ref.get(b) ?? [0, 0, 0, 0];
      ref.set(b, [r[0] + 1, r[1] + i, r[2] + n, r[3] + o]);
    }
    const expected = [...ref.entries()].sort((a, b) => a[0] - b[0]).map(([b, [c, i, n, o]]) => ({
      batch_size: b,
      compute_input: { count: c, ns: i * 1000 },
      compute_infer: { count: c, ns: n * 1000 },
      compute_output: { count: c, ns: o * 1000 },
    }));
    assert.deepEqual(table.rows(), expected);
  }), { numRuns: 200 });
});

test('statistics read a version\'s metrics as Triton counts them: ns from µs, fail over every reason, queue and compute per success', () => {
  const metrics = new InferenceMetrics();
  const m = metrics.forModel('mlp', '3');
  assert.equal(metrics.forModel('mlp', '3'), m, 'one set of children per version');
  const before = Date.now();
  // Two successful requests run in one batch of 3 rows: the batch's compute counts once per request.
  m.execCount.inc();
  m.inferenceCount.inc(3);
  m.batchStats.record(3, 10.5, 100.25, 2);
  for (const queueUs of [7, 9]) {
    m.success.inc();
    m.requestDurationUs.inc(120);
    m.queueDurationUs.inc(queueUs);
    m.computeInputUs.inc(10.5);
    m.computeInferUs.inc(100.25);
    m.computeOutputUs.inc(2);
  }
  m.failure.BACKEND.inc();
  m.failure.REJECTED.inc(2);
  m.failureDurationUs.inc(0.0004); // rounds to 0 ns
  m.failureDurationUs.inc(33);
  const s = metrics.statistics('mlp', '3');
  assert.ok(s.last_inference >= before && s.last_inference <= Date.now(), 'stamped when the execution was counted');
  assert.deepEqual({ ...s, last_inference: 0 }, {
    name: 'mlp',
    version: '3',
    last_inference: 0,
    inference_count: 3,
    execution_count: 1,
    inference_stats: {
      success: { count: 2, ns: 240_000 },
      fail: { count: 3, ns: 33_000 },
      queue: { count: 2, ns: 16_000 },
      compute_input: { count: 2, ns: 21_000 },
      compute_infer: { count: 2, ns: 200_500 },
      compute_output: { count: 2, ns: 4_000 },
      cache_hit: { count: 0, ns: 0 },
      cache_miss: { count: 0, ns: 0 },
    },
    batch_stats: [{ batch_size: 3, compute_input: { count: 1, ns: 10_500 }, compute_infer: { count: 1, ns: 100_250 }, compute_output: { count: 1, ns: 2_000 } }],
    response_stats: {},
    memory_usage: [],
  });
  for (const [k, v] of Object.entries(s.inference_stats)) {
    assert.ok(Number.isSafeInteger(v.count) && v.count >= 0 && Number.isSafeInteger(v.ns) && v.ns >= 0, k);
  }
  // The Prometheus series count the same executions.
  assert.match(metrics.render(), /nv_inference_exec_count\{model="mlp",version="3"\} 1\n/);
});

test('a version that recorded nothing has every field, all 0; removeModel starts a version over', () => {
  const metrics = new InferenceMetrics();
  const zero = metrics.statistics('never', '1');
  assert.deepEqual(zero, modelStatisticsOf('never', '1', undefined));
  assert.equal(zero.last_inference, 0);
  assert.deepEqual(Object.keys(zero.inference_stats), ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss']);
  for (const v of Object.values(zero.inference_stats)) assert.deepEqual(v, { count: 0, ns: 0 });
  assert.deepEqual(zero.batch_stats, []);
  const m = metrics.forModel('m', '1');
  m.execCount.inc();
  m.batchStats.record(1, 1, 1, 1);
  assert.equal(metrics.statistics('m', '1').execution_count, 1);
  metrics.removeModel('m', '1');
  assert.deepEqual(metrics.statistics('m', '1'), modelStatisticsOf('m', '1', undefined));
  assert.notEqual(metrics.forModel('m', '1'), m);
});
