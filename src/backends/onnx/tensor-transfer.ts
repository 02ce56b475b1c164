/**
 * Main-thread side of moving tensors to and from a session worker: inputs are copied once (a byte copy per
 * tensor) into the instance's transfer buffer; outputs arrive in transferred buffers and become typed-array
 * views over them, with no copy. Layouts are described in worker-protocol.ts.
 */
import { type Tensor, type NumericArray, type DataType, dataTypeInfo, elementCount, invalidArgument, viewOf } from '../../core/index.js';
import type { WireInput, WireOutput } from './worker-protocol.js';

const align8 = (n: number): number => (n + 7) & ~7;

function isBytes(dt: DataType): boolean {
  return dataTypeInfo(dt).byteSize === 0;
}

/** Bytes one input takes in the transfer buffer (before alignment); validates data against shape and datatype. */
function wireSize(t: Tensor): number {
  const info = dataTypeInfo(t.datatype);
  const count = elementCount(t.shape);
  if (info.byteSize === 0) {
    if (!Array.isArray(t.data) || t.data.length !== count) {
      throw invalidArgument(`input '${t.name}': BYTES data must hold ${count} elements for shape [${t.shape.join(',')}]`);
    }
    let n = 4 * (count + 1);
    for (const el of t.data) n += el.byteLength;
    return n;
  }
  const data = t.data as NumericArray;
  if (!ArrayBuffer.isView(data) || !(data instanceof info.array!) || data.length !== count) {
    throw invalidArgument(
      `input '${t.name}': ${t.datatype} data must be a ${info.array!.name} of ${count} elements for shape [${t.shape.join(',')}]`,
    );
  }
  return data.byteLength;
}

/** Total aligned bytes the inputs need in the transfer buffer. */
export function transferSize(inputs: readonly Tensor[]): number {
  let n = 0;
  for (const t of inputs) n += align8(wireSize(t));
  return n;
}

/** Copies the inputs into `buffer` (at least transferSize bytes) and says where each lies. */
export function packInputs(inputs: readonly Tensor[], buffer: ArrayBuffer): WireInput[] {
  const bytes = new Uint8Array(buffer);
  const wire: WireInput[] = [];
  let offset = 0;
  for (const t of inputs) {
    const start = offset;
    if (isBytes(t.datatype)) {
      const els = t.data as Uint8Array[];
      const ends = new Uint32Array(buffer, start, els.length + 1);
      ends[0] = 0; // the buffer is reused: nothing in it is zero
      let pos = 0;
      let at = start + ends.byteLength;
      for (let i = 0; i < els.length; i++) {
        bytes.set(els[i], at);
        at += els[i].byteLength;
        pos += els[i].byteLength;
        ends[i + 1] = pos;
      }
      offset = at;
    } else {
      const d = t.data as NumericArray;
      bytes.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), start);
      offset = start + d.byteLength;
    }
    wire.push({ name: t.name, datatype: t.datatype, shape: [...t.shape], byteOffset: start, byteLength: offset - start });
    offset = align8(offset);
  }
  return wire;
}

/** The BYTES elements of a packed region, as views (no copy) into `buffer`. */
export function bytesElements(buffer: ArrayBuffer, byteOffset: number, count: number): Uint8Array[] {
  const ends = new Uint32Array(buffer, byteOffset, count + 1);
  const base = byteOffset + ends.byteLength;
  const out: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = new Uint8Array(buffer, base + ends[i], ends[i + 1] - ends[i]);
  return out;
}

/** An output from the worker as a Tensor over its transferred buffer. */
export function unpackOutput(o: WireOutput): Tensor {
  const count = elementCount(o.shape);
  const data = isBytes(o.datatype)
    ? bytesElements(o.buffer, 0, count)
    : viewOf(o.datatype, o.buffer, 0, count);
  return { name: o.name, datatype: o.datatype, shape: o.shape, data };
}
