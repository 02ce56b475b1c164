/**
 * The few protobuf wire-format primitives the ONNX reader and writer need (varint, length-delimited, fixed32).
 * No schema compiler: ONNX's ModelProto is small enough to walk by field number.
 */

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private varint(v: bigint | number): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.scratch.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.scratch.push(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(field: number, v: Uint8Array): this {
    this.tag(field, 2);
    this.varint(v.byteLength);
    this.flushScratch();
    this.chunks.push(v);
    return this;
  }

  string(field: number, v: string): this {
    return this.bytes(field, new TextEncoder().encode(v));
  }

  /** Writes a field read by readFields as it was. */
  field(f: ProtoField): this {
    if (f.wire === 2) return this.bytes(f.field, f.bytes);
    this.tag(f.field, f.wire);
    if (f.wire === 0) this.varint(f.int);
    else {
      const width = f.wire === 5 ? 4 : 8;
      for (let i = 0; i < width; i++) this.scratch.push(Number((f.int >> BigInt(8 * i)) & 0xffn));
    }
    return this;
  }

  message(field: number, w: ProtoWriter): this {
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    this.flushScratch();
    let n = 0;
    for (const c of this.chunks) n += c.byteLength;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  /** For wire 0: the varint; wire 1/5: the raw number bits as bigint. */
  readonly int: bigint;
  /** For wire 2: the payload (a view, no copy). */
  readonly bytes: Uint8Array;
}

/** Iterates the fields of one message. Throws on malformed input (truncated, bad wire type). */
export function* readFields(buf: Uint8Array): Generator<ProtoField> {
  let pos = 0;
  const empty = new Uint8Array(0);
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error('field number 0');
    switch (wire) {
      case 0:
        yield { field, wire, int: readVarint(), bytes: empty };
        break;
      case 1: {
        if (pos + 8 > buf.length) throw new Error('truncated fixed64');
        const v = new DataView(buf.buffer, buf.byteOffset + pos, 8).getBigUint64(0, true);
        pos += 8;
        yield { field, wire, int: v, bytes: empty };
        break;
      }
      case 2: {
        const len = Number(readVarint());
        if (pos + len > buf.length) throw new Error('truncated length-delimited field');
        const bytes = buf.subarray(pos, pos + len);
        pos += len;
        yield { field, wire, int: 0n, bytes };
        break;
      }
      case 5: {
        if (pos + 4 > buf.length) throw new Error('truncated fixed32');
        const v = new DataView(buf.buffer, buf.byteOffset + pos, 4).getUint32(0, true);
        pos += 4;
        yield { field, wire, int: BigInt(v), bytes: empty };
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

export const utf8 = (b: Uint8Array): string => new TextDecoder().decode(b);
