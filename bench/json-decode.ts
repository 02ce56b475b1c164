/**
 * Decoding an infer request body into an InferenceRequest: the former path (TextDecoder + JSON.parse, then the
 * JS arrays flattened and copied into the tensor) against decodeInferRequest with the byte parser, for
 *  - a JSON body of one FP32 [1,512] input (≈ 4.9 KB, six-decimal values),
 *  - a binary-extension body (a small JSON header, 64 FP32 as raw bytes),
 *  - a JSON body of one FP32 [1,64] input.
 * Alternating windows (old, new, old, new, …) of about `windowMs` each after a warm-up; prints each side's median µs
 * per body and the median ratio old ÷ new with its min–max over the pairs. Both sides' tensors are checked equal.
 *
 *   flock /tmp/bench.lock node --import tsx bench/json-decode.ts [windowMs=100] [pairs=7]
 */
import { performance } from 'node:perf_hooks';
import {
  type InferenceRequest, type NumericArray, type Parameters, type RequestLimits, type RequestedOutput, type Tensor,
  CancelSource, DEFAULT_LIMITS, allocate, invalidArgument, isDataType,
} from '../src/core/index.js';
import { checkTensorLimits } from '../src/server/validate-request.js';
import { decodeBinaryData } from '../src/frontends/codec/binary-tensor.js';
import { decodeInferRequest } from '../src/frontends/http/decode-request.js';

const WINDOW_MS = Number(process.argv[2] ?? 100);
const PAIRS = Number(process.argv[3] ?? 7);

// ---- the former path: src/frontends/http/decode-request.ts and json-tensor.ts before the byte parser, verbatim
// but for the error texts and decodeJsonData reduced to the FP32 branch these bodies take ---------------------
const oldDecoder = new TextDecoder('utf-8', { fatal: true });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function oldParameters(v: unknown, where: string): Parameters | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw invalidArgument(`${where}: 'parameters' must be an object`);
  for (const [k, p] of Object.entries(v)) {
    if (typeof p !== 'string' && typeof p !== 'number' && typeof p !== 'boolean') {
      throw invalidArgument(`${where}: parameter '${k}' must be a string, number or boolean`);
    }
  }
  return v as Parameters;
}

function oldParseHeader(body: Uint8Array, headerLength: number | undefined): Record<string, unknown> {
  let text: string;
  try {
    text = oldDecoder.decode(headerLength === undefined ? body : body.subarray(0, headerLength));
  } catch {
    throw invalidArgument('request JSON is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`malformed request JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw invalidArgument('request JSON must be an object');
  return parsed;
}

function oldShapeOf(v: unknown): number[] {
  if (!Array.isArray(v)) throw invalidArgument("'shape' must be an array of integers");
  for (const d of v) if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw invalidArgument('bad shape');
  return v as number[];
}

function oldFlatten(data: unknown, out: unknown[], depth: number): void {
  if (!Array.isArray(data)) {
    out.push(data);
    return;
  }
  if (depth > 64) throw invalidArgument('data is nested too deeply');
  for (const el of data) {
    if (Array.isArray(el)) oldFlatten(el, out, depth + 1);
    else out.push(el);
  }
}

function oldDecodeFp32(data: unknown, expected: number): NumericArray {
  const leaves: unknown[] = [];
  oldFlatten(data, leaves, 0);
  if (leaves.length !== expected) throw invalidArgument('element count differs from the shape');
  const n = leaves.length;
  const arr = allocate('FP32', n);
  for (let i = 0; i < n; i++) {
    const v = leaves[i];
    if (typeof v !== 'number') throw invalidArgument('not a valid FP32 value');
    arr[i] = v;
  }
  return arr;
}

function oldDecode(body: Uint8Array, headerLength: number | undefined, limits: RequestLimits): InferenceRequest {
  if (headerLength !== undefined && (headerLength < 0 || headerLength > body.length)) throw invalidArgument('bad header length');
  const h = oldParseHeader(body, headerLength);
  if (h.id !== undefined && typeof h.id !== 'string') throw invalidArgument("'id' must be a string");
  const params = oldParameters(h.parameters, 'request');
  if (!Array.isArray(h.inputs) || h.inputs.length === 0) throw invalidArgument("'inputs' must be a non-empty array");
  let offset = headerLength ?? body.length;
  const inputs: Tensor[] = [];
  for (const raw of h.inputs as unknown[]) {
    if (!isObject(raw)) throw invalidArgument('each input must be an object');
    const name = raw.name;
    if (typeof name !== 'string') throw invalidArgument("each input needs a string 'name'");
    const datatype = raw.datatype;
    if (!isDataType(datatype)) throw invalidArgument('unknown datatype');
    const shape = oldShapeOf(raw.shape);
    const count = checkTensorLimits(name, shape, limits);
    const size = oldParameters(raw.parameters, `input '${name}'`)?.binary_data_size;
    let data;
    if (size !== undefined) {
      if (headerLength === undefined) throw invalidArgument('binary_data_size without a header length');
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalidArgument('bad binary_data_size');
      if (raw.data !== undefined) throw invalidArgument("both 'data' and binary_data_size");
      if (offset + size > body.length) throw invalidArgument('binary_data_size runs past the end of the body');
      data = decodeBinaryData(name, datatype, body, offset, size, count);
      offset += size;
    } else {
      if (raw.data === undefined) throw invalidArgument("neither 'data' nor binary_data_size");
      data = oldDecodeFp32(raw.data, count);
    }
    inputs.push({ name, datatype, shape, data });
  }
  if (offset !== body.length) throw invalidArgument('undeclared binary data');
  const perOutput = new Map<string, boolean>();
  let outputs: RequestedOutput[] | undefined;
  if (h.outputs !== undefined) {
    if (!Array.isArray(h.outputs)) throw invalidArgument("'outputs' must be an array");
    outputs = [];
    for (const o of h.outputs as unknown[]) {
      if (!isObject(o) || typeof o.name !== 'string') throw invalidArgument("each requested output needs a string 'name'");
      const op = oldParameters(o.parameters, `output '${o.name}'`);
      if (op?.binary_data !== undefined) perOutput.set(o.name, op.binary_data === true);
      outputs.push(op === undefined ? { name: o.name } : { name: o.name, parameters: op });
    }
  }
  const priority = params?.priority;
  const timeout = params?.timeout;
  return {
    id: h.id as string | undefined,
    model: 'm',
    version: undefined,
    inputs,
    outputs,
    priority: typeof priority === 'number' ? priority : undefined,
    timeoutUs: typeof timeout === 'number' ? timeout : undefined,
    parameters: params,
    receivedUs: 0,
    signal: new CancelSource(),
  };
}

// ---- bodies ---------------------------------------------------------------------------------------------------
const utf8 = new TextEncoder();
/** Six-decimal values in [-1, 1] from a fixed LCG, as a client rounding its floats would send. */
function values(n: number): number[] {
  let s = 12345;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return Math.round((s / 2 ** 32 * 2 - 1) * 1e6) / 1e6;
  });
}
const jsonBody = (n: number, widen = false): Uint8Array => utf8.encode(JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, n], data: widen ? values(n).map(Math.fround) : values(n) }],
}));
const header = utf8.encode(JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], parameters: { binary_data_size: 256 } }],
  parameters: { binary_data_output: true },
}));
const binary = new Uint8Array(header.length + 256);
binary.set(header);
binary.set(new Uint8Array(Float32Array.from(values(64)).buffer), header.length);

interface Case { readonly label: string; readonly body: Uint8Array; readonly headerLength?: number }
const cases: Case[] = [
  { label: 'JSON FP32 [1,512]', body: jsonBody(512) },
  // Float32 values printed as doubles (17 digits), as numpy's tolist() + json.dumps send them.
  { label: 'JSON FP32 [1,512], float32 as double', body: jsonBody(512, true) },
  { label: `binary, ${header.length} B header`, body: binary, headerLength: header.length },
  { label: 'JSON FP32 [1,64]', body: jsonBody(64) },
];

// ---- measurement ----------------------------------------------------------------------------------------------
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const decodeOld = (c: Case): InferenceRequest => oldDecode(c.body, c.headerLength, DEFAULT_LIMITS);
const decodeNew = (c: Case): InferenceRequest =>
  decodeInferRequest(c.body, c.headerLength, 'm', undefined, DEFAULT_LIMITS, new CancelSource(), 0).request;

function sameTensors(a: InferenceRequest, b: InferenceRequest, label: string): void {
  const x = a.inputs[0].data as Float32Array;
  const y = b.inputs[0].data as Float32Array;
  if (x.length !== y.length || x.some((v, i) => !Object.is(v, y[i]))) throw new Error(`${label}: old and new decode differ`);
}

/** µs per body over a window of `bodies` decodes. */
function window(c: Case, decode: (c: Case) => InferenceRequest, bodies: number): number {
  const t0 = performance.now();
  for (let i = 0; i < bodies; i++) decode(c);
  return ((performance.now() - t0) * 1000) / bodies;
}

console.log(`windows of ≈ ${WINDOW_MS} ms, ${PAIRS} pairs (old, new alternating)`);
for (const c of cases) {
  sameTensors(decodeOld(c), decodeNew(c), c.label);
  // The warm-up also sizes the windows: as many bodies as the old path decodes in WINDOW_MS.
  window(c, decodeNew, 2000);
  const bodies = Math.max(100, Math.round((WINDOW_MS * 1000) / window(c, decodeOld, 2000)));
  const olds: number[] = [];
  const news: number[] = [];
  const ratios: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    olds.push(window(c, decodeOld, bodies));
    news.push(window(c, decodeNew, bodies));
    ratios.push(olds[p] / news[p]);
  }
  const f = (v: number): string => v.toFixed(2);
  console.log(`${c.label} (${c.body.length} B, ${bodies} per window): old ${f(median(olds))} µs, new ${f(median(news))} µs per body; ` +
    `old ÷ new ${f(median(ratios))} (min ${f(Math.min(...ratios))}, max ${f(Math.max(...ratios))})`);
}
