/**
 * The ModelInfer codec on the request path, generated vs hand-written (issue 11): what the gRPC frontend spends
 * turning a ModelInferRequest's bytes into an InferenceRequest, and an InferenceResponse into ModelInferResponse
 * bytes, in-process (no network, no grpc-js), per message.
 *
 *   generated    @grpc/proto-loader's (de)serializer for the vendored grpc_service.proto (protobufjs: decode into
 *                an object, toObject with longs as strings), then that object turned into an InferenceRequest with
 *                the shared codec (raw contents as views where aligned, typed contents copied into typed arrays);
 *                replies built as objects and encoded by protobufjs (fromObject + encode).
 *   hand-written scanInferRequest + inferHeader + decodeInputs (src/frontends/grpc/), encodeInferResponseParts (the
 *                reply's fields in one pre-sized buffer, numeric outputs ≥ 1 KiB as views).
 * Both replies are length-prefixed for the wire (the generated one framed by one more copy, as a server would).
 *
 * Messages: the MLP 1024→8192→1024's 1-row request (FP32 [1,1024] raw, 4 KiB) and reply (FP32 [1,1024]); a small
 * one (FP32 [1,64] raw); typed contents (fp32_contents [1,1024]); BYTES (16 strings of 32 bytes, raw).
 * Alternating windows (generated, hand-written, …) of `windowMs` after a warm-up; each side's median µs per message
 * and the median ratio generated ÷ hand-written with its min–max over the pairs. Both sides' tensors and reply
 * bytes (decoded again by protobufjs) are checked equal before measuring.
 *
 *   flock /tmp/bench.lock node --import tsx bench/grpc-codec.ts [windowMs=150] [pairs=7]
 */
import { performance } from 'node:perf_hooks';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  type DataType, type InferenceRequest, type InferenceResponse, type Parameters, type RequestedOutput, type Tensor, type TensorData,
  CancelSource, DEFAULT_LIMITS, allocate, invalidArgument, isDataType,
} from '../src/core/index.js';
import { checkTensorLimits } from '../src/server/validate-request.js';
import { decodeBinaryData, encodeBinaryData } from '../src/frontends/codec/binary-tensor.js';
import { packageDefinition } from '../src/frontends/grpc/service-definition.js';
import { scanInferRequest } from '../src/frontends/grpc/scan-infer-request.js';
import { inferHeader, inferRequestOf } from '../src/frontends/grpc/infer-request.js';
import { encodeInferResponseParts } from '../src/frontends/grpc/infer-response.js';
import { frame } from '../src/frontends/grpc/service-definition.js';
import { seededFloats } from '../test/fixtures/models.js';

const WINDOW_MS = Number(process.argv[2] ?? 150);
const PAIRS = Number(process.argv[3] ?? 7);

const method = (packageDefinition()['inference.GRPCInferenceService'] as ServiceDefinition).ModelInfer;
type Obj = Record<string, any>;

// ---- the generated path: proto-loader's object → InferenceRequest ----------------------------------------------
const CONTENTS_FIELD: Partial<Record<DataType, string>> = {
  BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents',
};

function paramsOf(p: Obj | undefined): Parameters | undefined {
  if (!p || Object.keys(p).length === 0) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(p)) {
    const choice = v.parameter_choice as string;
    const val = v[choice];
    out[k] = choice === 'int64_param' || choice === 'uint64_param' ? Number(val) : val;
  }
  return out;
}

function typedData(name: string, dt: DataType, contents: Obj, count: number): TensorData {
  const field = CONTENTS_FIELD[dt];
  if (!field) throw invalidArgument(`input '${name}': ${dt} has no typed contents field`);
  const vals = contents[field] as unknown[];
  if (vals.length !== count) throw invalidArgument(`input '${name}': ${vals.length} elements, shape needs ${count}`);
  if (dt === 'BYTES') return vals as Uint8Array[];
  const arr = allocate(dt, count);
  if (dt === 'INT64' || dt === 'UINT64') for (let i = 0; i < count; i++) (arr as BigInt64Array)[i] = BigInt(vals[i] as string);
  else if (dt === 'BOOL') for (let i = 0; i < count; i++) (arr as Uint8Array)[i] = vals[i] ? 1 : 0;
  else (arr as Float32Array).set(vals as number[]);
  return arr;
}

function generatedDecode(bytes: Buffer): InferenceRequest {
  const m = method.requestDeserialize(bytes) as Obj;
  const params = paramsOf(m.parameters);
  const inputs: Tensor[] = [];
  const raw = m.raw_input_contents as Buffer[];
  (m.inputs as Obj[]).forEach((inp, i) => {
    const { name, datatype } = inp;
    if (!isDataType(datatype)) throw invalidArgument(`unknown datatype ${datatype}`);
    const shape = (inp.shape as string[]).map(Number);
    const count = checkTensorLimits(name, shape, DEFAULT_LIMITS);
    const data = raw.length > 0
      ? decodeBinaryData(name, datatype, raw[i], 0, raw[i].length, count)
      : typedData(name, datatype, inp.contents, count);
    inputs.push({ name, datatype, shape, data });
  });
  const outputs: RequestedOutput[] | undefined = (m.outputs as Obj[]).length ? (m.outputs as Obj[]).map((o) => ({ name: o.name })) : undefined;
  return {
    id: m.id || undefined, model: m.model_name, version: m.model_version || undefined, inputs, outputs,
    priority: params?.priority as number | undefined, timeoutUs: params?.timeout as number | undefined, parameters: params,
    receivedUs: 0, signal: new CancelSource(),
  };
}

function generatedEncode(res: InferenceResponse): Buffer {
  const raw = res.outputs.map((t) => {
    if (t.datatype !== 'BYTES') {
      const a = t.data as Float32Array;
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }
    return Buffer.concat((t.data as Uint8Array[]).flatMap((el) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(el.byteLength);
      return [len, Buffer.from(el)];
    }));
  });
  return frame(method.responseSerialize({
    model_name: res.model, model_version: res.version, id: res.id ?? '',
    outputs: res.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    raw_output_contents: raw,
  }));
}

/** The server's reply: length-prefixed parts (large numeric outputs as views); one buffer here for comparing. */
const handEncode = (res: InferenceResponse): Buffer => {
  const parts = encodeInferResponseParts(res);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
};
/** What the server does per reply: the parts, not joined. */
const handEncodeParts = (res: InferenceResponse): { length: number } => encodeInferResponseParts(res);

// ---- the hand-written path ---------------------------------------------------------------------------------------
function handDecode(bytes: Buffer): InferenceRequest {
  const scan = scanInferRequest(bytes, 0);
  return inferRequestOf(scan, inferHeader(scan), DEFAULT_LIMITS, new CancelSource());
}

// ---- messages -----------------------------------------------------------------------------------------------------
const f32 = (n: number, seed: number) => seededFloats(n, seed, 1);
const rawOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const strings = Array.from({ length: 16 }, (_, i) => Buffer.from(`string number ${i}`.padEnd(32, '.')));
const bytesRaw = Buffer.concat(strings.flatMap((s) => { const l = Buffer.alloc(4); l.writeUInt32LE(s.length); return [l, s]; }));
const req = (inputs: Obj[], raw?: Buffer[]) => method.requestSerialize({
  model_name: 'mlp', id: 'req-1', parameters: { priority: { uint64_param: 1 }, timeout: { int64_param: 100000 } }, inputs, raw_input_contents: raw ?? [],
});

interface Case { readonly label: string; readonly request: Buffer; readonly response: InferenceResponse }
const y1024 = f32(1024, 9);
const cases: Case[] = [
  { label: 'MLP 1-row: FP32 [1,1024] raw in, FP32 [1,1024] out', request: req([{ name: 'input', datatype: 'FP32', shape: [1, 1024] }], [rawOf(f32(1024, 1))]),
    response: { model: 'mlp', version: '1', id: 'req-1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 1024], data: y1024 }] } },
  { label: 'small: FP32 [1,64] raw in, FP32 [1,10] out', request: req([{ name: 'input', datatype: 'FP32', shape: [1, 64] }], [rawOf(f32(64, 2))]),
    response: { model: 'mlp', version: '1', id: 'req-1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 10], data: f32(10, 3) }] } },
  { label: 'typed: fp32_contents [1,1024] in, FP32 [1,1024] out', request: req([{ name: 'input', datatype: 'FP32', shape: [1, 1024], contents: { fp32_contents: Array.from(f32(1024, 4)) } }]),
    response: { model: 'mlp', version: '1', id: 'req-1', outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 1024], data: y1024 }] } },
  { label: 'BYTES: 16 × 32 B raw in and out', request: req([{ name: 'text', datatype: 'BYTES', shape: [1, 16] }], [bytesRaw]),
    response: { model: 'm', version: '1', id: 'req-1', outputs: [{ name: 'text', datatype: 'BYTES', shape: [1, 16], data: strings }] } },
];

// ---- checks -------------------------------------------------------------------------------------------------------
function sameRequest(a: InferenceRequest, b: InferenceRequest, label: string): void {
  const same = a.model === b.model && a.id === b.id && a.priority === b.priority && a.timeoutUs === b.timeoutUs && a.inputs.length === b.inputs.length
    && a.inputs.every((t, i) => {
      const u = b.inputs[i];
      return t.name === u.name && t.datatype === u.datatype && t.shape.join() === u.shape.join() && encodeBinaryData(t).every((x, j) => x === encodeBinaryData(u)[j])
        && encodeBinaryData(t).length === encodeBinaryData(u).length;
    });
  if (!same) throw new Error(`${label}: generated and hand-written decode differ`);
}

function sameReply(a: Buffer, b: Buffer, label: string): void {
  const x = JSON.stringify(method.responseDeserialize(a.subarray(5)));
  const y = JSON.stringify(method.responseDeserialize(b.subarray(5)));
  if (x !== y) throw new Error(`${label}: generated and hand-written replies decode differently`);
}

// ---- measurement ----------------------------------------------------------------------------------------------------
const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** µs per message (decode the request + encode the reply) over a window of `n` messages. */
function windowUs(c: Case, decode: (b: Buffer) => InferenceRequest, encode: (r: InferenceResponse) => { length: number }, n: number): number {
  const t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++) {
    sink += decode(c.request).inputs.length;
    sink += encode(c.response).length;
  }
  if (sink === 0) throw new Error('nothing decoded');
  return ((performance.now() - t0) * 1000) / n;
}

function calibrate(c: Case): number {
  let n = 100;
  for (;;) {
    const t0 = performance.now();
    windowUs(c, generatedDecode, generatedEncode, n);
    const ms = performance.now() - t0;
    if (ms > WINDOW_MS / 4) return Math.max(50, Math.round((n * WINDOW_MS) / ms));
    n *= 4;
  }
}

console.log(`grpc-codec: ModelInfer request decode + reply encode, generated (proto-loader/protobufjs) ÷ hand-written; ${PAIRS} alternating pairs of ~${WINDOW_MS} ms windows, node ${process.version}\n`);
console.log('| message | request bytes | generated µs | hand-written µs | generated ÷ hand-written |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const c of cases) {
  sameRequest(generatedDecode(c.request), handDecode(c.request), c.label);
  sameReply(generatedEncode(c.response), handEncode(c.response), c.label);
  const n = calibrate(c);
  windowUs(c, handDecode, handEncodeParts, n);
  const gen: number[] = [];
  const hand: number[] = [];
  const ratios: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const g = windowUs(c, generatedDecode, generatedEncode, n);
    const h = windowUs(c, handDecode, handEncodeParts, n);
    gen.push(g);
    hand.push(h);
    ratios.push(g / h);
  }
  console.log(`| ${c.label} | ${c.request.length} | ${median(gen).toFixed(2)} | ${median(hand).toFixed(2)} | ` +
    `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`);
}
