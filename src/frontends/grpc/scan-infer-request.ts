/**
 * The first half of decoding a ModelInferRequest (grpc_service.proto), done as soon as the message has arrived: one
 * pass over its bytes that reads names, shapes and parameters and leaves every tensor's data as a byte
 * range of the message. Nothing is allocated for tensor data here, so a request the server will refuse (admission,
 * infer-handlers.ts) costs one walk over its fields; `decodeInputs` (infer-request.ts) makes tensors afterwards.
 *
 *   ModelInferRequest: 1 model_name, 2 model_version, 3 id, 4 parameters (map<string, InferParameter>),
 *     5 inputs (InferInputTensor: 1 name, 2 datatype, 3 shape (int64), 4 parameters, 5 contents),
 *     6 outputs (InferRequestedOutputTensor: 1 name, 2 parameters), 7 raw_input_contents (bytes)
 *   InferParameter (oneof): 1 bool_param, 2 int64_param, 3 string_param, 4 double_param, 5 uint64_param
 *
 * Unknown fields are skipped (proto3); a field given twice keeps its last value, repeated fields accumulate.
 */
import { FIXED64, LEN, VARINT, WireError, WireReader, bigintOf, int64Of, uint64Of } from './protobuf-wire.js';

/** An InferParameter as it arrived: which member of the oneof, and its value (64-bit integers beyond 2^53 as bigint). */
export type WireParam =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'int64' | 'uint64'; readonly value: number | bigint }
  | { readonly kind: 'double'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  /** No member set. */
  | { readonly kind: 'none'; readonly value: undefined };

export type WireParams = ReadonlyMap<string, WireParam>;

export interface ScannedInput {
  readonly name: string;
  readonly datatype: string;
  /** Each dimension as sent (int64; negative or past 2^53 show as such, for the decoder to refuse). */
  readonly shape: number[];
  readonly parameters: WireParams | undefined;
  /** Byte ranges of its InferTensorContents messages ([start, end, start, end, …]); empty = no `contents`. */
  readonly contents: number[];
}

export interface ScannedOutput {
  readonly name: string;
  readonly parameters: WireParams | undefined;
}

/** A ModelInferRequest after the scan: everything but tensor data decoded. */
export interface ScannedInfer {
  /** The message as received (tensor data is read from it later, as views where aligned). */
  readonly message: Buffer;
  /** performance.now() × 1000 when the message was complete: the request's arrival for admission and timeouts. */
  readonly receivedUs: number;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id: string;
  readonly parameters: WireParams | undefined;
  readonly inputs: readonly ScannedInput[];
  readonly outputs: readonly ScannedOutput[];
  /** Byte ranges of raw_input_contents entries, in order: [start, end, start, end, …]. */
  readonly raw: readonly number[];
}

const NONE: WireParam = { kind: 'none', value: undefined };

function wireOf(tag: number): number {
  return tag & 7;
}

function expectWire(tag: number, wire: number, what: string, r: WireReader): void {
  if ((tag & 7) !== wire) throw new WireError(`${what} has wire type ${tag & 7} at byte ${r.pos}, expected ${wire}`);
}

/** A 64-bit varint or fixed64 just read: a number when exact, else a bigint. */
function int64Value(r: WireReader, signed: boolean): number | bigint {
  const v = signed ? int64Of(r) : uint64Of(r);
  return Number.isSafeInteger(v) ? v : bigintOf(r, signed);
}

function readParam(r: WireReader, end: number): WireParam {
  let p: WireParam = NONE;
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1: expectWire(tag, VARINT, 'bool_param', r); r.varint64(); p = { kind: 'bool', value: (r.lo | r.hi) !== 0 }; break;
      case 2: expectWire(tag, VARINT, 'int64_param', r); r.varint64(); p = { kind: 'int64', value: int64Value(r, true) }; break;
      case 3: expectWire(tag, LEN, 'string_param', r); p = { kind: 'string', value: r.string() }; break;
      case 4: expectWire(tag, FIXED64, 'double_param', r); p = { kind: 'double', value: r.double() }; break;
      case 5: expectWire(tag, VARINT, 'uint64_param', r); r.varint64(); p = { kind: 'uint64', value: int64Value(r, false) }; break;
      default: r.skip(wireOf(tag));
    }
  }
  // A member's value may not run past the InferParameter message into the fields after it.
  if (r.pos !== end) throw new WireError(`parameter value overruns its length at byte ${r.pos}`);
  return p;
}

/** One map<string, InferParameter> entry (key 1, value 2) into `into`. */
function readParamEntry(r: WireReader, into: Map<string, WireParam>): void {
  const n = r.length();
  const end = r.pos + n;
  let key = '';
  let value: WireParam = NONE;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) key = r.string();
    else if (tag === ((2 << 3) | LEN)) {
      const n = r.length();
      value = readParam(r, r.pos + n);
    } else r.skip(wireOf(tag));
  }
  if (r.pos !== end) throw new WireError(`parameter entry overruns its length at byte ${r.pos}`);
  into.set(key, value);
}

function readShape(r: WireReader, tag: number, shape: number[]): void {
  if (wireOf(tag) === VARINT) {
    r.varint64();
    shape.push(int64Of(r));
    return;
  }
  expectWire(tag, LEN, 'shape', r);
  const n = r.length();
  const end = r.pos + n;
  while (r.pos < end) {
    r.varint64();
    shape.push(int64Of(r));
  }
  if (r.pos !== end) throw new WireError(`packed shape overruns its length at byte ${r.pos}`);
}

function readInput(r: WireReader): ScannedInput {
  const n = r.length();
  const end = r.pos + n;
  let name = '';
  let datatype = '';
  const shape: number[] = [];
  let parameters: Map<string, WireParam> | undefined;
  const contents: number[] = [];
  while (r.pos < end) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1: expectWire(tag, LEN, 'input name', r); name = r.string(); break;
      case 2: expectWire(tag, LEN, 'input datatype', r); datatype = r.string(); break;
      case 3: readShape(r, tag, shape); break;
      case 4: expectWire(tag, LEN, 'input parameters', r); readParamEntry(r, (parameters ??= new Map())); break;
      case 5: {
        expectWire(tag, LEN, 'input contents', r);
        const n = r.length();
        contents.push(r.pos, r.pos + n);
        r.pos += n;
        break;
      }
      default: r.skip(wireOf(tag));
    }
  }
  if (r.pos !== end) throw new WireError(`input overruns its length at byte ${r.pos}`);
  return { name, datatype, shape, parameters, contents };
}

function readOutput(r: WireReader): ScannedOutput {
  const n = r.length();
  const end = r.pos + n;
  let name = '';
  let parameters: Map<string, WireParam> | undefined;
  while (r.pos < end) {
    const tag = r.tag();
    if (tag === ((1 << 3) | LEN)) name = r.string();
    else if (tag === ((2 << 3) | LEN)) readParamEntry(r, (parameters ??= new Map()));
    else r.skip(wireOf(tag));
  }
  if (r.pos !== end) throw new WireError(`requested output overruns its length at byte ${r.pos}`);
  return { name, parameters };
}

/** Scans a ModelInferRequest; throws WireError when the bytes are not a valid message. */
export function scanInferRequest(message: Buffer, receivedUs: number): ScannedInfer {
  const r = new WireReader(message, 0, message.length);
  let modelName = '';
  let modelVersion = '';
  let id = '';
  let parameters: Map<string, WireParam> | undefined;
  const inputs: ScannedInput[] = [];
  const outputs: ScannedOutput[] = [];
  const raw: number[] = [];
  while (!r.done) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 1: expectWire(tag, LEN, 'model_name', r); modelName = r.string(); break;
      case 2: expectWire(tag, LEN, 'model_version', r); modelVersion = r.string(); break;
      case 3: expectWire(tag, LEN, 'id', r); id = r.string(); break;
      case 4: expectWire(tag, LEN, 'parameters', r); readParamEntry(r, (parameters ??= new Map())); break;
      case 5: expectWire(tag, LEN, 'inputs', r); inputs.push(readInput(r)); break;
      case 6: expectWire(tag, LEN, 'outputs', r); outputs.push(readOutput(r)); break;
      case 7: {
        expectWire(tag, LEN, 'raw_input_contents', r);
        const n = r.length();
        raw.push(r.pos, r.pos + n);
        r.pos += n;
        break;
      }
      default: r.skip(wireOf(tag));
    }
  }
  return { message, receivedUs, modelName, modelVersion, id, parameters, inputs, outputs, raw };
}
