import { type DataType, type Tensor, dataTypeInfo, isDataType, viewOf } from '../core/index.js';

/**
 * A cached answer's bytes, as the shared tiers (LMDB, Redis) store them: "AGC1", the payload's length and a 32-bit
 * FNV-1a checksum of it, then the payload — the output count, and per output its name, datatype, shape and data
 * (numeric data 8-byte aligned within the entry, so that decoding can view it in place; BYTES as a count, then each
 * element's length and bytes). A truncated or altered entry fails the length or checksum test and is a miss.
 */
const MAGIC = 0x31434741; // "AGC1" little-endian
const HEADER = 12;

export class CorruptEntryError extends Error {}

/**
 * Encodes outputs into one fresh buffer (the one copy of their data the cache makes). The checksum is only for
 * entries that leave the process (`checksum` false leaves it 0: the in-process tier never reads it).
 */
export function encodeEntry(outputs: readonly Tensor[], checksum = true): Uint8Array {
  const names = outputs.map((t) => Buffer.from(t.name, 'utf8'));
  let size = HEADER + 4;
  outputs.forEach((t, i) => {
    size += 2 + names[i].length + 1 + t.datatype.length + 1 + 8 * t.shape.length;
    if (dataTypeInfo(t.datatype).byteSize > 0) {
      size = align8(size + 4) + (t.data as ArrayBufferView).byteLength;
    } else {
      size += 4;
      for (const el of t.data as Uint8Array[]) size += 4 + el.byteLength;
    }
  });
  const buf = new Uint8Array(new ArrayBuffer(size));
  const dv = new DataView(buf.buffer);
  let at = HEADER;
  dv.setUint32(at, outputs.length, true);
  at += 4;
  outputs.forEach((t, i) => {
    dv.setUint16(at, names[i].length, true);
    buf.set(names[i], at + 2);
    at += 2 + names[i].length;
    dv.setUint8(at, t.datatype.length);
    for (let k = 0; k < t.datatype.length; k++) buf[at + 1 + k] = t.datatype.charCodeAt(k);
    at += 1 + t.datatype.length;
    dv.setUint8(at, t.shape.length);
    at += 1;
    for (const d of t.shape) {
      dv.setFloat64(at, d, true);
      at += 8;
    }
    if (dataTypeInfo(t.datatype).byteSize > 0) {
      const a = t.data as ArrayBufferView;
      dv.setUint32(at, a.byteLength, true);
      at = align8(at + 4);
      buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += a.byteLength;
    } else {
      const els = t.data as Uint8Array[];
      dv.setUint32(at, els.length, true);
      at += 4;
      for (const el of els) {
        dv.setUint32(at, el.byteLength, true);
        buf.set(el, at + 4);
        at += 4 + el.byteLength;
      }
    }
  });
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, size - HEADER, true);
  if (checksum) dv.setUint32(8, fnv1a(buf, HEADER, size), true);
  return buf;
}

/**
 * The outputs of an entry, as views into it where its alignment allows (copies otherwise). Throws CorruptEntryError
 * when the bytes are not a whole, intact entry.
 */
export function decodeEntry(buf: Uint8Array, verify = true): Tensor[] {
  if (buf.byteLength < HEADER + 4) throw new CorruptEntryError('entry shorter than its header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new CorruptEntryError('not a cache entry');
  if (dv.getUint32(4, true) !== buf.byteLength - HEADER) throw new CorruptEntryError('entry length mismatch');
  if (verify && dv.getUint32(8, true) !== fnv1a(buf, HEADER, buf.byteLength)) throw new CorruptEntryError('entry checksum mismatch');
  const need = (at: number, n: number) => {
    if (at + n > buf.byteLength) throw new CorruptEntryError('entry truncated');
  };
  let at = HEADER;
  const count = dv.getUint32(at, true);
  at += 4;
  const out: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    need(at, 2);
    const nameLen = dv.getUint16(at, true);
    need(at + 2, nameLen + 1);
    const name = Buffer.from(buf.buffer, buf.byteOffset + at + 2, nameLen).toString('utf8');
    at += 2 + nameLen;
    const dtLen = dv.getUint8(at);
    need(at + 1, dtLen + 1);
    const dt = String.fromCharCode(...buf.subarray(at + 1, at + 1 + dtLen));
    if (!isDataType(dt)) throw new CorruptEntryError(`unknown datatype ${dt}`);
    at += 1 + dtLen;
    const rank = dv.getUint8(at);
    need(at + 1, 8 * rank);
    at += 1;
    const shape: number[] = [];
    for (let k = 0; k < rank; k++, at += 8) shape.push(dv.getFloat64(at, true));
    const info = dataTypeInfo(dt as DataType);
    if (info.byteSize > 0) {
      need(at, 4);
      const byteLength = dv.getUint32(at, true);
      at = align8(at + 4);
      need(at, byteLength);
      const offset = buf.byteOffset + at;
      const count = byteLength / info.byteSize;
      const data = offset % info.byteSize === 0
        ? viewOf(dt as DataType, buf.buffer, offset, count)
        : viewOf(dt as DataType, buf.slice(at, at + byteLength).buffer, 0, count);
      out.push({ name, datatype: dt as DataType, shape, data });
      at += byteLength;
    } else {
      need(at, 4);
      const n = dv.getUint32(at, true);
      at += 4;
      const els: Uint8Array[] = [];
      for (let k = 0; k < n; k++) {
        need(at, 4);
        const len = dv.getUint32(at, true);
        need(at + 4, len);
        els.push(buf.subarray(at + 4, at + 4 + len));
        at += 4 + len;
      }
      out.push({ name, datatype: dt as DataType, shape, data: els });
    }
  }
  return out;
}

/** Bytes an entry of these outputs takes (what the tiers' size bounds count). */
export const entryBytes = (entry: Uint8Array): number => entry.byteLength;

function align8(n: number): number {
  return (n + 7) & ~7;
}

function fnv1a(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}
