/**
 * Protobuf's wire format, read in place and written into pre-sized buffers: the primitives of the hand-written
 * ModelInfer codec (infer-request.ts, infer-response.ts). No allocation per field: the reader walks a Buffer by
 * offsets, length-delimited fields stay byte ranges of it until someone asks for their value.
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Groups (3, 4) are refused as malformed: no
 * message of grpc_service.proto has them.
 */

import { isUtf8 } from 'node:buffer';

export const VARINT = 0;
export const FIXED64 = 1;
export const LEN = 2;
export const FIXED32 = 5;

/** A message that is not valid protobuf (truncated, a length past its end, an unknown wire type). */
export class WireError extends Error {}

const TWO_32 = 4294967296;

/** Reads one message's bytes, [pos, end) of `buf`. */
export class WireReader {
  pos: number;
  /** The last varint64(): low and high 32 bits, unsigned. */
  lo = 0;
  hi = 0;

  constructor(readonly buf: Buffer, pos: number, readonly end: number) {
    this.pos = pos;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  private truncated(): never {
    throw new WireError(`truncated at byte ${this.pos}`);
  }

  /** A varint's low 32 bits, unsigned (a tag, an int32/uint32/bool value, a length); the rest is read and dropped. */
  uint32(): number {
    const buf = this.buf;
    let p = this.pos;
    if (p >= this.end) this.truncated();
    let b = buf[p++];
    if (b < 0x80) {
      this.pos = p;
      return b;
    }
    let x = b & 0x7f;
    for (let shift = 7; shift < 70; shift += 7) {
      if (p >= this.end) this.truncated();
      b = buf[p++];
      if (shift < 32) x |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = p;
        return x >>> 0;
      }
    }
    throw new WireError(`varint longer than 10 bytes at byte ${p}`);
  }

  /** A varint of up to 64 bits into `lo`/`hi`. */
  varint64(): void {
    const buf = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      if (i === 10) throw new WireError(`varint longer than 10 bytes at byte ${p}`);
      if (p >= this.end) this.truncated();
      const b = buf[p++];
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) break;
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /**
   * A varint that must fit in 32 bits, unsigned (a tag, a length). Refused when it does not: reading only its low
   * bits would turn a length of 2^32 + 3 into 3 and parse the rest of the message as something it is not.
   */
  private strict32(what: string): number {
    const p = this.pos;
    if (p < this.end && this.buf[p] < 0x80) {
      this.pos = p + 1;
      return this.buf[p];
    }
    this.varint64();
    if (this.hi !== 0) throw new WireError(`${what} at byte ${p} does not fit in 32 bits`);
    return this.lo;
  }

  /** A length-delimited field's length, checked against what is left of the message. */
  length(): number {
    const n = this.strict32('length');
    if (n > this.end - this.pos) throw new WireError(`length ${n} at byte ${this.pos} runs past the end of its message (${this.end - this.pos} bytes left)`);
    return n;
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) this.truncated();
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A fixed64 into `lo`/`hi`. */
  fixed64(): void {
    if (this.pos + 8 > this.end) this.truncated();
    this.lo = this.buf.readUInt32LE(this.pos);
    this.hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
  }

  double(): number {
    if (this.pos + 8 > this.end) this.truncated();
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * A string field's value. proto3 strings must be valid UTF-8, and parsers refuse one that is not (protobuf's own
   * do): decoding it would turn the bad bytes into U+FFFD and accept a name or id the client never sent.
   */
  string(): string {
    const n = this.length();
    const buf = this.buf;
    const start = this.pos;
    const end = start + n;
    let ascii = true;
    for (let p = start; p < end; p++) {
      if (buf[p] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isUtf8(buf.subarray(start, end))) throw new WireError(`string field at byte ${start} is not valid UTF-8`);
    this.pos = end;
    return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
  }

  /** A field's tag (field number << 3 | wire type); field number 0 is not a field. */
  tag(): number {
    const at = this.pos;
    const tag = this.strict32('tag');
    if (tag >>> 3 === 0) throw new WireError(`field number 0 at byte ${at}`);
    return tag;
  }

  /** Skips the value of a field of wire type `wire`. */
  skip(wire: number): void {
    switch (wire) {
      case VARINT: this.uint32(); return;
      case FIXED64: if (this.pos + 8 > this.end) this.truncated(); this.pos += 8; return;
      case LEN: { const n = this.length(); this.pos += n; return; }
      case FIXED32: if (this.pos + 4 > this.end) this.truncated(); this.pos += 4; return;
      default: throw new WireError(`wire type ${wire} at byte ${this.pos} is not supported`);
    }
  }
}

/** The last varint64/fixed64 of `r` as an unsigned number; exact below 2^53 (isSafe says whether it is). */
export function uint64Of(r: WireReader): number {
  return r.hi * TWO_32 + r.lo;
}

/** The last varint64/fixed64 of `r` as a signed (two's complement) number; exact within ±2^53. */
export function int64Of(r: WireReader): number {
  return (r.hi | 0) * TWO_32 + r.lo;
}

/** The last varint64/fixed64 of `r` exactly, as a bigint (signed or not). */
export function bigintOf(r: WireReader, signed: boolean): bigint {
  const v = (BigInt(r.hi) << 32n) | BigInt(r.lo);
  return signed ? BigInt.asIntN(64, v) : v;
}

// ---- writing ----

/** Bytes a varint of `v` (a non-negative integer below 2^53) takes. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  for (let x = Math.floor(v / 0x800000000); x > 0; x = Math.floor(x / 0x80)) n++;
  return n;
}

/** Writes `v` (a non-negative integer below 2^53) as a varint at `pos`; returns the position after it. */
export function writeVarint(out: Buffer, pos: number, v: number): number {
  while (v >= 0x80000000) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

/** Bytes of a length-delimited field: tag (fields 1..15: one byte) + length + payload. */
export function lenFieldSize(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

/** Writes a length-delimited field's tag (field 1..15) and length; returns the position of its payload. */
export function writeLenHeader(out: Buffer, pos: number, field: number, length: number): number {
  out[pos++] = (field << 3) | LEN;
  return writeVarint(out, pos, length);
}

/** Writes a string field (field 1..15) whose UTF-8 length is `bytes`; returns the position after it. */
export function writeStringField(out: Buffer, pos: number, field: number, s: string, bytes: number): number {
  pos = writeLenHeader(out, pos, field, bytes);
  return pos + out.write(s, pos, bytes, 'utf8');
}
