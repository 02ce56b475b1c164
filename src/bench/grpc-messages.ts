/**
 * The few messages of Triton's grpc_service.proto the load generator writes or reads, by field number: the
 * ModelInferRequest it sends (every input in raw_input_contents, as perf_analyzer sends them), the
 * ModelInferResponse it checks, and the metadata it asks for before the load (ModelMetadata, ModelConfig's
 * max_batch_size). Client side, so written apart from the server's codec (src/frontends/grpc/): a bug in one does
 * not hide in the other.
 */
import { type Tensor, binaryByteLength, dataTypeInfo } from '../core/index.js';
import { isDataType } from '../core/index.js';
import type { DecodedOutput, DecodedResponse } from './response-check.js';
import type { RemoteTensor } from './model-metadata.js';
import { decodeBinaryValues } from './tensor-values.js';

// ---- writing -------------------------------------------------------------------------------------------------------

/** Appends protobuf fields to a list of chunks; `finish` joins them. */
class Writer {
  private readonly parts: Buffer[] = [];

  private varint(v: number): void {
    const b: number[] = [];
    while (v >= 0x80) {
      b.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    b.push(v);
    this.parts.push(Buffer.from(b));
  }

  bytes(field: number, payload: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(payload.byteLength);
    this.parts.push(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    return this;
  }

  string(field: number, s: string): this {
    return s === '' ? this : this.bytes(field, Buffer.from(s, 'utf8'));
  }

  /** A packed repeated int64 of non-negative values. */
  packed(field: number, values: readonly number[]): this {
    const w = new Writer();
    for (const v of values) w.varint(v);
    return this.bytes(field, w.finish());
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function rawBytes(t: Tensor): Buffer {
  const info = dataTypeInfo(t.datatype);
  if (info.byteSize > 0) {
    const a = t.data as Uint8Array;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  }
  const out = Buffer.alloc(binaryByteLength(t));
  let p = 0;
  for (const el of t.data as Uint8Array[]) {
    out.writeUInt32LE(el.byteLength, p);
    out.set(el, p + 4);
    p += 4 + el.byteLength;
  }
  return out;
}

/** A ModelInferRequest: model_name 1, model_version 2, inputs 5 (name 1, datatype 2, shape 3), raw_input_contents 7. */
export function encodeGrpcInferRequest(model: string, version: string, inputs: readonly Tensor[]): Buffer {
  const w = new Writer().string(1, model).string(2, version);
  for (const t of inputs) w.message(5, new Writer().string(1, t.name).string(2, t.datatype).packed(3, t.shape));
  for (const t of inputs) w.bytes(7, rawBytes(t));
  return w.finish();
}

/** A request of fields name 1, version 2 (ModelMetadataRequest, ModelConfigRequest). */
export function encodeNameVersion(name: string, version: string): Buffer {
  return new Writer().string(1, name).string(2, version).finish();
}

/** gRPC's length-prefixed message: a 0 byte (not compressed), the length (4 bytes, big-endian), the message. */
export function frameGrpcMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

// ---- reading ---------------------------------------------------------------------------------------------------------

interface Field {
  readonly field: number;
  readonly wire: number;
  /** Varint value (exact below 2^53). */
  readonly value: number;
  /** Length-delimited payload. */
  readonly bytes: Buffer;
}

/** Every top-level field of a message, in order; throws Error on malformed bytes. */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= buf.length || shift > 63) throw new Error(`malformed varint at byte ${p}`);
      const b = buf[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  const none = Buffer.alloc(0);
  while (p < buf.length) {
    const tag = varint();
    const wire = tag % 8;
    const field = Math.floor(tag / 8);
    if (wire === 0) out.push({ field, wire, value: varint(), bytes: none });
    else if (wire === 2) {
      const n = varint();
      if (p + n > buf.length) throw new Error(`field ${field} runs past the end of its message`);
      out.push({ field, wire, value: 0, bytes: buf.subarray(p, p + n) });
      p += n;
    } else if (wire === 1 || wire === 5) {
      p += wire === 1 ? 8 : 4;
      if (p > buf.length) throw new Error(`field ${field} runs past the end of its message`);
      out.push({ field, wire, value: 0, bytes: none });
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

/** Signed int64 varints (shape dims, -1 included) from a packed field. */
function packedInt64(buf: Buffer): number[] {
  const out: number[] = [];
  let p = 0;
  while (p < buf.length) {
    let lo = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[p++];
      if (b === undefined) throw new Error('malformed packed int64');
      lo |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    out.push(Number(BigInt.asIntN(64, lo)));
  }
  return out;
}

function tensorMeta(buf: Buffer): { name: string; datatype: string; shape: number[] } {
  let name = '';
  let datatype = '';
  const shape: number[] = [];
  for (const f of fields(buf)) {
    if (f.field === 1) name = f.bytes.toString('utf8');
    else if (f.field === 2) datatype = f.bytes.toString('utf8');
    else if (f.field === 3) shape.push(...(f.wire === 2 ? packedInt64(f.bytes) : [f.value]));
  }
  return { name, datatype, shape };
}

/** A ModelInferResponse's outputs (5) with their raw_output_contents (6), decoded as response-check compares them. */
export function decodeGrpcInferResponse(message: Buffer): DecodedResponse {
  const metas: { name: string; datatype: string; shape: number[] }[] = [];
  const raw: Buffer[] = [];
  for (const f of fields(message)) {
    if (f.field === 5) metas.push(tensorMeta(f.bytes));
    else if (f.field === 6) raw.push(f.bytes);
  }
  if (raw.length !== metas.length) throw new Error(`${metas.length} outputs but ${raw.length} raw_output_contents`);
  const out = new Map<string, DecodedOutput>();
  metas.forEach((m, i) => {
    out.set(m.name, { datatype: m.datatype, shape: m.shape, values: decodeBinaryValues(m.datatype, raw[i], 0, raw[i].length) });
  });
  return out;
}

/** ModelMetadataResponse: name 1, versions 2, platform 3, inputs 4, outputs 5. */
export function decodeModelMetadata(message: Buffer): { name: string; versions: string[]; inputs: RemoteTensor[]; outputs: RemoteTensor[] } {
  let name = '';
  const versions: string[] = [];
  const inputs: RemoteTensor[] = [];
  const outputs: RemoteTensor[] = [];
  for (const f of fields(message)) {
    if (f.field === 1) name = f.bytes.toString('utf8');
    else if (f.field === 2) versions.push(f.bytes.toString('utf8'));
    else if (f.field === 4 || f.field === 5) {
      const t = tensorMeta(f.bytes);
      if (!isDataType(t.datatype)) throw new Error(`model metadata: ${t.name} has unknown datatype ${t.datatype}`);
      (f.field === 4 ? inputs : outputs).push({ name: t.name, datatype: t.datatype, shape: t.shape });
    }
  }
  return { name, versions, inputs, outputs };
}

/** ModelConfigResponse.config (1) → ModelConfig.max_batch_size (4). */
export function decodeMaxBatchSize(message: Buffer): number {
  const config = fields(message).find((f) => f.field === 1);
  if (!config) return 0;
  return fields(config.bytes).find((f) => f.field === 4)?.value ?? 0;
}
