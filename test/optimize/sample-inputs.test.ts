import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ONNX } from '../../src/onnx-proto/index.js';
import { planFromSamples, randomFeeds } from '../../src/optimize/sample-inputs.js';

const inputs = [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 3, 'h', 'w'] }, { name: 'ids', elemType: ONNX.INT64, dims: ['batch', 'len'] }];

test('random feeds follow declared shapes, --dim values and the batch; values in [-1, 1) by default', () => {
  const f = randomFeeds(inputs, 5, { dims: new Map([['h', 8], ['ids:1', 4]]), defaultDim: 2 }, 1);
  assert.deepEqual(f.x.dims, [5, 3, 8, 2]);
  assert.deepEqual(f.ids.dims, [5, 4]);
  assert.ok((f.x.data as Float32Array).every((v) => v >= -1 && v < 1));
});

test('with real samples, timing inputs take their non-batch dimensions and observed value range', () => {
  const sample = (lo: number) => ({
    x: new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * 6 * 10 }, (_, i) => lo + (i % 7)), [2, 3, 6, 10]),
    ids: new ort.Tensor('int64', new BigInt64Array(2 * 5), [2, 5]),
  });
  const plan = planFromSamples(inputs, [sample(10), sample(20)], { dims: new Map(), defaultDim: 16 });
  assert.deepEqual(plan.ranges?.get('x'), [10, 26]);
  const f = randomFeeds(inputs, 3, plan, 2);
  assert.deepEqual(f.x.dims, [3, 3, 6, 10]);
  assert.deepEqual(f.ids.dims, [3, 5]);
  assert.ok((f.x.data as Float32Array).every((v) => v >= 10 && v <= 26));
});
