/**
 * The naive server: what a user writes by hand — node:http, one onnxruntime-node session, `session.run` per request
 * on the main thread, no batching, no queue. It speaks enough KServe v2 for `autoglm bench` (metadata, config, infer
 * with JSON or binary tensors, numeric datatypes only), so the same load hits it and Open-AutoGLM.
 *
 * In-process: `startNaiveServer({ modelPath })`. As its own process:
 *   node --import tsx bench/baselines/naive-server.ts --model FILE.onnx [--name mlp] [--port 0] [--threads 1]
 * prints `listening http://127.0.0.1:PORT`.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { dataTypeInfo, fromOrtType, fromOnnxElemType, isDataType, viewOf, type DataType } from '../../src/core/index.js';
import { readOnnxModelInfo } from '../../src/onnx-proto/index.js';
import type { RunningServer } from './floor-server.js';

export interface NaiveServerOptions {
  readonly modelPath: string;
  readonly name?: string;
  readonly port?: number;
  readonly threads?: number;
}

interface Signature { name: string; datatype: DataType; shape: number[] }

function signatureOf(bytes: Uint8Array): { inputs: Signature[]; outputs: Signature[] } {
  const info = readOnnxModelInfo(bytes);
  const conv = (v: { name: string; elemType: number; dims: readonly (number | string | null)[] | undefined }): Signature => ({
    name: v.name,
    datatype: fromOnnxElemType(v.elemType) ?? 'FP32',
    shape: (v.dims ?? []).map((d) => (typeof d === 'number' ? d : -1)),
  });
  return { inputs: info.inputs.map(conv), outputs: info.outputs.map(conv) };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface V2Input { name: string; shape: number[]; datatype: string; data?: unknown[]; parameters?: { binary_data_size?: number } }

/** Request → feeds. Throws Error with a message for anything it does not understand (answered as 400). */
function decode(body: Buffer, headerLen: number): { feeds: Record<string, ort.Tensor>; binaryOut: boolean } {
  const doc = JSON.parse(body.toString('utf8', 0, headerLen)) as { inputs: V2Input[]; parameters?: { binary_data_output?: boolean } };
  const feeds: Record<string, ort.Tensor> = {};
  let offset = headerLen;
  for (const t of doc.inputs) {
    if (!isDataType(t.datatype) || t.datatype === 'BYTES') throw new Error(`unsupported datatype ${t.datatype}`);
    const info = dataTypeInfo(t.datatype);
    const n = t.shape.reduce((a, b) => a * b, 1);
    let data: ort.Tensor.DataType;
    const size = t.parameters?.binary_data_size;
    if (size !== undefined) {
      const copy = new Uint8Array(size);
      copy.set(body.subarray(offset, offset + size));
      offset += size;
      data = viewOf(t.datatype, copy.buffer, 0, n) as ort.Tensor.DataType;
    } else {
      const arr = new info.array!(n);
      const flat = (t.data ?? []).flat(Infinity) as number[];
      for (let i = 0; i < n; i++) (arr as Float64Array)[i] = info.json === 'bigint' ? (BigInt(flat[i]) as unknown as number) : Number(flat[i]);
      data = arr as ort.Tensor.DataType;
    }
    feeds[t.name] = new ort.Tensor(info.ortType as 'float32', data as Float32Array, t.shape);
  }
  return { feeds, binaryOut: doc.parameters?.binary_data_output === true };
}

function encode(name: string, results: ort.InferenceSession.OnnxValueMapType, binary: boolean): { body: Buffer; headers: Record<string, string | number> } {
  const outputs = Object.entries(results).map(([n, v]) => ({ name: n, tensor: v as ort.Tensor }));
  if (!binary) {
    const doc = {
      model_name: name, model_version: '1',
      outputs: outputs.map(({ name: n, tensor }) => ({
        name: n, datatype: fromOrtType(tensor.type), shape: tensor.dims,
        data: Array.from(tensor.data as Float32Array, (x) => (typeof x === 'bigint' ? Number(x) : x)),
      })),
    };
    return { body: Buffer.from(JSON.stringify(doc)), headers: { 'Content-Type': 'application/json' } };
  }
  const raw = outputs.map(({ tensor }) => {
    const a = tensor.data as Uint8Array;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  });
  const header = Buffer.from(JSON.stringify({
    model_name: name, model_version: '1',
    outputs: outputs.map(({ name: n, tensor }, i) => ({ name: n, datatype: fromOrtType(tensor.type), shape: tensor.dims, parameters: { binary_data_size: raw[i].length } })),
  }));
  return {
    body: Buffer.concat([header, ...raw]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
  };
}

export async function startNaiveServer(opts: NaiveServerOptions): Promise<RunningServer> {
  const bytes = readFileSync(opts.modelPath);
  const sig = signatureOf(bytes);
  const name = opts.name ?? 'model';
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? 1, logSeverityLevel: 3 });
  const meta = JSON.stringify({ name, versions: ['1'], platform: 'onnxruntime_onnx', inputs: sig.inputs, outputs: sig.outputs });
  const batches = sig.inputs.every((t) => t.shape[0] === -1);
  const config = JSON.stringify({ name, max_batch_size: batches ? 1 << 20 : 0 });
  const base = `/v2/models/${name}`;
  let served = 0;
  const send = (res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string | number> = { 'Content-Type': 'application/json' }) => {
    res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = createServer(async (req, res) => {
    const url = req.url ?? '';
    const body = await readBody(req);
    if (req.method === 'GET' && url === base) return send(res, 200, meta);
    if (req.method === 'GET' && url === `${base}/config`) return send(res, 200, config);
    if (req.method !== 'POST' || url !== `${base}/infer`) return send(res, 404, JSON.stringify({ error: `no route ${req.method} ${url}` }));
    let decoded;
    try {
      const h = req.headers['inference-header-content-length'];
      decoded = decode(body, h === undefined ? body.length : Number(h));
    } catch (err) {
      return send(res, 400, JSON.stringify({ error: (err as Error).message }));
    }
    try {
      const results = await session.run(decoded.feeds);
      const out = encode(name, results, decoded.binaryOut);
      served++;
      send(res, 200, out.body, out.headers);
    } catch (err) {
      send(res, 500, JSON.stringify({ error: (err as Error).message }));
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    served: () => served,
    close: () => new Promise<void>((resolve) => {
      server.close(() => { void session.release().then(() => resolve()); });
      server.closeAllConnections();
    }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, name: { type: 'string' }, port: { type: 'string' }, threads: { type: 'string' } },
  });
  if (!values.model) {
    console.error('usage: naive-server.ts --model FILE.onnx [--name NAME] [--port 0] [--threads 1]');
    process.exit(2);
  }
  const s = await startNaiveServer({ modelPath: values.model, name: values.name, port: Number(values.port ?? 0), threads: Number(values.threads ?? 1) });
  console.log(`listening ${s.url}`);
  const stop = () => { void s.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
