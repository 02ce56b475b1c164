import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtoWriter } from '../../src/onnx-proto/protobuf.js';
import { ONNX, readOnnxModel, readOnnxModelHeaders, writeOnnxModelProto } from '../../src/onnx-proto/index.js';
import { mlpLayersModel } from '../fixtures/models.js';

/** A model whose one initializer uses float_data (packed) and another int64_data (packed varints), not raw_data. */
function typedDataModel(): Uint8Array {
  const floats = new ProtoWriter().int(1, 2).int(2, ONNX.FLOAT).bytes(4, new Uint8Array(new Float32Array([1.5, -2]).buffer)).string(8, 'F');
  const ints = new ProtoWriter().int(1, 3).int(2, ONNX.INT64).string(8, 'I');
  const packed = new Uint8Array([0x05, 0xac, 0x02, 0x7f]); // 5, 300, 127
  ints.bytes(7, packed);
  const graph = new ProtoWriter().string(2, 'g').message(5, floats).message(5, ints);
  return new ProtoWriter().int(1, 8).message(7, graph).message(8, new ProtoWriter().string(1, '').int(2, 17)).finish();
}

test('typed data fields read as raw little-endian bytes; headers from disk give sizes without payloads', async () => {
  const m = readOnnxModel(typedDataModel());
  assert.deepEqual(Array.from(new Float32Array(m.graph.initializers.get('F')!.raw!.slice().buffer)), [1.5, -2]);
  assert.deepEqual(Array.from(new BigInt64Array(m.graph.initializers.get('I')!.raw!.slice().buffer)), [5n, 300n, 127n]);
  const file = join(mkdtempSync(join(tmpdir(), 'autoglm-proto-')), 'm.onnx');
  writeFileSync(file, typedDataModel());
  const h = await readOnnxModelHeaders(file);
  assert.deepEqual([...h.graph.initializers.values()].map((t) => [t.name, t.elemType, t.dims, t.payloadBytes, t.raw]), [
    ['F', ONNX.FLOAT, [2], 8, undefined], ['I', ONNX.INT64, [3], 24, undefined],
  ]);
});

test('a parsed model writes back to a file that parses to the same graph; headers agree with the full read', async () => {
  const bytes = mlpLayersModel([8, 16, 4]);
  const m = readOnnxModel(bytes);
  const again = readOnnxModel(writeOnnxModelProto(m));
  assert.deepEqual(again.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs]), m.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs]));
  const file = join(mkdtempSync(join(tmpdir(), 'autoglm-proto-')), 'm.onnx');
  writeFileSync(file, bytes);
  const h = await readOnnxModelHeaders(file);
  assert.deepEqual(h.graph.nodes.map((n) => n.opType), ['Gemm', 'Relu', 'Gemm']);
  assert.deepEqual([...h.graph.initializers.values()].map((t) => t.payloadBytes), [...m.graph.initializers.values()].map((t) => t.raw!.byteLength));
  assert.deepEqual(h.graph.inputs.map((i) => i.dims), [['batch', 8]]);
});
