import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InferenceRequest, Tensor } from '../../src/core/index.js';
import { BatchBufferPool, concatInputs, rowsOf, shapeKeyOf, splitOutputs } from '../../src/scheduler/batch-assembly.js';

const req = (inputs: Tensor[]): InferenceRequest => ({ model: 'm', inputs });

test('concat then split returns every request its own rows, for random row counts and widths', () => {
  const pool = new BatchBufferPool();
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
    fc.integer({ min: 1, max: 4 }),
    (rowCounts, width) => {
      let v = 0;
      const reqs = rowCounts.map((r) => req([
        { name: 'a', datatype: 'FP32', shape: [r, width], data: Float32Array.from({ length: r * width }, () => v++) },
        { name: 'b', datatype: 'INT64', shape: [r], data: BigInt64Array.from({ length: r }, () => BigInt(v++)) },
        { name: 's', datatype: 'BYTES', shape: [r, 1], data: Array.from({ length: r }, () => new TextEncoder().encode(`s${v++}`)) },
      ]));
      const rows = rowCounts.reduce((x, y) => x + y, 0);
      const batch = concatInputs(reqs, rows, pool);
      assert.deepEqual(batch.map((t) => t.shape), [[rows, width], [rows], [rows, 1]]);
      // The model here is the identity: outputs = inputs; split must give each request exactly its inputs back.
      const per = splitOutputs(batch.map((t) => ({ ...t, data: Array.isArray(t.data) ? [...t.data] : t.data.slice() })) as Tensor[], rowCounts, rows);
      for (let i = 0; i < reqs.length; i++) {
        for (let k = 0; k < 3; k++) {
          assert.deepEqual(per[i][k].shape, reqs[i].inputs[k].shape);
          assert.deepEqual(Array.from(per[i][k].data as ArrayLike<unknown>), Array.from(reqs[i].inputs[k].data as ArrayLike<unknown>));
        }
      }
    },
  ), { numRuns: 200 });
});

test('pooled buffers are reused across batches (no new buffer once grown)', () => {
  const pool = new BatchBufferPool();
  const mk = (n: number) => req([{ name: 'a', datatype: 'FP32', shape: [n, 8], data: new Float32Array(n * 8) }]);
  const b1 = concatInputs([mk(3), mk(5)], 8, pool)[0].data as Float32Array;
  const b2 = concatInputs([mk(1), mk(2)], 3, pool)[0].data as Float32Array;
  assert.equal(b1.buffer, b2.buffer);
  const single = mk(4);
  assert.equal(concatInputs([single], 4, pool)[0], single.inputs[0], 'a batch of one passes its tensors through');
});

test('rows, shape keys, and a split that cannot be done', () => {
  const t = (name: string, shape: number[]): Tensor => ({ name, datatype: 'FP32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  assert.equal(rowsOf(req([t('a', [3, 2]), t('b', [3])])), 3);
  assert.throws(() => rowsOf(req([t('a', [3, 2]), t('b', [2])])), /disagree on the batch dimension/);
  assert.equal(shapeKeyOf(req([t('a', [3, 2]), t('b', [3])])), shapeKeyOf(req([t('b', [1]), t('a', [7, 2])])));
  assert.notEqual(shapeKeyOf(req([t('a', [3, 2])])), shapeKeyOf(req([t('a', [3, 3])])));
  assert.throws(() => splitOutputs([t('y', [4, 2])], [2, 1], 3), /cannot be split back/);
});
