import { type DataType, type TensorData, type Tensor, dataTypeInfo, invalidArgument, binaryByteLength } from '../../core/index.js';

/**
 * The v2 binary tensor data extension: tensor bytes follow the JSON header, in the order of the tensors that
 * declare `binary_data_size`. Numeric tensors are little-endian elements; BYTES elements are each a 4-byte
 * little-endian length followed by that many bytes.
 */

/**
 * Reads one tensor from `size` bytes at `offset` of `body`. Numeric data is a view into the body (no copy) when
 * the offset is aligned for the element size, else one copy. BYTES elements are views too.
 */
export function decodeBinaryData(
  name: string, dt: DataType, body: Uint8Array, offset: number, size: number, expected: number,
): TensorData {
  const info = dataTypeInfo(dt);
  if (info.byteSize > 0) {
    if (size !== expected * info.byteSize) {
      throw invalidArgument(`input '${name}': binary_data_size ${size} does not match ${expected} ${dt} elements (${expected * info.byteSize} bytes)`);
    }
    const ctor = info.array!;
    const at = body.byteOffset + offset;
    if (at % info.byteSize === 0) return new ctor(body.buffer as ArrayBuffer, at, expected);
    return new ctor(body.buffer.slice(at, at + size) as ArrayBuffer);
  }
  const out: Uint8Array[] = new Array(expected);
  const view = new DataView(body.buffer, body.byteOffset + offset, size);
  let p = 0;
  for (let i = 0; i < expected; i++) {
    if (p + 4 > size) throw invalidArgument(`input '${name}': binary BYTES data ends inside element ${i} of ${expected}`);
    const len = view.getUint32(p, true);
    p += 4;
    if (p + len > size) throw invalidArgument(`input '${name}': binary BYTES element ${i} (length ${len}) runs past binary_data_size ${size}`);
    out[i] = body.subarray(offset + p, offset + p + len);
    p += len;
  }
  if (p !== size) throw invalidArgument(`input '${name}': binary_data_size ${size} holds ${size - p} bytes more than ${expected} BYTES elements`);
  return out;
}

/** The tensor's bytes in the binary encoding (numeric: a view of its storage, no copy). */
export function encodeBinaryData(t: Tensor): Uint8Array {
  const info = dataTypeInfo(t.datatype);
  if (info.byteSize > 0) {
    const a = t.data as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
    return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  }
  const out = new Uint8Array(binaryByteLength(t));
  const view = new DataView(out.buffer);
  let p = 0;
  for (const el of t.data as Uint8Array[]) {
    view.setUint32(p, el.byteLength, true);
    out.set(el, p + 4);
    p += 4 + el.byteLength;
  }
  return out;
}
