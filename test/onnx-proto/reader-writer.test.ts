import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { writeOnnxModel, readOnnxModelInfo, ONNX, f32Raw } from '../../src/onnx-proto/index.js';

const model = writeOnnxModel({
  name: 'g',
  nodes: [
    { op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] },
    { op: 'Relu', inputs: ['h'], outputs: ['y'] },
  ],
  inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 2] }],
  outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 3] }],
  initializers: [{ name: 'W', elemType: ONNX.FLOAT, dims: [2, 3], raw: f32Raw([1, -2, 3, 4, 5, -6]) }],
});

test('written models read back with their signature, initializers excluded from inputs', () => {
  const info = readOnnxModelInfo(model);
  assert.equal(info.irVersion, 8);
  assert.deepEqual(info.opsets, [{ domain: '', version: 17 }]);
  assert.deepEqual(info.inputs, [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 2] }]);
  assert.deepEqual(info.outputs, [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 3] }]);
});

test('written models run in onnxruntime and compute what they describe', async () => {
  const s = await ort.InferenceSession.create(model);
  const r = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 1, 2, 0]), [2, 2]) });
  assert.deepEqual(Array.from(r.y.data as Float32Array), [5, 3, 0, 2, 0, 6]);
});

test('bytes that are not ONNX are refused with a reason', () => {
  assert.throws(() => readOnnxModelInfo(new TextEncoder().encode('hello world, not a model')), /./);
  assert.throws(() => readOnnxModelInfo(new Uint8Array([0x0a, 0x05, 0x01])), /truncated/);
});
