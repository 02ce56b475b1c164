import { type DataType, type TensorData, type Tensor, dataTypeInfo, invalidArgument, binaryByteLength } from '../../core/index.js';

/**
 * The binary tensor layout every transport shares: the v2 HTTP binary data extension (tensor bytes after the JSON
 * header, in the order of the tensors that declare `binary_data_size`) and gRPC's `raw_input_contents` /
 * `raw_output_contents` (one entry per tensor). Numeric tensors are row-major little-endian elements; BYTES elements
 * are each a 4-byte little-endian length followed by that many bytes.
 */

/**
 * Reads one tensor from `size` bytes at `offset` of `body`. Numeric data is a view into the body (no copy) when
 * the offset is aligned for the element size, else one copy. BYTES elements are views too. `sizeLabel` names the
 * size in error messages (HTTP: binary_data_size; gRPC: the raw_input_contents entry).
 */
export function decodeBinaryData(
  name: string, dt: DataType, body: Uint8Array, offset: number, size: number, expected: number,
  sizeLabel = 'binary_data_size',
): TensorData {
  const info = dataTypeInfo(dt);
  if (info.byteSize > 0) {
    if (size !== expected * info.byteSize) {
      throw invalidArgument(`input '${name}': ${sizeLabel} ${size} does not match ${expected} ${dt} elements (${expected * info.byteSize} bytes)`);
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
    if (p + len > size) throw invalidArgument(`input '${name}': binary BYTES element ${i} (length ${len}) runs past ${sizeLabel} ${size}`);
    out[i] = body.subarray(offset + p, offset + p + len);
    p += len;
  }
  if (p !== size) throw invalidArgument(`input '${name}': ${sizeLabel} ${size} holds ${size - p} bytes more than ${expected} BYTES elements`);
  return out;
}

/**
 * Writes the tensor's binary encoding into `out` at `offset` (binaryByteLength(t) bytes, which the caller has made
 * room for); returns the offset after it. For replies written into one pre-sized buffer.
 */
export function writeBinaryData(t: Tensor, out: Uint8Array, offset: number): number {
  const info = dataTypeInfo(t.datatype);
  if (info.byteSize > 0) {
    const a = t.data as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    return offset + a.byteLength;
  }
  let p = offset;
  for (const el of t.data as Uint8Array[]) {
    const n = el.byteLength;
    out[p] = n & 0xff;
    out[p + 1] = (n >>> 8) & 0xff;
    out[p + 2] = (n >>> 16) & 0xff;
    out[p + 3] = n >>> 24;
    out.set(el, p + 4);
    p += 4 + n;
  }
  return p;
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
