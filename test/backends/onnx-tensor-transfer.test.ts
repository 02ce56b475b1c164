/** The transfer-buffer layout (tensor-transfer.ts), checked against the tensors themselves with random inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DATATYPES, dataTypeInfo, viewOf, type DataType, type Tensor } from '../../src/core/index.js';
import { bytesElements, packInputs, transferSize } from '../../src/backends/onnx/tensor-transfer.js';

/** A tensor of `dt` with random contents (numeric: random bytes reinterpreted, so every bit pattern occurs). */
const tensorArb = (dt: DataType, i: number): fc.Arbitrary<Tensor> =>
  fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 5 })).chain(([rows, cols]) => {
    const count = rows * cols;
    const info = dataTypeInfo(dt);
    const data: fc.Arbitrary<Tensor['data']> = info.byteSize === 0
      ? fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: count, maxLength: count })
      : fc.uint8Array({ minLength: count * info.byteSize, maxLength: count * info.byteSize })
        .map((b) => viewOf(dt, b.slice().buffer, 0, count));
    return data.map((d) => ({ name: `t${i}`, datatype: dt, shape: [rows, cols], data: d }));
  });

const tensorsArb = fc.array(fc.constantFrom(...DATATYPES), { minLength: 1, maxLength: 6 })
  .chain((dts) => fc.tuple(...dts.map((dt, i) => tensorArb(dt, i))));

test('packed inputs read back exactly, aligned and apart, even in a reused dirty buffer', () => {
  fc.assert(fc.property(tensorsArb, fc.integer({ min: 0, max: 64 }), (tensors, slack) => {
    const size = transferSize(tensors);
    const buffer = new ArrayBuffer(size + slack);
    new Uint8Array(buffer).fill(0xa5); // a reused buffer holds the previous call's bytes
    const wire = packInputs(tensors, buffer);
    let end = 0;
    wire.forEach((w, i) => {
      const t = tensors[i];
      assert.equal(w.byteOffset % 8, 0);
      assert.ok(w.byteOffset >= end && w.byteOffset + w.byteLength <= size);
      end = w.byteOffset + w.byteLength;
      const count = t.shape[0] * t.shape[1];
      const back = dataTypeInfo(t.datatype).byteSize === 0
        ? bytesElements(buffer, w.byteOffset, count)
        : viewOf(t.datatype, buffer, w.byteOffset, count);
      assert.deepEqual(back, t.data);
    });
  }), { numRuns: 300 });
});
