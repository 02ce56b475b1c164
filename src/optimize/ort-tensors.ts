/** ONNX Runtime tensors ↔ OnnxTensor (initializer) values. */
import * as ort from 'onnxruntime-node';
import { ONNX, type OnnxTensor } from '../onnx-proto/index.js';

const ELEM_OF_ORT_TYPE: Readonly<Record<string, number>> = {
  float32: ONNX.FLOAT, uint8: ONNX.UINT8, int8: ONNX.INT8, uint16: ONNX.UINT16, int16: ONNX.INT16, int32: ONNX.INT32,
  int64: ONNX.INT64, string: ONNX.STRING, bool: ONNX.BOOL, float16: ONNX.FLOAT16, float64: ONNX.DOUBLE,
  uint32: ONNX.UINT32, uint64: ONNX.UINT64,
};

export function tensorFromOrt(name: string, t: ort.Tensor): OnnxTensor {
  const elemType = ELEM_OF_ORT_TYPE[t.type];
  if (elemType === undefined) throw new Error(`value '${name}': ONNX Runtime type ${t.type} has no ONNX element type here`);
  const dims = t.dims.map(Number);
  if (t.type === 'string') {
    const enc = new TextEncoder();
    return { name, elemType, dims, strings: (t.data as string[]).map((s) => enc.encode(s)) };
  }
  const data = t.data as ArrayBufferView;
  return { name, elemType, dims, raw: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}
