/**
 * Fuzzing the HTTP decoders (issue 14) with fast-check, deterministic seeds. Every generated request is made bad by
 * construction (one corruption of a valid request, each chosen so that no reading of the result is a valid request):
 * lying lengths, truncation, wrong datatypes and shapes, huge dimensions, BYTES length prefixes, invalid UTF-8, deep
 * nesting, broken structure. Each must be refused with a 4xx InferenceError: never an escaping exception (a 500), a
 * hang, or an acceptance (a wrong 200).
 *
 * Most cases drive the decoder and the server's request validation directly (decodeInferRequest + validateRequest,
 * what the frontend and InferenceServer.infer run before queueing), ~20 µs each; a sample goes through a real
 * server over HTTP (JSON error bodies, gzip bodies, header values), which must then still serve correctly.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CancelSource, DATATYPES, DEFAULT_LIMITS, InferenceError, type DataType, type RequestLimits } from '../../src/core/index.js';
import { decodeInferRequest } from '../../src/frontends/http/decode-request.js';
import { compileRequestSpec, validateRequest, type RequestSpec } from '../../src/server/validate-request.js';
import { toHalfBits } from '../../src/frontends/codec/float16.js';
import { identityAllTypesModel, mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { type Running, call, startServer, tempRepo } from './helpers.js';

const LIMITS: RequestLimits = { ...DEFAULT_LIMITS, maxBodyBytes: 4 << 20, maxTensorElements: 4096, maxRank: 8 };
const IDENTITY_TYPES: DataType[] = ['FP32', 'FP16', 'INT8', 'UINT32', 'INT64', 'BOOL', 'BYTES'];
const mlp = mlpModel(4, 8, 2);
const repo = tempRepo('autoglm-fuzz-');
let srv: Running;
const specs = new Map<string, RequestSpec>();

before(async () => {
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: `
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
` });
  writeModel(repo.dir, 'identity', identityAllTypesModel(IDENTITY_TYPES));
  srv = await startServer({ modelRepositories: [repo.dir], limits: LIMITS, defaultMaxBatchSize: 4 });
  for (const m of ['mlp', 'identity']) specs.set(m, compileRequestSpec(srv.server.modelConfig(m)));
});
after(async () => {
  await srv.close();
  repo.remove();
});

// --- Valid requests: the material the corruptions start from ---

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Value = number | boolean | string;

interface BaseInput {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: number[];
  readonly values: Value[];
  readonly binary: boolean;
}

interface Base {
  readonly model: string;
  readonly inputs: BaseInput[];
  readonly id: string | undefined;
  readonly outputs: string[];
  readonly binaryOutput: boolean;
}

/** What is sent: the body, and the Inference-Header-Content-Length (undefined: a JSON body). */
interface Wire {
  readonly model: string;
  readonly body: Uint8Array;
  readonly headerLength: number | undefined;
  readonly label: string;
}

const VALUE: Record<string, fc.Arbitrary<Value>> = {
  FP32: fc.float({ noNaN: true, noDefaultInfinity: true }),
  FP16: fc.integer({ min: -2048, max: 2048 }),
  INT8: fc.integer({ min: -128, max: 127 }),
  UINT32: fc.integer({ min: 0, max: 0xffffffff }),
  INT64: fc.maxSafeInteger(),
  BOOL: fc.boolean(),
  BYTES: fc.string({ unit: 'grapheme', maxLength: 6 }),
};

function binaryOf(dt: DataType, values: Value[]): Uint8Array {
  const view = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  switch (dt) {
    case 'FP32': return view(Float32Array.from(values as number[]));
    case 'FP16': return view(Uint16Array.from(values as number[], toHalfBits));
    case 'INT8': return view(Int8Array.from(values as number[]));
    case 'UINT32': return view(Uint32Array.from(values as number[]));
    case 'INT64': return view(BigInt64Array.from(values as number[], (v) => BigInt(v)));
    case 'BOOL': return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
    case 'BYTES': {
      const parts = (values as string[]).map((s) => Buffer.from(s, 'utf8'));
      const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
      let off = 0;
      for (const p of parts) {
        out.writeUInt32LE(p.length, off);
        p.copy(out, off + 4);
        off += 4 + p.length;
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    default: throw new Error(`no binary form for ${dt} here`);
  }
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function baseArb(model: string): fc.Arbitrary<Base> {
  const spec = specs.get(model)!;
  const maxBatch = Math.min(spec.maxBatchSize, 3);
  return fc.integer({ min: 1, max: maxBatch }).chain((batch) => fc.tuple(
    fc.tuple(...[...spec.inputs.values()].map((i) => {
      const shape = [batch, ...i.dims];
      const n = product(shape);
      return fc.record({ values: fc.array(VALUE[i.datatype], { minLength: n, maxLength: n }), binary: fc.boolean() })
        .map(({ values, binary }): BaseInput => ({ name: i.name, datatype: i.datatype, shape, values, binary }));
    })),
    fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    fc.subarray([...spec.outputs]),
    fc.boolean(),
  )).map(([inputs, id, outputs, binaryOutput]) => ({ model, inputs, id, outputs, binaryOutput }));
}

/** The request's JSON header (as a JS value, to corrupt) and its binary parts, in input order. */
function headerOf(b: Base): { header: Record<string, Json>; parts: Uint8Array[] } {
  const parts: Uint8Array[] = [];
  const inputs = b.inputs.map((i) => {
    const t: Record<string, Json> = { name: i.name, datatype: i.datatype, shape: [...i.shape] };
    if (i.binary) {
      const bytes = binaryOf(i.datatype, i.values);
      parts.push(bytes);
      t.parameters = { binary_data_size: bytes.length };
    } else {
      t.data = [...i.values];
    }
    return t;
  });
  const header: Record<string, Json> = { inputs };
  if (b.id !== undefined) header.id = b.id;
  if (b.outputs.length > 0) header.outputs = b.outputs.map((name) => ({ name }));
  if (b.binaryOutput) header.parameters = { binary_data_output: true };
  return { header, parts };
}

function wire(model: string, label: string, json: Uint8Array, parts: readonly Uint8Array[], headerLength?: number): Wire {
  const binary = parts.length > 0 || headerLength !== undefined;
  const body = Buffer.concat([json, ...parts]);
  return { model, label, body: new Uint8Array(body.buffer, body.byteOffset, body.length), headerLength: binary ? (headerLength ?? json.length) : undefined };
}

const utf8 = (v: unknown) => new Uint8Array(Buffer.from(JSON.stringify(v)));

/** A valid request as it goes on the wire (the positive control). */
function encodeValid(b: Base): Wire {
  const { header, parts } = headerOf(b);
  return wire(b.model, 'valid', utf8(header), parts);
}

/** Inputs of the request that are sent as JSON data / as binary data (a binary one is made if there is none). */
function withBinary(b: Base, pick: number): Base {
  if (b.inputs.some((i) => i.binary)) return b;
  const k = pick % b.inputs.length;
  return { ...b, inputs: b.inputs.map((i, j) => (j === k ? { ...i, binary: true } : i)) };
}
function withJson(b: Base, pick: number): Base {
  if (b.inputs.some((i) => !i.binary)) return b;
  const k = pick % b.inputs.length;
  return { ...b, inputs: b.inputs.map((i, j) => (j === k ? { ...i, binary: false } : i)) };
}

// --- The corruptions: each yields a request that no reading can accept ---

const anyBase = () => fc.oneof(baseArb('mlp'), baseArb('identity'));
type Header = Record<string, Json>;
const inputsOf = (h: Header) => h.inputs as Array<Record<string, Json>>;

/** Edits the header (a copy) of a valid request; the binary parts stay as they were. */
function headerEdit<T>(label: string, extra: fc.Arbitrary<T>, edit: (h: Header, x: T, b: Base) => void, prepare = (b: Base, _x: T) => b): fc.Arbitrary<Wire> {
  return fc.tuple(anyBase(), extra).map(([b0, x]) => {
    const b = prepare(b0, x);
    const { header, parts } = headerOf(b);
    edit(header, x, b);
    return wire(b.model, label, utf8(header), parts);
  });
}

/** Edits the bytes of a valid request: (json header bytes, binary parts) → wire. */
function bytesEdit<T>(label: string, extra: fc.Arbitrary<T>, edit: (json: Uint8Array, parts: Uint8Array[], x: T, b: Base) => Wire, prepare = (b: Base, _x: T) => b): fc.Arbitrary<Wire> {
  return fc.tuple(anyBase(), extra).map(([b0, x]) => {
    const b = prepare(b0, x);
    const { header, parts } = headerOf(b);
    return edit(utf8(header), parts, x, b);
  });
}

const notAString = fc.constantFrom<Json>(5, null, true, [], {}, ['FP32']);
const notAnObject = fc.constantFrom<Json>(5, 'x', null, true, [], [{}]);
const badParamValue = fc.constantFrom<Json>(null, [], {}, [1], { a: 1 });
const badDim = fc.constantFrom<Json>(-1, -5, 1.5, '2', null, true, 2 ** 53, 1e300, [2], {});
const INVALID_UTF8: readonly number[][] = [[0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0x80], [0xbf], [0xe2, 0x82], [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe0, 0x80, 0xaf], [0xc3]];

const BAD_ELEMENT: Record<string, Json[]> = {
  FP32: ['1', null, true, {}, 'NaN'],
  FP16: ['1', null, false, {}],
  INT8: [128, -129, 0.5, '1', null, true],
  UINT32: [-1, 2 ** 32, 1.5, '7', null],
  INT64: [0.5, 1e30, -1e30, '5', null, true],
  BOOL: [0, 1, 'true', null, {}],
  BYTES: [1, null, true, {}],
};

/** A random string that names no input or output of either model. */
const unknownName = fc.string({ minLength: 1, maxLength: 10 }).map((s) => `zz_${s}`);

function nest(v: Json, depth: number): Json {
  let out = v;
  for (let i = 0; i < depth; i++) out = [out];
  return out;
}

function corruptions(): Array<{ weight: number; arbitrary: fc.Arbitrary<Wire> }> {
  const c: Array<[number, fc.Arbitrary<Wire>]> = [
    // Truncation and framing of the JSON itself.
    [4, bytesEdit('JSON truncated', fc.nat(), (json, parts, k, b) => {
      const cut = k % json.length;
      return parts.length > 0 ? wire(b.model, 'JSON truncated', json.subarray(0, cut), parts, cut) : wire(b.model, 'JSON truncated', json.subarray(0, cut), []);
    })],
    [2, bytesEdit('garbage after the JSON', fc.constantFrom('x', '}', ',', ']', '{}', '"', '0', 'null'), (json, parts, g, b) =>
      wire(b.model, 'garbage after the JSON', Buffer.concat([json, Buffer.from(g)]), parts))],
    [3, bytesEdit('invalid UTF-8 in a string', fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.constantFrom('id', 'name', 'bytes'), fc.nat()),
      (json, parts, [bad, where, pick], b) => {
        const text = Buffer.from(json).toString('latin1');
        const at = text.indexOf('MARK_');
        const out = Buffer.concat([json.subarray(0, at), Buffer.from(bad), json.subarray(at + 5)]);
        return wire(b.model, `invalid UTF-8 in ${where}`, out, parts);
      }, (b, [, where, pick]) => {
        // Put a marker where the bad bytes go: the id, an input's name, a parameter key, or a BYTES JSON element.
        if (where === 'id') return { ...b, id: 'MARK_id' };
        if (where === 'name') return { ...b, inputs: b.inputs.map((i, j) => (j === pick % b.inputs.length ? { ...i, name: `MARK_${i.name}` } : i)) };
        const bytes = b.inputs.findIndex((i) => i.datatype === 'BYTES');
        if (where === 'bytes' && bytes >= 0) {
          return { ...b, inputs: b.inputs.map((i, j) => (j === bytes ? { ...i, binary: false, values: ['MARK_x', ...i.values.slice(1)] } : i)) };
        }
        return { ...b, id: 'MARK_id' };
      })],
    // Datatypes.
    [2, headerEdit('datatype unknown', fc.tuple(fc.nat(), fc.string({ maxLength: 8 }).filter((s) => !(DATATYPES as string[]).includes(s))), (h, [k, s]) => {
      inputsOf(h)[k % inputsOf(h).length].datatype = s;
    })],
    [1, headerEdit('datatype not a string', fc.tuple(fc.nat(), notAString), (h, [k, v]) => { inputsOf(h)[k % inputsOf(h).length].datatype = v; })],
    [3, headerEdit('datatype another valid one', fc.tuple(fc.nat(), fc.constantFrom(...DATATYPES)), (h, [k, dt]) => {
      const i = inputsOf(h)[k % inputsOf(h).length];
      i.datatype = dt === i.datatype ? (dt === 'FP64' ? 'INT16' : 'FP64') : dt;
    })],
    // Shapes.
    [2, headerEdit('shape with a bad dimension', fc.tuple(fc.nat(), fc.nat(), badDim), (h, [k, d, v]) => {
      const s = inputsOf(h)[k % inputsOf(h).length].shape as Json[];
      s[d % s.length] = v;
    })],
    [1, headerEdit('shape not an array', fc.tuple(fc.nat(), fc.constantFrom<Json>(4, '4', null, {}, true)), (h, [k, v]) => { inputsOf(h)[k % inputsOf(h).length].shape = v; })],
    [2, headerEdit('shape whose product differs from the data', fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 5 })), (h, [k, d, delta]) => {
      const s = inputsOf(h)[k % inputsOf(h).length].shape as number[];
      s[d % s.length] += delta;
    })],
    [2, headerEdit('shape of another rank, same product', fc.tuple(fc.nat(), fc.constantFrom('flat', 'append', 'prepend')), (h, [k, how]) => {
      const i = inputsOf(h)[k % inputsOf(h).length];
      const s = i.shape as number[];
      i.shape = how === 'flat' ? [product(s)] : how === 'append' ? [...s, 1] : [1, ...s];
    })],
    [1, headerEdit('batch 0 or past max_batch_size', fc.tuple(fc.nat(), fc.constantFrom(0, 9, 50)), (h, [k, batch]) => {
      for (const i of inputsOf(h)) (i.shape as number[])[0] = batch;
      void k;
    })],
    [2, headerEdit('huge dimensions', fc.tuple(fc.nat(), fc.constantFrom([2 ** 20, 2 ** 20], [65536, 65536, 65536], [2 ** 31, 2], [2 ** 30, 2 ** 30, 2 ** 30], [1, 4097], [4097])),
      (h, [k, shape]) => { inputsOf(h)[k % inputsOf(h).length].shape = [...shape]; })],
    [1, headerEdit('rank over the limit', fc.tuple(fc.nat(), fc.integer({ min: LIMITS.maxRank + 1, max: LIMITS.maxRank + 40 })), (h, [k, rank]) => {
      inputsOf(h)[k % inputsOf(h).length].shape = new Array(rank).fill(1);
    })],
    // JSON data elements.
    [4, headerEdit('a data element of the wrong kind', fc.tuple(fc.nat(), fc.nat(), fc.nat()), (h, [k, e, v], b) => {
      const ins = inputsOf(h);
      const i = ins.find((t) => t.data !== undefined)!;
      const data = i.data as Json[];
      const bad = BAD_ELEMENT[i.datatype as string];
      data[e % data.length] = bad[v % bad.length];
      void k; void b;
    }, (b, [k]) => withJson(b, k))],
    [2, headerEdit('data nested too deeply', fc.tuple(fc.nat(), fc.integer({ min: 65, max: 1500 })), (h, [, depth]) => {
      const i = inputsOf(h).find((t) => t.data !== undefined)!;
      i.data = nest(i.data as Json, depth);
    }, (b, [k]) => withJson(b, k))],
    [1, headerEdit('data not an array of leaves', fc.constantFrom<Json>({ a: 1 }, [[1, 2], 3, { x: 1 }], [[]], 'abc'), (h, v) => {
      const i = inputsOf(h).find((t) => t.data !== undefined)!;
      i.data = Array.isArray(v) ? v : v;
    }, (b) => withJson(b, 0))],
    // Structure.
    [1, headerEdit('inputs missing or not an array of objects', fc.constantFrom<Json | undefined>(undefined, {}, 'x', 5, [], [5], ['x'], [null], [[]]), (h, v) => {
      if (v === undefined) delete h.inputs;
      else h.inputs = v;
    })],
    [1, headerEdit('input name missing or not a string', fc.tuple(fc.nat(), fc.constantFrom<Json | undefined>(undefined, 5, null, {}, [])), (h, [k, v]) => {
      const i = inputsOf(h)[k % inputsOf(h).length];
      if (v === undefined) delete i.name;
      else i.name = v;
    })],
    [1, headerEdit('input with neither data nor binary_data_size', fc.nat(), (h, k) => {
      const i = inputsOf(h).find((t) => t.data !== undefined)!;
      delete i.data;
      void k;
    }, (b, k) => withJson(b, k))],
    [1, headerEdit('input with both data and binary_data_size', fc.nat(), (h) => {
      const i = inputsOf(h).find((t) => t.data === undefined)!;
      i.data = [1];
    }, (b, k) => withBinary(b, k))],
    [2, headerEdit('duplicate, unknown or missing input', fc.tuple(fc.nat(), fc.constantFrom('dup', 'unknown', 'drop'), unknownName), (h, [k, how, name]) => {
      const ins = inputsOf(h);
      const j = k % ins.length;
      if (how === 'dup') ins.push({ ...ins[j] });
      else if (how === 'unknown') ins[j].name = name;
      else ins.splice(j, 1);
    }, (b) => ({ ...b, inputs: b.inputs.map((i) => ({ ...i, binary: false })) }))],
    [1, headerEdit('id not a string', notAString, (h, v) => { h.id = v; })],
    [1, headerEdit('parameters not an object, or a value not a scalar', fc.tuple(fc.nat(), fc.boolean(), notAnObject, badParamValue), (h, [k, top, o, v]) => {
      const target = top ? h : inputsOf(h)[k % inputsOf(h).length];
      if (k % 2 === 0) target.parameters = o;
      else target.parameters = { ...(target.parameters as Record<string, Json> | undefined), some_key: v };
    })],
    [1, headerEdit('outputs malformed, unknown or repeated', fc.tuple(fc.constantFrom('obj', 'str', 'num', 'noname', 'unknown', 'dup'), unknownName), (h, [how, name], b) => {
      const spec = specs.get(b.model)!;
      const known = [...spec.outputs][0];
      h.outputs = how === 'obj' ? {} : how === 'str' ? 'x' : how === 'num' ? [5] : how === 'noname' ? [{ name: 5 }]
        : how === 'unknown' ? [{ name }] : [{ name: known }, { name: known }];
    })],
    [1, fc.tuple(fc.constantFrom<Json>([], 5, 'x', null, true, [{ inputs: [] }]), fc.constantFrom('mlp', 'identity'))
      .map(([v, model]) => wire(model, 'a top level that is not an object', utf8(v), []))],
    [2, fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('mlp', 'identity')).map(([bytes, model]) => wire(model, 'random bytes', bytes, []))],
    [1, fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":', '{"inputs":['), fc.boolean(), fc.constantFrom('mlp', 'identity'))
      .map(([depth, open, closed, model]) => {
        const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}';
        const text = open.repeat(depth) + (open === '[' ? '' : '1') + (closed ? close.repeat(depth) : '');
        return wire(model, 'a deeply nested body', new Uint8Array(Buffer.from(text)), []);
      })],
    // Binary framing.
    [2, bytesEdit('Inference-Header-Content-Length beyond the body', fc.integer({ min: 1, max: 1 << 20 }), (json, parts, d, b) => {
      const w = wire(b.model, 'header length beyond the body', json, parts);
      return { ...w, headerLength: w.body.length + d };
    }, (b, d) => withBinary(b, d))],
    [3, bytesEdit('Inference-Header-Content-Length inside the binary data', fc.nat(), (json, parts, k, b) => {
      const bin = parts.reduce((n, p) => n + p.length, 0);
      return wire(b.model, 'header length into the binary data', json, parts, json.length + 1 + (k % bin));
    }, (b, k) => withBinary(b, k))],
    [3, headerEdit('binary_data_size off by some bytes', fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 }), fc.boolean()), (h, [k, d, up]) => {
      const bins = inputsOf(h).filter((t) => t.data === undefined);
      const p = bins[k % bins.length].parameters as Record<string, number>;
      p.binary_data_size = up ? p.binary_data_size + d : Math.max(0, p.binary_data_size - d);
    }, (b, [k]) => withBinary(b, k))],
    [1, headerEdit('binary_data_size not a byte count', fc.tuple(fc.nat(), fc.constantFrom<Json>(-1, 1.5, '8', null, true, 2 ** 53, {}, [])), (h, [k, v]) => {
      const bins = inputsOf(h).filter((t) => t.data === undefined);
      (bins[k % bins.length].parameters as Record<string, Json>).binary_data_size = v;
    }, (b, [k]) => withBinary(b, k))],
    [2, bytesEdit('binary data cut short', fc.nat(), (json, parts, k, b) => {
      const all = Buffer.concat(parts);
      return wire(b.model, 'binary data cut short', json, [all.subarray(0, all.length - 1 - (k % all.length))], json.length);
    }, (b, k) => withBinary(b, k))],
    [2, bytesEdit('bytes after the binary data', fc.uint8Array({ minLength: 1, maxLength: 40 }), (json, parts, extra, b) =>
      wire(b.model, 'bytes after the binary data', json, [...parts, extra]), (b) => withBinary(b, 0))],
    [1, headerEdit('binary_data_size in a JSON body', fc.nat(), (h) => {
      const i = inputsOf(h).find((t) => t.data !== undefined)!;
      delete i.data;
      i.parameters = { binary_data_size: 4 };
    }, (b) => ({ ...b, inputs: b.inputs.map((i) => ({ ...i, binary: false })) }))],
    // BYTES length prefixes (the identity model's BYTES input, sent binary).
    [4, fc.tuple(baseArb('identity'), fc.nat(), fc.constantFrom('past-end', 'max', 'last-short', 'more-elements'), fc.nat()).map(([b0, e, how, r]) => {
      const b: Base = { ...b0, inputs: b0.inputs.map((i) => (i.datatype === 'BYTES' ? { ...i, binary: true } : i)) };
      const { header, parts } = headerOf(b);
      const binInputs = b.inputs.filter((i) => i.binary);
      const k = binInputs.findIndex((i) => i.datatype === 'BYTES');
      const bytes = Buffer.from(parts[k]);
      const values = binInputs[k].values as string[];
      // Offsets of each element's 4-byte length prefix.
      const at: number[] = [];
      let off = 0;
      for (const v of values) {
        at.push(off);
        off += 4 + Buffer.byteLength(v);
      }
      const last = values.length - 1;
      const lastLen = Buffer.byteLength(values[last]);
      let mode = how;
      if (mode === 'last-short' && lastLen === 0) mode = 'past-end';
      if (mode === 'past-end') {
        const i = e % values.length;
        bytes.writeUInt32LE(Math.min(0xffffffff, bytes.length - (at[i] + 4) + 1 + (r % 1000)), at[i]);
      } else if (mode === 'max') {
        bytes.writeUInt32LE(0xffffffff, at[e % values.length]);
      } else if (mode === 'last-short') {
        bytes.writeUInt32LE(lastLen - 1 - (r % lastLen), at[last]);
      } else {
        const input = inputsOf(header).find((t) => t.name === binInputs[k].name)!;
        (input.shape as number[])[0] += 1;
      }
      parts[k] = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
      return wire(b.model, `BYTES length prefix: ${mode}`, utf8(header), parts);
    })],
  ];
  return c.map(([weight, arbitrary]) => ({ weight, arbitrary }));
}

/** What the server does with a request before queueing it: decode (frontend), then validate (InferenceServer.infer). */
function judge(w: Wire): InferenceError | 'accepted' {
  try {
    const { request } = decodeInferRequest(w.body, w.headerLength, w.model, undefined, LIMITS, new CancelSource(), 0);
    validateRequest(request, specs.get(w.model)!, LIMITS);
  } catch (err) {
    if (err instanceof InferenceError) return err;
    throw new Error(`${w.label}: ${err instanceof Error ? err.constructor.name : typeof err} escaped the decoder (a 500): ${String(err)}`);
  }
  return 'accepted';
}

const show = (w: Wire) => `${w.label} (model ${w.model}, header length ${w.headerLength}): ${Buffer.from(w.body.subarray(0, 300)).toString('latin1')}`;

test('the generator makes valid requests (the control: corruptions start from these)', () => {
  fc.assert(fc.property(anyBase(), (b) => {
    const w = encodeValid(b);
    const r = judge(w);
    if (r !== 'accepted') throw new Error(`valid request refused: ${r.message}\n${show(w)}`);
  }), { seed: 1401, numRuns: 600 });
});

test('12,000 corrupted requests, decoded and validated directly: each a 4xx InferenceError', { timeout: 120_000 }, () => {
  const arb = fc.oneof(...corruptions());
  const labels = new Map<string, number>();
  fc.assert(fc.property(arb, (w) => {
    labels.set(w.label, (labels.get(w.label) ?? 0) + 1);
    const r = judge(w);
    if (r === 'accepted') throw new Error(`a bad request was accepted (would be a wrong 200): ${show(w)}`);
    if (r.httpStatus < 400 || r.httpStatus >= 500) throw new Error(`answered ${r.httpStatus} ${r.code}: ${r.message}\n${show(w)}`);
    if (r.message.length === 0) throw new Error(`empty message: ${show(w)}`);
  }), { seed: 1402, numRuns: 12_000 });
  // Every corruption was exercised.
  assert.ok(labels.size >= 30, `${labels.size} kinds of corruption: ${[...labels.keys()].join(', ')}`);
});

test('extreme nesting (to 1,000,000 levels): refused with a 4xx, no stack overflow', { timeout: 60_000 }, () => {
  for (const depth of [300, 10_000, 100_000, 1_000_000]) {
    for (const text of ['['.repeat(depth) + ']'.repeat(depth), `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`,
      '{"a":'.repeat(depth) + '1' + '}'.repeat(depth), '['.repeat(depth)]) {
      const w: Wire = { model: 'mlp', body: new Uint8Array(Buffer.from(text)), headerLength: undefined, label: `nesting ${depth}` };
      const r = judge(w);
      assert.ok(r !== 'accepted' && r.httpStatus >= 400 && r.httpStatus < 500, `${w.label}: ${r === 'accepted' ? r : r.message}`);
    }
  }
});

/** One request over HTTP; the answer must be a 4xx with the error JSON. */
async function expectRefused(base: string, w: Wire, extra: Record<string, string> = {}, body: Uint8Array = w.body): Promise<void> {
  const headers: Record<string, string> = { 'Content-Type': w.headerLength === undefined ? 'application/json' : 'application/octet-stream', ...extra };
  if (w.headerLength !== undefined && !('Inference-Header-Content-Length' in extra)) headers['Inference-Header-Content-Length'] = String(w.headerLength);
  const res = await fetch(`${base}/v2/models/${w.model}/infer`, {
    method: 'POST', body: body as unknown as BodyInit, headers: { 'Accept-Encoding': 'identity', ...headers }, signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  assert.ok(res.status >= 400 && res.status < 500, `HTTP ${res.status} for ${show(w)}\n${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, show(w));
  const parsed = JSON.parse(text) as { error?: unknown };
  assert.equal(typeof parsed.error, 'string', show(w));
}

test('a sample over HTTP (JSON, binary, gzip, bad header values): 4xx with the error JSON; then the server serves correctly', { timeout: 120_000 }, async () => {
  const arb = fc.oneof(...corruptions());
  const sample = fc.sample(arb, { seed: 1403, numRuns: 600 });
  let sent = 0;
  for (let i = 0; i < sample.length; i += 8) {
    await Promise.all(sample.slice(i, i + 8).map(async (w, j) => {
      // Every fourth one travels gzip-compressed: the same payloads through the inflating reader.
      if ((i + j) % 4 === 3) await expectRefused(srv.base, w, { 'Content-Encoding': 'gzip' }, new Uint8Array(gzipSync(w.body)));
      else await expectRefused(srv.base, w);
      sent++;
    }));
  }
  const valid = encodeValid(fc.sample(baseArb('mlp'), { seed: 5, numRuns: 1 })[0]);
  for (const hl of ['', '-1', '1.5', 'abc', '1e3', '99999999999999999999999', ' 5', '0x10']) {
    await expectRefused(srv.base, { ...valid, headerLength: 0, label: `Inference-Header-Content-Length '${hl}'` }, { 'Inference-Header-Content-Length': hl });
    sent++;
  }
  const gz = gzipSync(valid.body);
  for (const cut of [1, 5, Math.floor(gz.length / 2), gz.length - 1]) {
    await expectRefused(srv.base, { ...valid, label: `gzip cut to ${cut} bytes` }, { 'Content-Encoding': 'gzip' }, new Uint8Array(gz.subarray(0, cut)));
    sent++;
  }
  assert.ok(sent >= 600);

  // Still serving, and right: the mlp against its reference, the identity model's every datatype round trip.
  const x = seededFloats(3 * 4, 9, 1);
  const r = await call(srv.base, '/v2/models/mlp/infer', {
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 4], data: [...x] }] }),
    headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const want = mlp.reference(x, 3);
  (r.json.outputs[0].data as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `output ${i}: ${v} vs ${want[i]}`));
  const ident = fc.sample(baseArb('identity'), { seed: 6, numRuns: 1 })[0];
  const iw = encodeValid({ ...ident, outputs: [], binaryOutput: false });
  const ir = await call(srv.base, '/v2/models/identity/infer', {
    body: iw.body, headers: iw.headerLength === undefined ? {} : { 'Inference-Header-Content-Length': String(iw.headerLength) },
  });
  assert.equal(ir.status, 200, JSON.stringify(ir.json));
  for (const input of ident.inputs) {
    const out = (ir.json.outputs as Array<{ name: string; data: unknown[] }>).find((o) => o.name === input.name.replace('in_', 'out_'))!;
    const zero = (v: unknown) => (Object.is(v, -0) ? 0 : v);
    const expected = input.values.map((v) => zero(input.datatype === 'FP32' ? Math.fround(v as number) : v));
    assert.deepEqual(out.data.map(zero), expected, input.name);
  }
});
