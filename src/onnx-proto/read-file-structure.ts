/**
 * Reads an ONNX file's structure from disk without its tensor payloads: initializers come back with name, type,
 * dims and payloadBytes but no data, so a model of any size is inspected in little memory (nodes, value infos and
 * attributes, which are small, are read whole; weights stored as Constant node attributes are read with their node).
 * read-file.ts does the same for the signature alone (asynchronously, for the server's load path); this one keeps
 * the whole graph, for `autoglm inspect`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ELEM_BYTES, elementCount, graphFromFields, modelFromFields, type OnnxModel, type OnnxTensor } from './model.js';
import { utf8, type ProtoField } from './protobuf.js';

/** A field as found in the file: where its payload starts and how long it is (wire 2), payload not read. */
interface FileField extends ProtoField {
  readonly offset: number;
  readonly length: number;
}

class FileCursor {
  private readonly buf = Buffer.alloc(16);
  constructor(private readonly fd: number) {}

  /** Reads the varint at `pos`: its value and the position after it. */
  varint(pos: number): [bigint, number] {
    const n = readSync(this.fd, this.buf, 0, 10, pos);
    let v = 0n;
    for (let i = 0; i < n; i++) {
      v |= BigInt(this.buf[i] & 0x7f) << BigInt(7 * i);
      if ((this.buf[i] & 0x80) === 0) return [v, pos + i + 1];
    }
    throw new Error(`truncated varint at byte ${pos}`);
  }

  bytes(pos: number, length: number): Uint8Array {
    const out = Buffer.alloc(length);
    if (readSync(this.fd, out, 0, length, pos) !== length) throw new Error(`truncated field at byte ${pos}`);
    return out;
  }

  /** Fields of the message in [start, end); payloads of length-delimited fields read only when `read` says so. */
  *fields(start: number, end: number, read: (field: number) => boolean): Generator<FileField> {
    let pos = start;
    while (pos < end) {
      const [key, p] = this.varint(pos);
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      if (wire === 0) {
        const [int, q] = this.varint(p);
        pos = q;
        yield { field, wire, int, bytes: new Uint8Array(0), offset: p, length: q - p };
      } else if (wire === 2) {
        const [len, q] = this.varint(p);
        const length = Number(len);
        if (q + length > end) throw new Error(`field ${field} at byte ${pos} runs past its message`);
        pos = q + length;
        yield { field, wire, int: 0n, bytes: read(field) ? this.bytes(q, length) : new Uint8Array(0), offset: q, length };
      } else if (wire === 1 || wire === 5) {
        const width = wire === 1 ? 8 : 4;
        const b = this.bytes(p, width);
        pos = p + width;
        yield { field, wire, int: wire === 1 ? Buffer.from(b).readBigUInt64LE(0) : BigInt(Buffer.from(b).readUInt32LE(0)), bytes: new Uint8Array(0), offset: p, length: width };
      } else {
        throw new Error(`unsupported wire type ${wire} at byte ${pos}`);
      }
    }
  }
}

/** Tensor fields holding data: raw_data, float_data, int32_data, string_data, int64_data, double_data, uint64_data. */
const DATA_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);

export function readOnnxModelHeaders(path: string): OnnxModel {
  const fd = openSync(path, 'r');
  try {
    const c = new FileCursor(fd);
    const tensor = (f: FileField): OnnxTensor => {
      let name = '';
      let elemType = 0;
      const dims: number[] = [];
      let payload = 0;
      let external = false;
      for (const t of c.fields(f.offset, f.offset + f.length, (n) => !DATA_FIELDS.has(n))) {
        if (t.field === 1 && t.wire === 0) dims.push(Number(BigInt.asIntN(64, t.int)));
        else if (t.field === 1 && t.wire === 2) {
          for (let p = 0; p < t.bytes.length;) {
            let v = 0n;
            let shift = 0n;
            for (;;) {
              const b = t.bytes[p++];
              v |= BigInt(b & 0x7f) << shift;
              if ((b & 0x80) === 0) break;
              shift += 7n;
            }
            dims.push(Number(BigInt.asIntN(64, v)));
          }
        } else if (t.field === 2 && t.wire === 0) elemType = Number(t.int);
        else if (t.field === 8 && t.wire === 2) name = utf8(t.bytes);
        else if (t.field === 14 && t.wire === 0) external = t.int === 1n;
        else if (DATA_FIELDS.has(t.field)) payload += t.length;
      }
      // Packed varints (int32_data/int64_data) are shorter on disk than in memory: count elements × size.
      const size = ELEM_BYTES[elemType];
      return { name, elemType, dims, external, payloadBytes: size && !external ? elementCount(dims) * size : payload };
    };
    const size = fstatSync(fd).size;
    return modelFromFields(c.fields(0, size, (n) => n !== 7), (g) =>
      graphFromFields(c.fields(g.offset, g.offset + g.length, (n) => n !== 5), tensor));
  } finally {
    closeSync(fd);
  }
}
