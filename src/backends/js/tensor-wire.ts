/**
 * Tensors on their way between the server thread and a JS model's worker thread.
 *
 * Numeric data crosses as one ArrayBuffer per tensor in the postMessage transfer list (moved, not copied); BYTES
 * elements are packed into one buffer plus a lengths table, so a million small strings are two transfers, not a
 * million clones. Buffers the sender must keep (the caller's inputs) are copied once first; SharedArrayBuffers are
 * passed as they are.
 */
import { dataTypeInfo, isDataType, type DataType } from '../../core/index.js';

export interface WireTensor {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: number[];
  /** Numeric: the typed array. BYTES: all elements back to back. */
  readonly data: ArrayBufferView;
  /** BYTES only: each element's byte length. */
  readonly lengths?: Uint32Array;
}

export interface PackedTensors {
  readonly tensors: WireTensor[];
  readonly transfer: ArrayBuffer[];
}

/** A typed-array view that owns its whole (non-shared) buffer can be moved; anything else must be copied. */
function ownsBuffer(v: ArrayBufferView): boolean {
  return v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength;
}

const encoder = new TextEncoder();

/**
 * Packs tensors for postMessage. `keep`: the sender still owns the buffers (server-side inputs), so copy them;
 * otherwise (model outputs) buffers that can be moved are moved.
 */
export function packTensors(
  tensors: readonly { name: string; datatype: string; shape: readonly number[]; data: unknown }[],
  keep: boolean,
): PackedTensors {
  const out: WireTensor[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const t of tensors) {
    if (!isDataType(t.datatype)) throw new TypeError(`tensor '${t.name}': unknown datatype ${String(t.datatype)}`);
    const shape = Array.from(t.shape, Number);
    if (t.datatype === 'BYTES') {
      const els = t.data as ArrayLike<Uint8Array | string>;
      if (els == null || typeof els.length !== 'number') throw new TypeError(`tensor '${t.name}': BYTES data must be an array`);
      const bytes: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < els.length; i++) {
        const e = els[i];
        const b = typeof e === 'string' ? encoder.encode(e) : e;
        if (!(b instanceof Uint8Array)) throw new TypeError(`tensor '${t.name}': BYTES element ${i} is not a Uint8Array or string`);
        bytes.push(b);
        total += b.byteLength;
      }
      const data = new Uint8Array(total);
      const lengths = new Uint32Array(bytes.length);
      let off = 0;
      bytes.forEach((b, i) => {
        data.set(b, off);
        off += b.byteLength;
        lengths[i] = b.byteLength;
      });
      out.push({ name: t.name, datatype: t.datatype, shape, data, lengths });
      transfer.push(data.buffer, lengths.buffer);
      continue;
    }
    const ctor = dataTypeInfo(t.datatype).array!;
    let data = t.data as ArrayBufferView;
    if (!(data instanceof ctor)) {
      // Model code may return plain arrays; anything else of the wrong type is a bug in the model.
      if (!Array.isArray(data)) {
        throw new TypeError(`tensor '${t.name}': ${t.datatype} data must be a ${ctor.name} or an array`);
      }
      data = (ctor as { from(a: unknown[]): ArrayBufferView }).from(data);
    } else if (data.buffer instanceof SharedArrayBuffer) {
      // Shared memory crosses threads as it is.
    } else if (keep || !ownsBuffer(data)) {
      // A copy into a fresh buffer (not `.slice()`: on a Node Buffer that is a view of the same memory).
      const copy = new ctor((data as unknown as ArrayLike<number>).length) as unknown as { set(a: unknown): void };
      copy.set(data);
      data = copy as unknown as ArrayBufferView;
    }
    if (data.buffer instanceof ArrayBuffer) transfer.push(data.buffer);
    out.push({ name: t.name, datatype: t.datatype, shape, data });
  }
  return { tensors: out, transfer: dedupe(transfer) };
}

function dedupe(list: ArrayBuffer[]): ArrayBuffer[] {
  return list.length < 2 ? list : [...new Set(list)];
}

/** The tensor a receiver works with: BYTES become views into the packed buffer (no copies). */
export interface UnpackedTensor {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: number[];
  readonly data: ArrayBufferView | Uint8Array[];
}

export function unpackTensor(w: WireTensor): UnpackedTensor {
  if (w.datatype !== 'BYTES') return { name: w.name, datatype: w.datatype, shape: w.shape, data: w.data };
  const all = w.data as Uint8Array;
  const lengths = w.lengths!;
  const els: Uint8Array[] = new Array(lengths.length);
  let off = 0;
  for (let i = 0; i < lengths.length; i++) {
    els[i] = all.subarray(off, off + lengths[i]);
    off += lengths[i];
  }
  return { name: w.name, datatype: w.datatype, shape: w.shape, data: els };
}
