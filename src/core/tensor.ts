import { type DataType, type TensorData, dataTypeInfo } from './datatype.js';

/** A named, typed, shaped tensor. `data` length always equals the product of `shape`. */
export interface Tensor {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dataLength(data: TensorData): number {
  return data.length;
}

/** Size in bytes of the tensor in the v2 binary encoding (BYTES: 4-byte little-endian length per element). */
export function binaryByteLength(t: Tensor): number {
  const info = dataTypeInfo(t.datatype);
  if (info.byteSize > 0) return (t.data as { byteLength: number }).byteLength;
  let n = 0;
  for (const el of t.data as Uint8Array[]) n += 4 + el.byteLength;
  return n;
}
