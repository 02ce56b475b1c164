/**
 * KServe v2 infer request bodies, encoded once before the load starts (the hot path only writes bytes).
 * Binary (default): a JSON header naming each input with `binary_data_size`, then the raw tensor bytes, with
 * `Inference-Header-Content-Length` giving the header's length, and `binary_data_output` asking for binary outputs.
 * JSON: every element in `data`, outputs as JSON.
 */
import { dataTypeInfo, type Tensor } from '../core/index.js';
import { encodeRequest } from './http1-connection.js';
import type { ProtocolFormat } from './options.js';

export interface EncodedBody {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string | number>>;
}

/** Half-precision bits → number, for JSON (which carries FP16 as numbers). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function jsonData(t: Tensor): unknown[] {
  const info = dataTypeInfo(t.datatype);
  if (t.datatype === 'BYTES') return (t.data as Uint8Array[]).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
  if (t.datatype === 'FP16') return Array.from(t.data as Uint16Array, halfToNumber);
  if (t.datatype === 'BOOL') return Array.from(t.data as Uint8Array, (v) => v !== 0);
  if (info.json === 'bigint') return Array.from(t.data as BigInt64Array, (v) => Number(v));
  return Array.from(t.data as Float32Array);
}

function binaryBytes(t: Tensor): Buffer {
  if (t.datatype !== 'BYTES') {
    const a = t.data as Uint8Array;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  }
  const parts: Buffer[] = [];
  for (const el of t.data as Uint8Array[]) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(el.byteLength, 0);
    parts.push(len, Buffer.from(el.buffer, el.byteOffset, el.byteLength));
  }
  return Buffer.concat(parts);
}

export function encodeInferBody(inputs: readonly Tensor[], format: ProtocolFormat): EncodedBody {
  if (format === 'json') {
    const doc = { inputs: inputs.map((t) => ({ name: t.name, shape: t.shape, datatype: t.datatype, data: jsonData(t) })) };
    return { body: Buffer.from(JSON.stringify(doc)), headers: { 'Content-Type': 'application/json' } };
  }
  const raw = inputs.map(binaryBytes);
  const header = Buffer.from(JSON.stringify({
    inputs: inputs.map((t, i) => ({ name: t.name, shape: t.shape, datatype: t.datatype, parameters: { binary_data_size: raw[i].length } })),
    parameters: { binary_data_output: true },
  }));
  return {
    body: Buffer.concat([header, ...raw]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
  };
}

/** Full HTTP/1.1 request bytes for one infer call against `baseUrl` (http://host:port[/prefix]). */
export function encodeInferRequest(baseUrl: string, path: string, encoded: EncodedBody): Buffer {
  const u = new URL(baseUrl);
  return encodeRequest('POST', u.host, u.pathname.replace(/\/$/, '') + path, encoded.headers, encoded.body);
}
