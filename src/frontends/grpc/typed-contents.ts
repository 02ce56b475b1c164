/**
 * InferTensorContents (grpc_service.proto): tensor data as typed repeated fields, the alternative to
 * raw_input_contents. Each datatype has one field, as Triton reads them; FP16 has none (send it raw).
 *
 *   1 bool_contents (BOOL)   2 int_contents (INT8, INT16, INT32)   3 int64_contents (INT64)
 *   4 uint_contents (UINT8, UINT16, UINT32)   5 uint64_contents (UINT64)   6 fp32_contents (FP32)
 *   7 fp64_contents (FP64)   8 bytes_contents (BYTES)
 *
 * Scalar fields are accepted packed (what every encoder writes) and unpacked (what protobuf parsers must accept).
 * Elements are counted before anything is allocated, and checked: integers must fit their datatype.
 */
import { type DataType, type TensorData, allocate, invalidArgument } from '../../core/index.js';
import { FIXED32, FIXED64, LEN, VARINT, WireError, WireReader } from './protobuf-wire.js';

const FIELD_NAMES = ['', 'bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents',
  'fp64_contents', 'bytes_contents'] as const;

/** The contents field of each datatype; 0 = none. */
const FIELD_OF: Readonly<Record<DataType, number>> = {
  BOOL: 1, INT8: 2, INT16: 2, INT32: 2, INT64: 3, UINT8: 4, UINT16: 4, UINT32: 4, UINT64: 5, FP32: 6, FP64: 7, BYTES: 8, FP16: 0,
};

/** How a field's scalar elements are encoded. */
const ELEMENT_WIRE = [0, VARINT, VARINT, VARINT, VARINT, VARINT, FIXED32, FIXED64, LEN] as const;

/** Integer ranges checked for the narrower types (the wire carries int32 / uint32). */
const RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], UINT8: [0, 0xff], UINT16: [0, 0xffff],
};

/** Elements of field `field` in [pos, end) of a packed payload. */
function packedCount(r: WireReader, wire: number, length: number): number {
  if (wire === FIXED32 || wire === FIXED64) {
    const size = wire === FIXED32 ? 4 : 8;
    if (length % size !== 0) throw new WireError(`packed field of ${length} bytes is not a multiple of ${size}`);
    return length / size;
  }
  let n = 0;
  const buf = r.buf;
  for (let p = r.pos, end = r.pos + length; p < end; p++) if (buf[p] < 0x80) n++;
  if (length > 0 && buf[r.pos + length - 1] >= 0x80) throw new WireError('packed varints end inside a varint');
  return n;
}

/**
 * Decodes the contents messages (byte ranges of `message`) of input `name` into the storage of `dt`. `expected` is
 * the element count of its shape, already checked against the limits.
 */
export function decodeContents(name: string, dt: DataType, message: Buffer, spans: readonly number[], expected: number): TensorData {
  const field = FIELD_OF[dt];
  if (field === 0) throw invalidArgument(`input '${name}': ${dt} has no typed contents field; send it in raw_input_contents`);
  const elementWire = ELEMENT_WIRE[field];
  // Pass 1: count, and refuse data in another type's field.
  let count = 0;
  for (let s = 0; s < spans.length; s += 2) {
    const r = new WireReader(message, spans[s], spans[s + 1]);
    while (!r.done) {
      const tag = r.tag();
      const f = tag >>> 3;
      const wire = tag & 7;
      if (f === field) {
        if (wire === LEN && elementWire !== LEN) {
          const n = r.length();
          count += packedCount(r, elementWire, n);
          r.pos += n;
        } else if (wire === elementWire) {
          count++;
          r.skip(wire);
        } else throw new WireError(`${FIELD_NAMES[f]} has wire type ${wire}`);
      } else if (f >= 1 && f <= 8) {
        const before = r.pos;
        r.skip(wire);
        // An empty packed field is no data; anything else is data in the wrong field.
        if (!(wire === LEN && r.pos - before === 1)) {
          throw invalidArgument(`input '${name}': ${dt} data goes in ${FIELD_NAMES[field]}, not ${FIELD_NAMES[f]}`);
        }
      } else r.skip(wire);
    }
  }
  if (count !== expected) throw invalidArgument(`input '${name}': ${count} elements given in ${FIELD_NAMES[field]}, shape needs ${expected}`);
  // Pass 2: fill.
  if (dt === 'BYTES') {
    const out: Uint8Array[] = new Array(expected);
    let i = 0;
    for (let s = 0; s < spans.length; s += 2) {
      const r = new WireReader(message, spans[s], spans[s + 1]);
      while (!r.done) {
        const tag = r.tag();
        if (tag >>> 3 !== field) { r.skip(tag & 7); continue; }
        const n = r.length();
        out[i++] = message.subarray(r.pos, r.pos + n);
        r.pos += n;
      }
    }
    return out;
  }
  const out = allocate(dt, expected);
  const fill = new Filler(name, dt, out);
  for (let s = 0; s < spans.length; s += 2) {
    const r = new WireReader(message, spans[s], spans[s + 1]);
    while (!r.done) {
      const tag = r.tag();
      if (tag >>> 3 !== field) { r.skip(tag & 7); continue; }
      if ((tag & 7) === LEN) {
        const len = r.length();
        const end = r.pos + len;
        if (elementWire !== VARINT) {
          fill.bytes(message, r.pos, end);
          r.pos = end;
        } else while (r.pos < end) fill.varint(r);
      } else if (elementWire === VARINT) fill.varint(r);
      else {
        const at = r.pos;
        r.skip(tag & 7);
        fill.bytes(message, at, r.pos);
      }
    }
  }
  return out;
}

/** Writes elements into a numeric tensor's storage in order, checking ranges. */
class Filler {
  private i = 0;
  private readonly words: Uint32Array | undefined;
  private readonly range: readonly [number, number] | undefined;
  private readonly signed: boolean;

  constructor(private readonly name: string, private readonly dt: DataType, private readonly out: ReturnType<typeof allocate>) {
    this.words = dt === 'INT64' || dt === 'UINT64' ? new Uint32Array(out.buffer, out.byteOffset, out.length * 2) : undefined;
    this.range = RANGE[dt];
    this.signed = dt === 'INT8' || dt === 'INT16' || dt === 'INT32';
  }

  varint(r: WireReader): void {
    const i = this.i++;
    if (this.words) {
      r.varint64();
      this.words[2 * i] = r.lo;
      this.words[2 * i + 1] = r.hi;
      return;
    }
    const raw = r.uint32();
    if (this.dt === 'BOOL') {
      (this.out as Uint8Array)[i] = raw !== 0 ? 1 : 0;
      return;
    }
    const v = this.signed ? raw | 0 : raw;
    if (this.range && (v < this.range[0] || v > this.range[1])) {
      throw invalidArgument(`input '${this.name}': element ${i} (${v}) is not a valid ${this.dt} value`);
    }
    (this.out as Int32Array)[i] = v;
  }

  /** Little-endian fixed-size elements (fp32 / fp64), copied byte for byte. */
  bytes(message: Buffer, start: number, end: number): void {
    const size = this.out.BYTES_PER_ELEMENT;
    message.copy(new Uint8Array(this.out.buffer, this.out.byteOffset + this.i * size, end - start), 0, start, end);
    this.i += (end - start) / size;
  }
}
