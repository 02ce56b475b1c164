/** Numeric views of initializer payloads (copied so the result is aligned) and tensors built from arrays. */
import { ONNX, type OnnxTensor } from '../onnx-proto/index.js';

export function floatsOf(t: OnnxTensor): Float32Array {
  if (t.elemType !== ONNX.FLOAT || !t.raw) throw new Error(`initializer '${t.name}' is not FLOAT data`);
  // A copy: raw may be an unaligned view into the file (a Buffer, whose slice() would not copy).
  const copy = new Uint8Array(t.raw.byteLength);
  copy.set(t.raw);
  return new Float32Array(copy.buffer);
}

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): OnnxTensor {
  return { name, elemType: ONNX.FLOAT, dims, raw: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function int8Tensor(name: string, dims: readonly number[], values: Int8Array): OnnxTensor {
  return { name, elemType: ONNX.INT8, dims, raw: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** Bytes of every initializer (what the model file spends on weights). */
export function tensorBytes(t: OnnxTensor): number {
  return t.raw?.byteLength ?? t.payloadBytes ?? t.strings?.reduce((n, s) => n + s.byteLength, 0) ?? 0;
}
