/**
 * One infer call, four ways: KServe v2 HTTP with JSON, HTTP with the binary tensor extension, gRPC with
 * raw_input_contents, gRPC with typed `contents`. Each transport encodes the same tensors its own way and brings the
 * answer back to one form — every output as its binary tensor bytes, failures as the catalog's code — so one suite
 * checks them all (test/frontends/infer-conformance.test.ts). The gRPC client is grpc-js + protobufjs, apart from the
 * server's hand-written codec.
 */
import { type DataType, type ErrorCode, ERROR_CODES, type TensorData } from '../../src/core/index.js';
import { encodeBinaryData } from '../../src/frontends/codec/binary-tensor.js';
import { fromHalfBits } from '../../src/frontends/codec/float16.js';
import { toHalfBits } from '../../src/frontends/codec/float16.js';
import { binaryBody, binaryOutputs, call, postJson } from '../http/helpers.js';
import type { Client } from '../grpc/helpers.js';

export interface TensorIn {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface InferCall {
  readonly model: string;
  readonly version?: string;
  readonly id?: string;
  readonly inputs: readonly TensorIn[];
  /** Requested outputs (absent = all). */
  readonly outputs?: readonly string[];
}

export interface OutputBytes {
  readonly datatype: string;
  readonly shape: readonly number[];
  /** The output in the binary tensor layout (BYTES: 4-byte length + bytes per element). */
  readonly bytes: Uint8Array;
}

export type Answer =
  | { readonly ok: true; readonly id: string | undefined; readonly model: string; readonly version: string; readonly outputs: Map<string, OutputBytes> }
  /** `codes`: the catalog codes the status can mean (gRPC's RESOURCE_EXHAUSTED is two of them). */
  | { readonly ok: false; readonly codes: readonly ErrorCode[]; readonly message: string };

export interface Transport {
  readonly name: string;
  /** Datatypes this transport cannot carry, and why (the suite skips them and says so). */
  readonly cannot: Partial<Record<DataType, string>>;
  infer(c: InferCall): Promise<Answer>;
}

const bytesOf = (t: TensorIn): Uint8Array => encodeBinaryData({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data });

function codesOfHttp(status: number): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter((k) => ERROR_CODES[k].http === status);
}

function codesOfGrpc(code: number): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter((k) => ERROR_CODES[k].grpc === code);
}

// ---- JSON values ---------------------------------------------------------------------------------------------------

const utf8 = new TextDecoder();

function jsonValues(t: TensorIn): unknown[] {
  const d = t.data;
  switch (t.datatype) {
    case 'BYTES': return (d as Uint8Array[]).map((b) => utf8.decode(b));
    case 'BOOL': return Array.from(d as Uint8Array, (v) => v !== 0);
    case 'FP16': return Array.from(d as Uint16Array, fromHalfBits);
    case 'INT64': case 'UINT64': return Array.from(d as BigInt64Array, Number);
    default: return Array.from(d as Float32Array);
  }
}

/** JSON `data` back to the binary layout. */
function bytesOfJson(datatype: string, values: unknown[]): Uint8Array {
  const flat = (values as unknown[]).flat(Infinity);
  const enc = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  switch (datatype) {
    case 'BYTES': return encodeBinaryData({ name: '', datatype: 'BYTES', shape: [flat.length], data: flat.map((s) => Buffer.from(s as string, 'utf8')) });
    case 'BOOL': return Uint8Array.from(flat as boolean[], (b) => (b ? 1 : 0));
    case 'UINT8': return Uint8Array.from(flat as number[]);
    case 'INT8': return enc(Int8Array.from(flat as number[]));
    case 'UINT16': return enc(Uint16Array.from(flat as number[]));
    case 'INT16': return enc(Int16Array.from(flat as number[]));
    case 'UINT32': return enc(Uint32Array.from(flat as number[]));
    case 'INT32': return enc(Int32Array.from(flat as number[]));
    case 'UINT64': return enc(BigUint64Array.from(flat as number[], BigInt));
    case 'INT64': return enc(BigInt64Array.from(flat as number[], BigInt));
    case 'FP16': return enc(Uint16Array.from(flat as number[], toHalfBits));
    case 'FP32': return enc(Float32Array.from(flat as number[], Number));
    case 'FP64': return enc(Float64Array.from(flat as number[], Number));
    default: throw new Error(`unknown datatype ${datatype}`);
  }
}

type HttpOutput = { name: string; datatype: string; shape: number[]; data?: unknown[] };

export function httpJson(base: () => string): Transport {
  return {
    name: 'HTTP JSON',
    cannot: {},
    async infer(c) {
      const path = c.version ? `/v2/models/${c.model}/versions/${c.version}/infer` : `/v2/models/${c.model}/infer`;
      const r = await postJson(base(), path, {
        ...(c.id ? { id: c.id } : {}),
        inputs: c.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: jsonValues(t) })),
        ...(c.outputs ? { outputs: c.outputs.map((name) => ({ name })) } : {}),
      });
      if (r.status !== 200) return { ok: false, codes: codesOfHttp(r.status), message: r.json?.error ?? '' };
      const outputs = new Map<string, OutputBytes>();
      for (const o of r.json.outputs as HttpOutput[]) outputs.set(o.name, { datatype: o.datatype, shape: o.shape, bytes: bytesOfJson(o.datatype, o.data!) });
      return { ok: true, id: r.json.id, model: r.json.model_name, version: r.json.model_version, outputs };
    },
  };
}

export function httpBinary(base: () => string): Transport {
  return {
    name: 'HTTP binary',
    cannot: {},
    async infer(c) {
      const path = c.version ? `/v2/models/${c.model}/versions/${c.version}/infer` : `/v2/models/${c.model}/infer`;
      const parts = c.inputs.map(bytesOf);
      const { body, headers } = binaryBody({
        ...(c.id ? { id: c.id } : {}),
        inputs: c.inputs.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: parts[i].byteLength } })),
        ...(c.outputs ? { outputs: c.outputs.map((name) => ({ name })) } : {}),
        parameters: { binary_data_output: true },
      }, parts);
      const r = await call(base(), path, { body, headers });
      if (r.status !== 200) return { ok: false, codes: codesOfHttp(r.status), message: r.json?.error ?? '' };
      const bin = binaryOutputs(r);
      const outputs = new Map<string, OutputBytes>();
      for (const o of r.json.outputs as HttpOutput[]) outputs.set(o.name, { datatype: o.datatype, shape: o.shape, bytes: bin.get(o.name)! });
      return { ok: true, id: r.json.id, model: r.json.model_name, version: r.json.model_version, outputs };
    },
  };
}

// ---- gRPC -----------------------------------------------------------------------------------------------------------

type Obj = Record<string, any>;

function grpcAnswer(o: Awaited<ReturnType<Client['call']>>): Answer {
  if (!o.ok) return { ok: false, codes: codesOfGrpc(o.code), message: o.details };
  const v = o.value;
  const raw = v.raw_output_contents as Buffer[];
  const outs = v.outputs as Obj[];
  if (raw.length !== outs.length) throw new Error(`gRPC answer has ${outs.length} outputs but ${raw.length} raw_output_contents`);
  const outputs = new Map<string, OutputBytes>();
  outs.forEach((o, i) => outputs.set(o.name, { datatype: o.datatype, shape: (o.shape as string[]).map(Number), bytes: new Uint8Array(raw[i]) }));
  return { ok: true, id: v.id === '' ? undefined : v.id, model: v.model_name, version: v.model_version, outputs };
}

function grpcRequest(c: InferCall, inputs: Obj[], raw: Buffer[]): Obj {
  return {
    model_name: c.model, model_version: c.version ?? '', id: c.id ?? '', inputs,
    outputs: (c.outputs ?? []).map((name) => ({ name })), raw_input_contents: raw,
  };
}

export function grpcRaw(client: () => Client): Transport {
  return {
    name: 'gRPC raw_input_contents',
    cannot: {},
    async infer(c) {
      const inputs = c.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape }));
      const raw = c.inputs.map((t) => Buffer.from(bytesOf(t)));
      return grpcAnswer(await client().call('ModelInfer', grpcRequest(c, inputs, raw)));
    },
  };
}

/** InferTensorContents for a tensor, as Triton's clients fill it. */
export function typedContents(t: TensorIn): Obj {
  const d = t.data;
  switch (t.datatype) {
    case 'BOOL': return { bool_contents: Array.from(d as Uint8Array, (v) => v !== 0) };
    case 'INT8': case 'INT16': case 'INT32': return { int_contents: Array.from(d as Int32Array) };
    case 'INT64': return { int64_contents: Array.from(d as BigInt64Array, String) };
    case 'UINT8': case 'UINT16': case 'UINT32': return { uint_contents: Array.from(d as Uint32Array) };
    case 'UINT64': return { uint64_contents: Array.from(d as BigUint64Array, String) };
    case 'FP32': return { fp32_contents: Array.from(d as Float32Array) };
    case 'FP64': return { fp64_contents: Array.from(d as Float64Array) };
    case 'BYTES': return { bytes_contents: (d as Uint8Array[]).map((b) => Buffer.from(b)) };
    case 'FP16': throw new Error('FP16 has no contents field');
  }
}

export function grpcTyped(client: () => Client): Transport {
  return {
    name: 'gRPC typed contents',
    cannot: { FP16: 'InferTensorContents has no FP16 field (Triton\'s clients send FP16 raw)' },
    async infer(c) {
      const inputs = c.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, contents: typedContents(t) }));
      return grpcAnswer(await client().call('ModelInfer', grpcRequest(c, inputs, [])));
    },
  };
}
