/**
 * ModelInferResponse (and ModelStreamInferResponse) written by hand into one buffer of the exact size: sizes first,
 * then one pass of writes; tensor bytes are copied once, from the output's storage into the reply.
 *
 *   ModelInferResponse: 1 model_name, 2 model_version, 3 id, 4 parameters (map<string, InferParameter>),
 *     5 outputs (InferOutputTensor: 1 name, 2 datatype, 3 shape (packed int64)), 6 raw_output_contents (bytes)
 *   ModelStreamInferResponse: 1 error_message, 2 infer_response
 *
 * Every output's data goes in raw_output_contents, one entry per output in the order of `outputs`, even when empty:
 * Triton's clients index it by output position without checking.
 */
import { type InferenceResponse, type ParameterValue, binaryByteLength } from '../../core/index.js';
import { writeBinaryData } from '../codec/binary-tensor.js';
import { FIXED64, VARINT, lenFieldSize, varintSize, writeLenHeader, writeStringField, writeVarint } from './protobuf-wire.js';

type ParamEntry = readonly [key: string, value: ParameterValue];

/** Size of an InferParameter message holding `v`. */
function paramValueSize(v: ParameterValue): number {
  if (typeof v === 'boolean') return 2;
  if (typeof v === 'string') return lenFieldSize(Buffer.byteLength(v));
  if (Number.isSafeInteger(v)) return 1 + (v < 0 ? 10 : varintSize(v));
  return 9;
}

function writeParamValue(out: Buffer, pos: number, v: ParameterValue): number {
  if (typeof v === 'boolean') {
    out[pos++] = (1 << 3) | VARINT;
    out[pos++] = v ? 1 : 0;
    return pos;
  }
  if (typeof v === 'string') return writeStringField(out, pos, 3, v, Buffer.byteLength(v));
  if (Number.isSafeInteger(v)) {
    out[pos++] = (2 << 3) | VARINT;
    if (v >= 0) return writeVarint(out, pos, v);
    // Negative int64: ten bytes of two's complement.
    let x = BigInt.asUintN(64, BigInt(v));
    for (let i = 0; i < 9; i++, x >>= 7n) out[pos++] = Number(x & 0x7fn) | 0x80;
    out[pos++] = Number(x);
    return pos;
  }
  out[pos++] = (4 << 3) | FIXED64;
  out.writeDoubleLE(v, pos);
  return pos + 8;
}

/** Size of one map entry message (key 1, value 2). */
function entrySize(key: string, v: ParameterValue): number {
  return lenFieldSize(Buffer.byteLength(key)) + lenFieldSize(paramValueSize(v));
}

function writeEntry(out: Buffer, pos: number, field: number, key: string, v: ParameterValue): number {
  pos = writeLenHeader(out, pos, field, entrySize(key, v));
  pos = writeStringField(out, pos, 1, key, Buffer.byteLength(key));
  pos = writeLenHeader(out, pos, 2, paramValueSize(v));
  return writeParamValue(out, pos, v);
}

/** The sizes a response needs, worked out once and then used to write it. */
interface Plan {
  readonly size: number;
  readonly outputSizes: number[];
  readonly shapeSizes: number[];
  readonly rawSizes: number[];
  readonly params: ParamEntry[];
}

function plan(res: InferenceResponse, extra: ParamEntry | undefined): Plan {
  let size = lenFieldSize(Buffer.byteLength(res.model)) + lenFieldSize(Buffer.byteLength(res.version));
  if (res.id !== undefined && res.id !== '') size += lenFieldSize(Buffer.byteLength(res.id));
  const params: ParamEntry[] = res.parameters ? Object.entries(res.parameters) : [];
  if (extra) params.push(extra);
  for (const [k, v] of params) size += lenFieldSize(entrySize(k, v));
  const n = res.outputs.length;
  const outputSizes = new Array<number>(n);
  const shapeSizes = new Array<number>(n);
  const rawSizes = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t = res.outputs[i];
    let shape = 0;
    for (const d of t.shape) shape += varintSize(d);
    shapeSizes[i] = shape;
    const out = lenFieldSize(Buffer.byteLength(t.name)) + lenFieldSize(t.datatype.length) + (t.shape.length > 0 ? lenFieldSize(shape) : 0);
    outputSizes[i] = out;
    rawSizes[i] = binaryByteLength(t);
    size += lenFieldSize(out) + lenFieldSize(rawSizes[i]);
  }
  return { size, outputSizes, shapeSizes, rawSizes, params };
}

/** Fields 1–5: everything before the raw contents. */
function writeHead(res: InferenceResponse, p: Plan, out: Buffer, pos: number): number {
  pos = writeStringField(out, pos, 1, res.model, Buffer.byteLength(res.model));
  pos = writeStringField(out, pos, 2, res.version, Buffer.byteLength(res.version));
  if (res.id !== undefined && res.id !== '') pos = writeStringField(out, pos, 3, res.id, Buffer.byteLength(res.id));
  for (const [k, v] of p.params) pos = writeEntry(out, pos, 4, k, v);
  const outputs = res.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const t = outputs[i];
    pos = writeLenHeader(out, pos, 5, p.outputSizes[i]);
    pos = writeStringField(out, pos, 1, t.name, Buffer.byteLength(t.name));
    pos = writeStringField(out, pos, 2, t.datatype, t.datatype.length);
    if (t.shape.length > 0) {
      pos = writeLenHeader(out, pos, 3, p.shapeSizes[i]);
      for (const d of t.shape) pos = writeVarint(out, pos, d);
    }
  }
  return pos;
}

function write(res: InferenceResponse, p: Plan, out: Buffer, pos: number): number {
  pos = writeHead(res, p, out, pos);
  const outputs = res.outputs;
  for (let i = 0; i < outputs.length; i++) {
    pos = writeLenHeader(out, pos, 6, p.rawSizes[i]);
    pos = writeBinaryData(outputs[i], out, pos);
  }
  return pos;
}

/** gRPC's length prefix, written in front of each reply: a 0 byte (not compressed), the length big-endian. */
const PREFIX = 5;

function allocFramed(messageSize: number): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + messageSize);
  out[0] = 0;
  out.writeUInt32BE(messageSize, 1);
  return out;
}

/** Numeric outputs at least this large go as views of their storage in encodeInferResponseParts. */
const ZERO_COPY_BYTES = 1024;

/**
 * A ModelInferResponse for `res`, length-prefixed, as parts to write in order: numeric outputs of ZERO_COPY_BYTES or
 * more are views of their storage (not copied); the rest is written into one buffer, which the parts slice.
 */
export function encodeInferResponseParts(res: InferenceResponse): Uint8Array[] {
  const p = plan(res, undefined);
  const outputs = res.outputs;
  let own = PREFIX + p.size;
  const zeroCopy = (i: number) => p.rawSizes[i] >= ZERO_COPY_BYTES && outputs[i].datatype !== 'BYTES';
  for (let i = 0; i < outputs.length; i++) if (zeroCopy(i)) own -= p.rawSizes[i];
  const out = Buffer.allocUnsafe(own);
  out[0] = 0;
  out.writeUInt32BE(p.size, 1);
  let pos = writeHead(res, p, out, PREFIX);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < outputs.length; i++) {
    pos = writeLenHeader(out, pos, 6, p.rawSizes[i]);
    if (zeroCopy(i)) {
      const d = outputs[i].data as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
      parts.push(out.subarray(start, pos), new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      start = pos;
    } else pos = writeBinaryData(outputs[i], out, pos);
  }
  if (pos !== own) throw new Error(`ModelInferResponse: wrote ${pos} own bytes of ${own} planned`);
  if (start < pos) parts.push(out.subarray(start, pos));
  return parts;
}

/** A ModelInferResponse for `res`, length-prefixed for the wire. */
export function encodeInferResponse(res: InferenceResponse): Buffer {
  const p = plan(res, undefined);
  const out = allocFramed(p.size);
  const end = write(res, p, out, PREFIX);
  if (end !== out.length) throw new Error(`ModelInferResponse: wrote ${end - PREFIX} bytes of ${p.size} planned`);
  return out;
}

/**
 * A ModelStreamInferResponse carrying `res`, length-prefixed. `final`: Triton's triton_final_response parameter with
 * that value (absent when undefined). `error`: the stream's error_message beside it (Triton's failed response of a
 * decoupled request: the message, and the request's id, model and version with the final flag).
 */
export function encodeStreamResponse(res: InferenceResponse, final: boolean | undefined, error?: string): Buffer {
  const p = plan(res, final === undefined ? undefined : ['triton_final_response', final]);
  const errBytes = error === undefined ? 0 : Buffer.byteLength(error);
  const out = allocFramed((error === undefined ? 0 : lenFieldSize(errBytes)) + lenFieldSize(p.size));
  const start = error === undefined ? PREFIX : writeStringField(out, PREFIX, 1, error, errBytes);
  const end = write(res, p, out, writeLenHeader(out, start, 2, p.size));
  if (end !== out.length) throw new Error(`ModelStreamInferResponse: wrote ${end - PREFIX} bytes of ${out.length - PREFIX} planned`);
  return out;
}

/**
 * A ModelStreamInferResponse reporting a failed request, length-prefixed: its message, and the request's id so
 * clients can match it.
 */
export function encodeStreamError(message: string, id: string): Buffer {
  const msgBytes = Buffer.byteLength(message);
  const idBytes = Buffer.byteLength(id);
  const inner = id === '' ? 0 : lenFieldSize(idBytes);
  const out = allocFramed(lenFieldSize(msgBytes) + lenFieldSize(inner));
  let pos = writeStringField(out, PREFIX, 1, message, msgBytes);
  pos = writeLenHeader(out, pos, 2, inner);
  if (id !== '') writeStringField(out, pos, 3, id, idBytes);
  return out;
}
