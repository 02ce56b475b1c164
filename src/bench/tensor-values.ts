/** Binary tensor data (the v2 binary extension's layout, gRPC's raw contents) as plain values, for comparing answers. */
import { dataTypeInfo, isDataType, viewOf } from '../core/index.js';

/** `size` bytes at `offset` of `body` as values of `datatype` (BYTES: UTF-8 strings; 64-bit integers as numbers). */
export function decodeBinaryValues(datatype: string, body: Buffer, offset: number, size: number): (number | string)[] {
  if (!isDataType(datatype)) throw new Error(`unknown datatype ${datatype}`);
  if (datatype === 'BYTES') {
    const vals: string[] = [];
    for (let p = offset; p < offset + size;) {
      const len = body.readUInt32LE(p);
      vals.push(body.toString('utf8', p + 4, p + 4 + len));
      p += 4 + len;
    }
    return vals;
  }
  const info = dataTypeInfo(datatype);
  // Copy to an aligned buffer: the data's offset in the body need not be a multiple of the element size.
  const copy = new Uint8Array(size);
  copy.set(body.subarray(offset, offset + size));
  const arr = viewOf(datatype, copy.buffer, 0, size / info.byteSize);
  return Array.from(arr as ArrayLike<number | bigint>, Number);
}
