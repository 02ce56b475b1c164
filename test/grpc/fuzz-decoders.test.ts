/**
 * Fuzzing the gRPC decoders (issue 14) with fast-check, deterministic seeds: the hand-written ModelInferRequest
 * codec (protobuf-wire.ts, scan-infer-request.ts, infer-request.ts, typed-contents.ts) and the gRPC framing
 * (grpc-call.ts). Every generated message is one corruption of a valid request, each chosen so that no reading of
 * the result is a valid request: truncation, lying lengths, wrong wire types, 32-bit overflowing lengths,
 * raw_input_contents count and size mismatches, typed contents in the wrong field or out of range, huge, negative
 * and overflowing dims, BYTES length prefixes inside raw contents, invalid UTF-8 in strings, invalid tags, unknown
 * fields (and valid unknown fields deeply nested around another corruption), bad parameters.
 *
 * Most cases drive the decoder directly — what the frontend runs (scan, parameters, tensors) and what
 * InferenceServer.infer runs before queueing (validateRequest) — and must be refused with the catalog's code the
 * corruption calls for (INVALID_ARGUMENT; RESOURCE_EXHAUSTED for over-limit; NOT_FOUND for a model or version that
 * is not there; UNIMPLEMENTED for shared memory): never an escaping exception (INTERNAL), never an acceptance (a
 * wrong OK). A sample goes through a real GrpcFrontend over a raw node:http2 client, with framing corruptions
 * grpc-js would never send; each answer must carry exactly the status the decoder gave, and the server must then
 * still serve correctly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CancelSource, DEFAULT_LIMITS, ERROR_CODES, InferenceError, type DataType, type ErrorCode, type RequestLimits } from '../../src/core/index.js';
import { scanInferRequest } from '../../src/frontends/grpc/scan-infer-request.js';
import { inferHeader, inferRequestOf } from '../../src/frontends/grpc/infer-request.js';
import { WireError } from '../../src/frontends/grpc/protobuf-wire.js';
import { compileRequestSpec, validateRequest, type RequestSpec } from '../../src/server/validate-request.js';
import { identityAllTypesModel, mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { type Client, type GrpcRunning, type RawAnswer, expectOk, grpcClient, rawGrpcCall, startGrpcServer } from './helpers.js';
import { packageDefinition } from '../../src/frontends/grpc/service-definition.js';

const LIMITS: RequestLimits = { ...DEFAULT_LIMITS, maxBodyBytes: 1 << 20, maxTensorElements: 4096, maxRank: 8 };
const TYPES: DataType[] = ['FP32', 'FP64', 'INT8', 'UINT16', 'INT32', 'INT64', 'UINT64', 'BOOL', 'BYTES'];
const mlp = mlpModel(4, 8, 2);
const repo = tempRepo('autoglm-grpc-fuzz-');
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const protobufjsEncode = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelInfer.requestSerialize as (v: unknown) => Buffer;
let srv: GrpcRunning;
let client: Client;
const specs = new Map<string, RequestSpec>();

before(async () => {
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: `
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
` });
  writeModel(repo.dir, 'identity', identityAllTypesModel(TYPES));
  srv = await startGrpcServer({ modelRepositories: [repo.dir], limits: LIMITS, defaultMaxBatchSize: 4 });
  client = grpcClient(srv.target);
  for (const m of ['mlp', 'identity']) specs.set(m, compileRequestSpec(srv.server.modelConfig(m)));
});
after(async () => {
  client.close();
  await srv.close();
  repo.remove();
});

// --- A protobuf writer of our own (not the frontend's, not protobufjs): fields as a tree, encoded on demand ---

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** One field: number, wire type, value (a nested message is a field list), or bytes spliced in as they are. */
type Field = { readonly no: number; readonly wire: number; readonly v: bigint | Buffer | Field[] } | { readonly splice: Buffer };

function varint(v: bigint): Buffer {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return Buffer.from(out);
}
const varintOf = (n: number | bigint) => varint(BigInt(n));
const tagOf = (no: number, wire: number) => varint(BigInt(no) * 8n + BigInt(wire));

function encode(fields: readonly Field[]): Buffer {
  return Buffer.concat(fields.map((f) => {
    if ('splice' in f) return f.splice;
    if (f.wire === VARINT) return Buffer.concat([tagOf(f.no, f.wire), varint(f.v as bigint)]);
    const payload = Array.isArray(f.v) ? encode(f.v) : f.v as Buffer;
    return f.wire === LEN ? Buffer.concat([tagOf(f.no, LEN), varintOf(payload.length), payload]) : Buffer.concat([tagOf(f.no, f.wire), payload]);
  }));
}

const str = (no: number, s: string | Buffer): Field => ({ no, wire: LEN, v: typeof s === 'string' ? Buffer.from(s, 'utf8') : s });
const msg = (no: number, fields: Field[]): Field => ({ no, wire: LEN, v: fields });
const int = (no: number, v: number | bigint): Field => ({ no, wire: VARINT, v: BigInt(v) });

// --- Valid requests: the material the corruptions start from ---

type Value = number | bigint | boolean | string;

interface BaseInput {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: number[];
  readonly values: Value[];
}

interface Base {
  readonly model: string;
  readonly version: boolean;
  readonly inputs: BaseInput[];
  readonly id: string | undefined;
  readonly outputs: string[];
  /** Data as typed contents (else raw_input_contents). */
  readonly typed: boolean;
  /** Typed contents and shapes packed (what encoders write) or one field per element (what parsers must accept). */
  readonly packed: boolean;
  /** A priority parameter, and a free one the server passes on. */
  readonly params: boolean;
}

const VALUE: Record<string, fc.Arbitrary<Value>> = {
  FP32: fc.float({ noNaN: true, noDefaultInfinity: true }),
  FP64: fc.double({ noNaN: true, noDefaultInfinity: true }),
  INT8: fc.integer({ min: -128, max: 127 }),
  UINT16: fc.integer({ min: 0, max: 0xffff }),
  INT32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  INT64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  UINT64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  BOOL: fc.boolean(),
  BYTES: fc.string({ unit: 'grapheme', maxLength: 6 }),
};

/** The typed contents field of each datatype and how its elements are encoded. */
const CONTENTS: Record<string, { field: number; wire: number }> = {
  BOOL: { field: 1, wire: VARINT }, INT8: { field: 2, wire: VARINT }, INT32: { field: 2, wire: VARINT }, INT64: { field: 3, wire: VARINT },
  UINT16: { field: 4, wire: VARINT }, UINT64: { field: 5, wire: VARINT }, FP32: { field: 6, wire: FIXED32 }, FP64: { field: 7, wire: FIXED64 },
  BYTES: { field: 8, wire: LEN },
};

function rawOf(dt: DataType, values: Value[]): Buffer {
  const n = values.length;
  switch (dt) {
    case 'FP32': { const b = Buffer.alloc(4 * n); values.forEach((v, i) => b.writeFloatLE(v as number, 4 * i)); return b; }
    case 'FP64': { const b = Buffer.alloc(8 * n); values.forEach((v, i) => b.writeDoubleLE(v as number, 8 * i)); return b; }
    case 'INT8': { const b = Buffer.alloc(n); values.forEach((v, i) => b.writeInt8(v as number, i)); return b; }
    case 'UINT16': { const b = Buffer.alloc(2 * n); values.forEach((v, i) => b.writeUInt16LE(v as number, 2 * i)); return b; }
    case 'INT32': { const b = Buffer.alloc(4 * n); values.forEach((v, i) => b.writeInt32LE(v as number, 4 * i)); return b; }
    case 'INT64': { const b = Buffer.alloc(8 * n); values.forEach((v, i) => b.writeBigInt64LE(v as bigint, 8 * i)); return b; }
    case 'UINT64': { const b = Buffer.alloc(8 * n); values.forEach((v, i) => b.writeBigUInt64LE(v as bigint, 8 * i)); return b; }
    case 'BOOL': return Buffer.from(values.map((v) => (v ? 1 : 0)));
    case 'BYTES': return Buffer.concat((values as string[]).flatMap((s) => {
      const p = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(p.length);
      return [len, p];
    }));
    default: throw new Error(`no raw form for ${dt} here`);
  }
}

/** One element of a typed contents field, as that field encodes it. */
function elementOf(dt: DataType, v: Value): bigint | Buffer {
  const c = CONTENTS[dt];
  if (c.wire === VARINT) return typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v as number | bigint);
  if (dt === 'BYTES') return Buffer.from(v as string, 'utf8');
  return rawOf(dt, [v]);
}

/** InferTensorContents of `values`: packed (one LEN field) or one field per element. */
function contentsOf(dt: DataType, values: Value[], packed: boolean): Field[] {
  const c = CONTENTS[dt];
  const elements = values.map((v) => elementOf(dt, v));
  if (!packed || c.wire === LEN) return elements.map((e) => ({ no: c.field, wire: c.wire, v: e }));
  const bytes = Buffer.concat(elements.map((e) => (typeof e === 'bigint' ? varint(e) : e)));
  return [{ no: c.field, wire: LEN, v: bytes }];
}

function shapeOf(shape: readonly (number | bigint)[], packed: boolean): Field[] {
  return packed ? [{ no: 3, wire: LEN, v: Buffer.concat(shape.map(varintOf)) }] : shape.map((d) => int(3, d));
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function baseArb(model: string): fc.Arbitrary<Base> {
  const spec = specs.get(model)!;
  return fc.integer({ min: 1, max: Math.min(spec.maxBatchSize, 3) }).chain((batch) => fc.tuple(
    fc.tuple(...[...spec.inputs.values()].map((i) => {
      const shape = [batch, ...i.dims];
      const n = product(shape);
      return fc.array(VALUE[i.datatype], { minLength: n, maxLength: n }).map((values): BaseInput => ({ name: i.name, datatype: i.datatype, shape, values }));
    })),
    fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    fc.subarray([...spec.outputs]),
    fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(),
  )).map(([inputs, id, outputs, typed, packed, params, version]) => ({ model, version, inputs, id, outputs, typed, packed, params }));
}
const anyBase = () => fc.oneof(baseArb('mlp'), baseArb('identity'));

/** The request as a field tree, fields in the order that makes truncation always invalid: data last. */
interface Tree {
  head: Field[];
  inputs: Field[][];
  raw: Buffer[];
  /** Input j sent as these bytes instead of its fields (a lying length). */
  wholeInput?: Map<number, Field>;
}

function treeOf(b: Base): Tree {
  const head: Field[] = [str(1, b.model)];
  if (b.version) head.push(str(2, '1'));
  if (b.id !== undefined) head.push(str(3, b.id));
  if (b.params) {
    head.push(msg(4, [str(1, 'priority'), msg(2, [int(2, 1)])]));
    head.push(msg(4, [str(1, 'app_tag'), msg(2, [str(3, 'fuzz')])]));
  }
  for (const o of b.outputs) head.push(msg(6, [str(1, o)]));
  const inputs = b.inputs.map((i) => {
    const t: Field[] = [str(1, i.name), str(2, i.datatype), ...shapeOf(i.shape, b.packed)];
    if (b.typed) t.push(msg(5, contentsOf(i.datatype, i.values, b.packed)));
    return t;
  });
  return { head, inputs, raw: b.typed ? [] : b.inputs.map((i) => rawOf(i.datatype, i.values)) };
}

function encodeTree(t: Tree): Buffer {
  return encode([...t.head, ...t.inputs.map((f, j) => t.wholeInput?.get(j) ?? msg(5, f)), ...t.raw.map((r) => ({ no: 7, wire: LEN, v: r }))]);
}

/** A protobufjs request object for the same valid request (the control: an independent encoder). */
function protobufjsOf(b: Base): Record<string, unknown> {
  const field: Record<string, string> = { BOOL: 'bool_contents', INT8: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
    UINT16: 'uint_contents', UINT64: 'uint64_contents', FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents' };
  const value = (dt: DataType, v: Value) => (dt === 'BYTES' ? Buffer.from(v as string) : typeof v === 'bigint' ? v.toString() : v);
  return {
    model_name: b.model,
    model_version: b.version ? '1' : '',
    id: b.id ?? '',
    parameters: b.params ? { priority: { int64_param: 1 }, app_tag: { string_param: 'fuzz' } } : {},
    inputs: b.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape,
      ...(b.typed ? { contents: { [field[i.datatype]]: i.values.map((v) => value(i.datatype, v)) } } : {}) })),
    outputs: b.outputs.map((name) => ({ name })),
    raw_input_contents: b.typed ? [] : b.inputs.map((i) => rawOf(i.datatype, i.values)),
  };
}

// --- The corruptions ---

/** A corrupted message and the codes that may refuse it (the first is what the corruption is about). */
interface Bad {
  readonly label: string;
  readonly model: string;
  readonly bytes: Buffer;
  readonly codes: readonly ErrorCode[];
}

const INVALID: readonly ErrorCode[] = ['INVALID_ARGUMENT'];
const INVALID_UTF8: readonly number[][] = [[0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0x80], [0xbf], [0xe2, 0x82], [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe0, 0x80, 0xaf], [0xc3]];

/** Edits the tree (a fresh one) of a valid request. */
function treeEdit<T>(label: string, extra: fc.Arbitrary<T>, edit: (t: Tree, x: T, b: Base) => void, codes = INVALID,
  prepare: (b: Base, x: T) => Base = (b) => b): fc.Arbitrary<Bad> {
  return fc.tuple(anyBase(), extra).map(([b0, x]) => {
    const b = prepare(b0, x);
    const t = treeOf(b);
    edit(t, x, b);
    return { label, model: b.model, bytes: encodeTree(t), codes };
  });
}

/** Edits the encoded bytes of a valid request. */
function bytesEdit<T>(label: string, extra: fc.Arbitrary<T>, edit: (bytes: Buffer, x: T, b: Base) => Buffer, codes = INVALID,
  prepare: (b: Base, x: T) => Base = (b) => b): fc.Arbitrary<Bad> {
  return fc.tuple(anyBase(), extra).map(([b0, x]) => {
    const b = prepare(b0, x);
    return { label, model: b.model, bytes: edit(encodeTree(treeOf(b)), x, b), codes };
  });
}

const typed = (b: Base): Base => ({ ...b, typed: true });
const raw = (b: Base): Base => ({ ...b, typed: false });
const pick = <T>(xs: readonly T[], k: number): T => xs[k % xs.length];
const inputIndex = (t: Tree, k: number) => k % t.inputs.length;
/** An input's fields but its shape; the index of its contents field. */
const withoutShape = (f: Field[]) => f.filter((x) => !('no' in x && x.no === 3));
const contentsAt = (f: Field[]) => f.findIndex((x) => 'no' in x && x.no === 5);

/** A valid but deeply nested unknown field (skipped by every parser): `depth` LEN fields inside each other. */
function deepUnknown(depth: number, no: number): Field {
  let f: Field = int(no, 1);
  for (let d = 0; d < depth; d++) f = msg(no, [f]);
  return f;
}

let structuralPool: ReturnType<typeof corruptions> | undefined;

/**
 * The corruptions, weighted. `structural` ones stay invalid whatever valid fields are added before or after them
 * (not those that depend on where the message ends: truncation, lengths that run past the end).
 */
function corruptions(): Array<{ weight: number; arbitrary: fc.Arbitrary<Bad>; structural: boolean }> {
  const c: Array<[number, fc.Arbitrary<Bad>, boolean?]> = [
    // Truncation: data goes last, so any cut drops part of it (a field cut inside, or whole data entries).
    [5, bytesEdit('truncated', fc.nat(), (bytes, k) => bytes.subarray(0, k % bytes.length)), false],
    // Lying lengths: the message's own, or of a field inside it.
    [3, bytesEdit('raw_input_contents length past the end', fc.integer({ min: 1, max: 1 << 20 }), (bytes, d, b) => {
      const t = treeOf(b);
      const last = t.raw[t.raw.length - 1];
      const before = encode([...t.head, ...t.inputs.map((f) => msg(5, f)), ...t.raw.slice(0, -1).map((r) => ({ no: 7, wire: LEN, v: r }))]);
      return Buffer.concat([before, tagOf(7, LEN), varintOf(last.length + d), last]);
    }, INVALID, raw), false],
    [3, treeEdit('a length of 2^32 + n (n in its low 32 bits)', fc.tuple(fc.nat(), fc.constantFrom('model', 'name', 'input', 'raw')), (t, [k, where]) => {
      // A reader that keeps a length's low 32 bits sees exactly the field, and a valid request.
      const wrap = (no: number, payload: Buffer): Field => ({ splice: Buffer.concat([tagOf(no, LEN), varintOf(2n ** 32n + BigInt(payload.length)), payload]) });
      const i = inputIndex(t, k);
      if (where === 'model') t.head[0] = wrap(1, (t.head[0] as { v: Buffer }).v);
      else if (where === 'name') t.inputs[i][0] = wrap(1, (t.inputs[i][0] as { v: Buffer }).v);
      else if (where === 'input' || t.raw.length === 0) (t.wholeInput ??= new Map()).set(i, wrap(5, encode(t.inputs[i])));
      else {
        const r = t.raw;
        t.raw = [];
        t.head = [...t.head, ...t.inputs.map((f) => msg(5, f)), ...r.map((x, j) => (j === i % r.length ? wrap(7, x) : { no: 7, wire: LEN, v: x }))];
        t.inputs = [];
      }
    }), false],
    [3, treeEdit('an input message length off by some bytes', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 }), fc.boolean()), (t, [k, d, up]) => {
      // A longer length swallows the fields after it (or runs past the end), a shorter one leaves a tail of its own.
      const i = inputIndex(t, k);
      const inner = encode(t.inputs[i]);
      const len = up ? inner.length + d : Math.max(0, inner.length - d);
      (t.wholeInput ??= new Map()).set(i, { splice: Buffer.concat([tagOf(5, LEN), varintOf(len), inner]) });
    }), false],
    [1, treeEdit('a parameter value that runs past its InferParameter into the entry', fc.nat(), (t) => {
      // The entry: value first (a double_param one byte short), then a field the overrun lands in the middle of.
      const value = Buffer.concat([tagOf(4, FIXED64), Buffer.alloc(7, 0x11)]);
      t.head.push({ splice: encode([{ no: 4, wire: LEN, v: Buffer.concat([tagOf(2, LEN), varintOf(value.length), value, Buffer.from([0x48, 0x48, 0x00])]) }]) });
    }), false],
    [2, treeEdit('raw_input_contents entry size ≠ its shape', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 }), fc.boolean()), (t, [k, d, grow]) => {
      const i = k % t.raw.length;
      t.raw[i] = grow ? Buffer.concat([t.raw[i], Buffer.alloc(d, 0x41)]) : t.raw[i].subarray(0, Math.max(0, t.raw[i].length - d));
    }, INVALID, raw)],
    // Wire types.
    [4, treeEdit('a known field with the wrong wire type', fc.tuple(fc.nat(), fc.constantFrom('model_name', 'id', 'input', 'name', 'datatype', 'shape', 'contents', 'raw', 'output', 'parameter', 'param_value'), fc.constantFrom(VARINT, FIXED64, LEN, FIXED32)),
      (t, [k, where, wire]) => {
        const i = inputIndex(t, k);
        const wrongFor = (expected: number) => (wire === expected ? (expected === LEN ? FIXED32 : LEN) : wire);
        const junk = (w: number): bigint | Buffer => (w === VARINT ? 7n : w === FIXED64 ? Buffer.alloc(8, 1) : w === FIXED32 ? Buffer.alloc(4, 1) : Buffer.from('x'));
        const field = (no: number, expected: number): Field => { const w = wrongFor(expected); return { no, wire: w, v: junk(w) }; };
        switch (where) {
          case 'model_name': t.head[0] = field(1, LEN); break;
          case 'id': t.head.push(field(3, LEN)); break;
          case 'input': t.head.push(field(5, LEN)); break;
          case 'name': t.inputs[i][0] = field(1, LEN); break;
          case 'datatype': t.inputs[i][1] = field(2, LEN); break;
          case 'shape': { const w = wrongFor(VARINT) === LEN ? FIXED64 : wrongFor(VARINT); t.inputs[i].push({ no: 3, wire: w, v: junk(w) }); break; }
          case 'contents': t.inputs[i].push(field(5, LEN)); break;
          case 'raw': t.head.push(field(7, LEN)); break;
          case 'output': t.head.push(field(6, LEN)); break;
          case 'parameter': t.head.push(field(4, LEN)); break;
          case 'param_value': t.head.push(msg(4, [str(1, 'priority'), msg(2, [field(2, VARINT)])])); break;
        }
      })],
    [2, treeEdit('an invalid wire type (group or 6, 7), anywhere', fc.tuple(fc.nat(), fc.constantFrom(3, 4, 6, 7), fc.integer({ min: 1, max: 40 }), fc.boolean()), (t, [k, wire, no, nested]) => {
      const bad: Field = { splice: Buffer.concat([tagOf(no, wire), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])]) };
      if (nested) t.inputs[inputIndex(t, k)].splice(k % 3, 0, bad);
      else t.head.splice(1 + (k % t.head.length), 0, bad);
    })],
    [1, treeEdit('field number 0, anywhere', fc.tuple(fc.nat(), fc.constantFrom(VARINT, LEN, FIXED32), fc.boolean()), (t, [k, wire, nested]) => {
      const bad: Field = { no: 0, wire, v: wire === VARINT ? 0n : wire === LEN ? Buffer.from('z') : Buffer.alloc(4) };
      if (nested) t.inputs[inputIndex(t, k)].push(bad);
      else t.head.push(bad);
    })],
    [1, bytesEdit('a varint longer than 10 bytes', fc.constantFrom(9, 1, 5), (bytes, no) =>
      Buffer.concat([tagOf(no, no === 9 ? VARINT : LEN), Buffer.alloc(10, 0xff), Buffer.from([1]), bytes]))],
    // raw_input_contents against inputs.
    [3, treeEdit('raw_input_contents count ≠ inputs', fc.tuple(fc.nat(), fc.constantFrom('drop', 'extra', 'none')), (t, [k, how]) => {
      if (how === 'drop') t.raw.splice(k % t.raw.length, 1);
      else if (how === 'extra') t.raw.push(t.raw[k % t.raw.length]);
      else t.raw = [];
    }, INVALID, raw)],
    [2, treeEdit('typed contents and raw_input_contents both', fc.nat(), (t, k, b) => {
      const i = inputIndex(t, k);
      t.inputs[i].push(msg(5, contentsOf(b.inputs[i].datatype, b.inputs[i].values, true)));
    }, INVALID, raw)],
    // Typed contents.
    [3, treeEdit('typed contents in another type\'s field', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 })), (t, [k, other], b) => {
      const i = inputIndex(t, k);
      const dt = b.inputs[i].datatype;
      const field = CONTENTS[dt].field === other ? (other % 8) + 1 : other;
      const wire = [0, VARINT, VARINT, VARINT, VARINT, VARINT, FIXED32, FIXED64, LEN][field];
      const v = wire === VARINT ? 1n : wire === FIXED32 ? Buffer.alloc(4) : wire === FIXED64 ? Buffer.alloc(8) : Buffer.from('a');
      (t.inputs[i][contentsAt(t.inputs[i])] as { v: Field[] }).v.push({ no: field, wire, v });
    }, INVALID, typed)],
    [3, treeEdit('typed contents count ≠ shape', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5 }), fc.boolean()), (t, [k, d, more], b) => {
      const i = inputIndex(t, k);
      const dt = b.inputs[i].datatype;
      const values = b.inputs[i].values;
      const changed = more ? [...values, ...new Array(d).fill(values[0])] : values.slice(0, Math.max(0, values.length - d));
      t.inputs[i][contentsAt(t.inputs[i])] = msg(5, contentsOf(dt, changed, b.packed));
    }, INVALID, typed)],
    [2, treeEdit('typed integers out of their datatype\'s range', fc.tuple(fc.nat(), fc.nat()), (t, [k, e], b) => {
      const i = b.inputs.findIndex((x) => ['INT8', 'UINT16'].includes(x.datatype));
      if (i < 0) { t.inputs[0].push(msg(5, [{ no: 2, wire: VARINT, v: 1n }])); return; } // mlp: data in the wrong field instead
      const dt = b.inputs[i].datatype;
      const out = pick(dt === 'INT8' ? [128, -129, 1000, -(2 ** 31)] : [65536, -1, 2 ** 31], e);
      const values = b.inputs[i].values.map((v, j) => (j === e % b.inputs[i].values.length ? out : v));
      t.inputs[i][contentsAt(t.inputs[i])] = msg(5, contentsOf(dt, values, b.packed));
    }, INVALID, typed)],
    [1, treeEdit('packed contents that end inside a varint or an element', fc.tuple(fc.nat(), fc.constantFrom(1, 2, 3, 4, 5, 6, 7)), (t, [k, field]) => {
      const i = inputIndex(t, k);
      const payload = field <= 5 ? Buffer.from([0x81, 0x82]) : Buffer.alloc(field === 6 ? 5 : 9, 1);
      t.inputs[i][contentsAt(t.inputs[i])] = msg(5, [{ no: field, wire: LEN, v: payload }]);
    }, INVALID, typed)],
    // Shapes.
    [3, treeEdit('huge, negative or overflowing dims', fc.tuple(fc.nat(), fc.constantFrom<(number | bigint)[]>(
      [2 ** 20, 2 ** 20], [65536, 65536, 65536], [2 ** 31, 2], [2 ** 40], [1, 2n ** 53n + 1n], [2n ** 63n - 1n], [2n ** 62n, 4],
      [-1], [1, -1], [-(2n ** 63n)], [2n ** 64n - 1n], [1, 4097], [4097]), fc.boolean()), (t, [k, shape, packed]) => {
      const i = inputIndex(t, k);
      t.inputs[i] = [...withoutShape(t.inputs[i]), ...shapeOf(shape, packed)];
    }, ['INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE'])],
    [1, treeEdit('rank over the limit', fc.tuple(fc.nat(), fc.integer({ min: LIMITS.maxRank + 1, max: LIMITS.maxRank + 200 })), (t, [k, rank]) => {
      const i = inputIndex(t, k);
      t.inputs[i] = [...withoutShape(t.inputs[i]), ...shapeOf(new Array(rank).fill(1), true)];
    })],
    [2, treeEdit('shape whose product differs from the data', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 3 })), (t, [k, d], b) => {
      const i = inputIndex(t, k);
      const shape = [...b.inputs[i].shape];
      shape[shape.length - 1] += d;
      t.inputs[i] = [...withoutShape(t.inputs[i]), ...shapeOf(shape, b.packed)];
    })],
    [1, treeEdit('packed shape that ends inside a varint', fc.nat(), (t, k) => {
      const i = inputIndex(t, k);
      t.inputs[i] = [...withoutShape(t.inputs[i]), { no: 3, wire: LEN, v: Buffer.from([0x01, 0x84]) }];
    })],
    // BYTES length prefixes inside raw contents (the identity model's BYTES input).
    [4, fc.tuple(baseArb('identity'), fc.nat(), fc.constantFrom('past-end', 'max', 'last-short', 'trailing', 'more-elements'), fc.nat()).map(([b0, e, how, r]): Bad => {
      const b = raw(b0);
      const t = treeOf(b);
      const k = b.inputs.findIndex((i) => i.datatype === 'BYTES');
      const bytes = Buffer.from(t.raw[k]);
      const values = b.inputs[k].values as string[];
      const at: number[] = [];
      let off = 0;
      for (const v of values) { at.push(off); off += 4 + Buffer.byteLength(v); }
      const last = values.length - 1;
      const lastLen = Buffer.byteLength(values[last]);
      let mode = how;
      if (mode === 'last-short' && lastLen === 0) mode = 'past-end';
      if (mode === 'past-end') {
        const i = e % values.length;
        bytes.writeUInt32LE(Math.min(0xffffffff, bytes.length - (at[i] + 4) + 1 + (r % 1000)), at[i]);
        t.raw[k] = bytes;
      } else if (mode === 'max') {
        bytes.writeUInt32LE(0xffffffff, at[e % values.length]);
        t.raw[k] = bytes;
      } else if (mode === 'last-short') {
        bytes.writeUInt32LE(lastLen - 1 - (r % lastLen), at[last]);
        t.raw[k] = bytes;
      } else if (mode === 'trailing') {
        t.raw[k] = Buffer.concat([bytes, Buffer.alloc(1 + (r % 3))]);
      } else {
        const shape = [...b.inputs[k].shape];
        shape[0] += 1;
        t.inputs[k] = [...withoutShape(t.inputs[k]), ...shapeOf(shape, b.packed)];
      }
      return { label: `BYTES length prefix: ${mode}`, model: b.model, bytes: encodeTree(t), codes: INVALID };
    })],
    // Strings.
    [4, treeEdit('invalid UTF-8 in a string', fc.tuple(fc.nat(), fc.constantFrom(...INVALID_UTF8), fc.constantFrom('model', 'id', 'input', 'datatype', 'output', 'key', 'value')),
      (t, [k, bad, where]) => {
        const i = inputIndex(t, k);
        const spoil = (f: Field): Field => str((f as { no: number }).no, Buffer.concat([(f as { v: Buffer }).v.subarray(0, 1), Buffer.from(bad), (f as { v: Buffer }).v.subarray(1)]));
        switch (where) {
          case 'model': t.head[0] = spoil(t.head[0]); break;
          case 'id': t.head.push(str(3, Buffer.concat([Buffer.from('req-'), Buffer.from(bad)]))); break;
          case 'input': t.inputs[i][0] = spoil(t.inputs[i][0]); break;
          case 'datatype': t.inputs[i][1] = spoil(t.inputs[i][1]); break;
          case 'output': t.head.push(msg(6, [str(1, Buffer.concat([Buffer.from('out'), Buffer.from(bad)]))])); break;
          case 'key': t.head.push(msg(4, [str(1, Buffer.concat([Buffer.from('k'), Buffer.from(bad)])), msg(2, [int(1, 1)])])); break;
          case 'value': t.head.push(msg(4, [str(1, 'app'), msg(2, [str(3, Buffer.concat([Buffer.from('v'), Buffer.from(bad)]))])])); break;
        }
      })],
    [2, treeEdit('model name not plain, empty or unknown; version not a number or unknown', fc.constantFrom('', '..', 'a/b', '../etc', 'x y', 'mlp\u0000', 'zz_unknown', 'v:abc', 'v:-1', 'v:1.5', 'v:99', 'v:0x1'), (t, name) => {
      if (name.startsWith('v:')) t.head = [...t.head.filter((f) => !('no' in f && f.no === 2)), str(2, name.slice(2))];
      else t.head[0] = str(1, name);
    }, ['INVALID_ARGUMENT', 'NOT_FOUND'])],
    [2, treeEdit('datatype unknown or another one', fc.tuple(fc.nat(), fc.constantFrom('', 'fp32', 'FLOAT', 'TYPE_FP32', 'FP8', 'INT128', 'FP16', 'BF16', 'STRING')), (t, [k, dt]) => {
      const i = inputIndex(t, k);
      t.inputs[i][1] = str(2, dt);
    })],
    [2, treeEdit('input unknown, missing or repeated', fc.tuple(fc.nat(), fc.constantFrom('unknown', 'drop', 'dup')), (t, [k, how]) => {
      const i = inputIndex(t, k);
      if (how === 'unknown') t.inputs[i][0] = str(1, 'zz_no_such_input');
      else if (how === 'drop') { t.inputs.splice(i, 1); if (t.raw.length > 0) t.raw.splice(i, 1); }
      else { t.inputs.push(t.inputs[i]); if (t.raw.length > 0) t.raw.push(t.raw[i]); }
    })],
    [1, treeEdit('requested output unknown or repeated', fc.constantFrom('unknown', 'dup'), (t, how, b) => {
      const known = [...specs.get(b.model)!.outputs][0];
      if (how === 'unknown') t.head.push(msg(6, [str(1, 'zz_no_such_output')]));
      else t.head.push(msg(6, [str(1, known)]), msg(6, [str(1, known)]));
    })],
    // Parameters.
    [2, treeEdit('a parameter of the wrong type or value', fc.constantFrom(
      ['priority', [str(3, 'high')]], ['priority', [int(2, -1)]], ['priority', [int(1, 1)]], ['timeout', [int(5, 10)]], ['timeout', [int(2, -5)]],
      ['sequence_id', [int(2, 7)]], ['sequence_id', [str(3, 'abc')]], ['sequence_id', [int(1, 1)]], ['sequence_start', [int(2, 1)]],
      ['triton_something', [int(1, 1)]], ['triton_enable_empty_final_response', [int(2, 1)]],
      ['binary_data_output', [{ no: 4, wire: FIXED64, v: Buffer.alloc(7) }]],
    ) as fc.Arbitrary<[string, Field[]]>, (t, [key, value]) => { t.head.push(msg(4, [str(1, key), msg(2, value)])); })],
    [1, treeEdit('shared memory asked for', fc.tuple(fc.nat(), fc.boolean()), (t, [k, onOutput], b) => {
      // InferInputTensor's parameters are field 4, InferRequestedOutputTensor's field 2.
      const p = (no: number) => msg(no, [str(1, 'shared_memory_region'), msg(2, [str(3, 'region0')])]);
      if (onOutput) t.head.push(msg(6, [str(1, [...specs.get(b.model)!.outputs][0]), p(2)]));
      else t.inputs[inputIndex(t, k)].push(p(4));
    }, ['UNIMPLEMENTED'])],
    // Unknown fields: valid ones (deeply nested, every wire type) must not hide another corruption.
    [3, fc.tuple(fc.nat(), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 8, max: 2 ** 29 - 1 }), fc.nat()).chain(([which, depth, no, where]) => {
      structuralPool ??= corruptions().filter((x) => x.structural);
      const inner = structuralPool[which % structuralPool.length].arbitrary;
      return inner.map((bad): Bad => {
        const unknown = encode([deepUnknown(depth, no), { no: no ^ 1, wire: FIXED64, v: Buffer.alloc(8) }, { no: no ^ 2, wire: FIXED32, v: Buffer.alloc(4) }, int(no ^ 3, 2n ** 63n)]);
        const at = where % 2 === 0 ? 0 : bad.bytes.length;
        return { ...bad, label: `${bad.label}, with deep unknown fields`, bytes: Buffer.concat([bad.bytes.subarray(0, at), unknown, bad.bytes.subarray(at)]) };
      });
    }), false],
    [1, fc.uint8Array({ maxLength: 300 }).map((a): Bad => ({ label: 'random bytes', model: '', bytes: Buffer.from(a), codes: ['INVALID_ARGUMENT', 'NOT_FOUND'] })), false],
  ];
  return c.map(([weight, arbitrary, structural = true]) => ({ weight, arbitrary, structural }));
}

// --- Judging ---

/** What the server does with a message before queueing it: scan, parameters, admission's model check, tensors, validation. */
function judge(bytes: Buffer): InferenceError | 'accepted' {
  try {
    let scanned;
    try {
      scanned = scanInferRequest(bytes, 0);
    } catch (err) {
      if (err instanceof WireError) return new InferenceError('INVALID_ARGUMENT', `malformed request message (not valid protobuf): ${err.message}`);
      throw err;
    }
    const header = inferHeader(scanned);
    const spec = specs.get(header.model);
    if (!spec) return new InferenceError('NOT_FOUND', `unknown model '${header.model}'`);
    if (header.version !== undefined && header.version !== '1') return new InferenceError('NOT_FOUND', `no version ${header.version}`);
    const request = inferRequestOf(scanned, header, LIMITS, new CancelSource());
    validateRequest(request, spec, LIMITS);
  } catch (err) {
    if (err instanceof InferenceError) return err;
    throw new Error(`${err instanceof Error ? err.constructor.name : typeof err} escaped the decoder (an INTERNAL): ${String(err)}`);
  }
  return 'accepted';
}

const show = (b: Bad) => `${b.label} (model ${b.model}): ${b.bytes.subarray(0, 200).toString('hex')}${b.bytes.length > 200 ? '…' : ''}`;

test('the generator makes valid requests, and protobufjs encodes the same requests (the control)', () => {
  fc.assert(fc.property(anyBase(), (b) => {
    for (const [how, bytes] of [['ours', encodeTree(treeOf(b))], ['protobufjs', protobufjsEncode(protobufjsOf(b))]] as const) {
      const r = judge(bytes);
      if (r !== 'accepted') throw new Error(`valid request (${how}) refused: ${r.message}\n${bytes.toString('hex').slice(0, 400)}`);
    }
  }), { seed: 1411, numRuns: 500 });
});

test('12,000 corrupted ModelInferRequest messages, decoded directly: each refused with the code its corruption calls for', { timeout: 120_000 }, (t) => {
  const labels = new Map<string, number>();
  const codes = new Map<string, number>();
  fc.assert(fc.property(fc.oneof(...corruptions()), (bad) => {
    labels.set(bad.label, (labels.get(bad.label) ?? 0) + 1);
    const r = judge(bad.bytes);
    if (r === 'accepted') throw new Error(`a bad request was accepted (would be a wrong OK): ${show(bad)}`);
    if (!bad.codes.includes(r.code)) throw new Error(`refused with ${r.code} (${r.message}), expected ${bad.codes.join(' or ')}: ${show(bad)}`);
    if (r.message.length === 0) throw new Error(`empty message: ${show(bad)}`);
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
  }), { seed: 1412, numRuns: 12_000 });
  t.diagnostic(`${labels.size} kinds of corruption; codes: ${[...codes].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  assert.ok(labels.size >= 30, `${labels.size} kinds of corruption: ${[...labels.keys()].join(', ')}`);
  for (const code of ['INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND', 'UNIMPLEMENTED']) assert.ok((codes.get(code) ?? 0) > 0, `no ${code} among ${[...codes]}`);
});

test('regressions: decoder bugs this fuzzing found, each refused now (INVALID_ARGUMENT)', () => {
  const b = fc.sample(baseArb('mlp'), { seed: 21, numRuns: 1 })[0];
  const valid = treeOf({ ...b, params: false, outputs: [], id: undefined });
  assert.equal(judge(encodeTree(valid)), 'accepted');
  const cases: Array<[string, Tree, RegExp]> = [
    // Lengths (and tags) were read as their low 32 bits: a length of 2^32 + 3 was taken for 3, and the message parsed.
    ['a length of 2^32 + n', { ...valid, head: [{ splice: Buffer.concat([tagOf(1, LEN), varintOf(2n ** 32n + 3n), Buffer.from('mlp')]) }] }, /length at byte 1 does not fit in 32 bits/],
    // Strings were decoded with U+FFFD for bad bytes: an id the client never sent was accepted (and echoed).
    ['invalid UTF-8 in the id', { ...valid, head: [...valid.head, str(3, Buffer.from([0x61, 0xff, 0x62]))] }, /string field at byte \d+ is not valid UTF-8/],
    ['invalid UTF-8 in a parameter key', { ...valid, head: [...valid.head, msg(4, [str(1, Buffer.from([0xc0, 0x80])), msg(2, [int(1, 1)])])] }, /not valid UTF-8/],
    // Field number 0 was refused at the top level only; inside an input (or any nested message) it was skipped.
    ['field number 0 inside an input', { ...valid, inputs: [[...valid.inputs[0], int(0, 5)]] }, /field number 0 at byte/],
    // An InferParameter's member could run past the parameter's own length into its map entry, which then parsed on.
    ['a parameter value past its length', { ...valid, head: [...valid.head, { splice: encode([{ no: 4, wire: LEN,
      v: Buffer.concat([tagOf(2, LEN), varintOf(8), tagOf(4, FIXED64), Buffer.alloc(7, 0x11), Buffer.from([0x48, 0x48, 0x00])]) }]) }] }, /parameter value overruns its length/],
  ];
  for (const [label, tree, message] of cases) {
    const r = judge(encodeTree(tree));
    assert.ok(r !== 'accepted', `${label}: accepted`);
    assert.equal(r.code, 'INVALID_ARGUMENT', `${label}: ${r.message}`);
    assert.match(r.message, message, label);
  }
});

// --- Through a real GrpcFrontend, over raw HTTP/2 ---

type Answer = RawAnswer;

/** One gRPC call with exactly these DATA bytes (then END_STREAM), on an open HTTP/2 session. */
const h2Call = (session: ClientHttp2Session, data: Buffer, headers: Record<string, string> = {}, path = INFER): Promise<Answer> =>
  rawGrpcCall(session, data, { headers, path });

const frame = (m: Buffer, flag = 0, length = m.length) => {
  const p = Buffer.alloc(5);
  p[0] = flag;
  p.writeUInt32BE(length, 1);
  return Buffer.concat([p, m]);
};

const GRPC_CODE = (code: ErrorCode) => ERROR_CODES[code].grpc;

test('a sample over HTTP/2 (plus framing corruptions grpc-js never sends): each answered with the decoder\'s status; then the server serves correctly', { timeout: 120_000 }, async (t) => {
  const session = connect(`http://${srv.target}`);
  session.on('error', () => {});
  try {
    const sample = fc.sample(fc.oneof(...corruptions()), { seed: 1413, numRuns: 400 });
    let sent = 0;
    const statuses = new Map<number | undefined, number>();
    for (let i = 0; i < sample.length; i += 8) {
      await Promise.all(sample.slice(i, i + 8).map(async (bad, j) => {
        const want = judge(bad.bytes);
        assert.ok(want !== 'accepted', show(bad));
        // Every fourth one travels gzip-compressed (grpc-encoding gzip): the same bytes through the inflating reader.
        const gz = (i + j) % 4 === 3;
        const a = await h2Call(session, gz ? frame(gzipSync(bad.bytes), 1) : frame(bad.bytes), gz ? { 'grpc-encoding': 'gzip' } : {});
        assert.equal(a.httpStatus, 200, show(bad));
        assert.equal(a.grpcStatus, GRPC_CODE(want.code), `${a.grpcStatus} ${a.grpcMessage}; the decoder says ${want.code} ${want.message}: ${show(bad)}`);
        assert.equal(a.grpcMessage, want.code === 'NOT_FOUND' ? a.grpcMessage : want.message, show(bad));
        statuses.set(a.grpcStatus, (statuses.get(a.grpcStatus) ?? 0) + 1);
        sent++;
      }));
    }

    // Framing: the 5-byte prefix and the compressed flag.
    const good = encodeTree(treeOf(fc.sample(baseArb('mlp'), { seed: 7, numRuns: 1 })[0]));
    const framing: Array<[string, Buffer, Record<string, string>, ErrorCode]> = [
      ['length prefix over the limit', frame(good, 0, LIMITS.maxBodyBytes + 1), {}, 'PAYLOAD_TOO_LARGE'],
      ['length prefix 2^32 - 1', frame(good, 0, 0xffffffff), {}, 'PAYLOAD_TOO_LARGE'],
      ['length prefix past the data', frame(good, 0, good.length + 10), {}, 'INVALID_ARGUMENT'],
      ['length prefix short of the data (the rest is a second message)', frame(good, 0, good.length - 7), {}, 'INVALID_ARGUMENT'],
      ['prefix cut short', frame(good).subarray(0, 3), {}, 'INVALID_ARGUMENT'],
      ['no message at all', Buffer.alloc(0), {}, 'INVALID_ARGUMENT'],
      ['two messages', Buffer.concat([frame(good), frame(good)]), {}, 'INVALID_ARGUMENT'],
      ['compressed flag without grpc-encoding', frame(gzipSync(good), 1), {}, 'INVALID_ARGUMENT'],
      ['compressed flag, grpc-encoding identity', frame(good, 1), { 'grpc-encoding': 'identity' }, 'INVALID_ARGUMENT'],
      ['compressed flag, an encoding not supported', frame(good, 1), { 'grpc-encoding': 'snappy' }, 'UNIMPLEMENTED'],
      ['compressed flag 2', frame(good, 2), {}, 'INVALID_ARGUMENT'],
      ['compressed flag 255 with gzip', frame(gzipSync(good), 255), { 'grpc-encoding': 'gzip' }, 'INVALID_ARGUMENT'],
      ['gzip that is not gzip', frame(good, 1), { 'grpc-encoding': 'gzip' }, 'INVALID_ARGUMENT'],
      ['gzip cut short', frame(gzipSync(good).subarray(0, 12), 1), { 'grpc-encoding': 'gzip' }, 'INVALID_ARGUMENT'],
      ['deflate that is gzip', frame(gzipSync(good), 1), { 'grpc-encoding': 'deflate' }, 'INVALID_ARGUMENT'],
      ['gzip that inflates past the limit (a zip bomb)', frame(gzipSync(Buffer.alloc(LIMITS.maxBodyBytes + 1)), 1), { 'grpc-encoding': 'gzip' }, 'PAYLOAD_TOO_LARGE'],
      ['gzip of a corrupted message', frame(gzipSync(good.subarray(0, good.length - 3)), 1), { 'grpc-encoding': 'gzip' }, 'INVALID_ARGUMENT'],
      ['malformed grpc-timeout', frame(good), { 'grpc-timeout': '1x' }, 'INVALID_ARGUMENT'],
    ];
    for (const [label, data, headers, code] of framing) {
      const a = await h2Call(session, data, headers);
      assert.equal(a.grpcStatus, GRPC_CODE(code), `${label}: ${a.grpcStatus} ${a.grpcMessage}`);
      assert.ok(a.grpcMessage.length > 0, label);
      sent++;
    }
    assert.ok(sent >= 400);
    t.diagnostic(`${sent} calls; grpc-status of the sample: ${[...statuses].map(([k, n]) => `${k}×${n}`).join(', ')}`);

    // Still serving, and right: the valid message over raw HTTP/2 (its reply decoded by protobufjs), then grpc-js.
    const b = fc.sample(baseArb('mlp'), { seed: 8, numRuns: 1 })[0];
    const a = await h2Call(session, frame(encodeTree(treeOf({ ...b, outputs: [] }))));
    assert.equal(a.grpcStatus, 0, a.grpcMessage);
    const decodeReply = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelInfer.responseDeserialize as (b: Buffer) => any;
    const reply = decodeReply(a.body.subarray(5));
    const got = new Float32Array(Uint8Array.from(reply.raw_output_contents[0]).buffer);
    const x = Float32Array.from(b.inputs[0].values as number[]);
    mlp.reference(x, b.inputs[0].shape[0]).forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 1e-4 * (1 + Math.abs(w)), `output ${i}: ${got[i]} vs ${w}`));
    const xs = seededFloats(8, 3, 1);
    const v = expectOk(await client.call('ModelInfer', { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4] }], raw_input_contents: [Buffer.from(xs.buffer)] }));
    const y = new Float32Array(Uint8Array.from(v.raw_output_contents[0]).buffer);
    mlp.reference(xs, 2).forEach((w, i) => assert.ok(Math.abs(y[i] - w) <= 1e-4 * (1 + Math.abs(w))));
    // The identity model round-trips every datatype, typed contents in.
    const ib = fc.sample(baseArb('identity'), { seed: 9, numRuns: 1 })[0];
    const ia = await h2Call(session, frame(encodeTree(treeOf({ ...ib, typed: true, outputs: [] }))));
    assert.equal(ia.grpcStatus, 0, ia.grpcMessage);
    const ir = decodeReply(ia.body.subarray(5));
    for (const input of ib.inputs) {
      const k = (ir.outputs as Array<{ name: string }>).findIndex((o) => o.name === input.name.replace('in_', 'out_'));
      assert.ok(k >= 0, input.name);
      assert.deepEqual(Buffer.from(ir.raw_output_contents[k]), rawOf(input.datatype, input.values), input.name);
    }
  } finally {
    session.close();
  }
});

test('ModelStreamInfer: each bad message of a stream is answered with its error, in order, and the stream goes on', { timeout: 60_000 }, async () => {
  const session = connect(`http://${srv.target}`);
  session.on('error', () => {});
  try {
    const bad = fc.sample(fc.oneof(...corruptions()), { seed: 1414, numRuns: 60 });
    const b = fc.sample(baseArb('mlp'), { seed: 10, numRuns: 1 })[0];
    const good = encodeTree(treeOf({ ...b, outputs: [], id: 'the-good-one' }));
    const messages = [...bad.map((x) => x.bytes), good, ...bad.slice(0, 5).map((x) => x.bytes)];
    const a = await h2Call(session, Buffer.concat(messages.map((m) => frame(m))), {}, '/inference.GRPCInferenceService/ModelStreamInfer');
    assert.equal(a.grpcStatus, 0, a.grpcMessage);
    const decode = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelStreamInfer.responseDeserialize as (b: Buffer) => any;
    const replies: any[] = [];
    for (let off = 0; off < a.body.length;) {
      const len = a.body.readUInt32BE(off + 1);
      replies.push(decode(a.body.subarray(off + 5, off + 5 + len)));
      off += 5 + len;
    }
    assert.equal(replies.length, messages.length);
    messages.forEach((m, i) => {
      const want = judge(m);
      if (want === 'accepted') {
        assert.equal(replies[i].error_message, '', `reply ${i}`);
        assert.equal(replies[i].infer_response.id, 'the-good-one');
        const got = new Float32Array(Uint8Array.from(replies[i].infer_response.raw_output_contents[0]).buffer);
        mlp.reference(Float32Array.from(b.inputs[0].values as number[]), b.inputs[0].shape[0])
          .forEach((w, k) => assert.ok(Math.abs(got[k] - w) <= 1e-4 * (1 + Math.abs(w))));
      } else if (want.code !== 'NOT_FOUND') {
        assert.equal(replies[i].error_message, want.message, `reply ${i}: ${show(bad[i] ?? bad[i - bad.length - 1])}`);
      } else {
        assert.ok(replies[i].error_message.length > 0, `reply ${i}`);
      }
    });
  } finally {
    session.close();
  }
});
