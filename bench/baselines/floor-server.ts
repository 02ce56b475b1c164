/**
 * The bare HTTP floor: a node:http server that speaks just enough KServe v2 for a load generator (model metadata,
 * config, infer) and answers every infer with one fixed, pre-encoded response — no decoding, no model. No server
 * that does real work over node:http can beat it, so it is the floor every HTTP benchmark divides by.
 *
 * With `serviceTimeMs` it becomes a server of known capacity: infers are served one at a time, each holding the
 * single "instance" that long (capacity = 1000 / serviceTimeMs requests/s) — for tests of queueing behaviour.
 *
 * In-process: `startFloorServer(opts)`. As its own process (so it does not share the client's event loop):
 *   node --import tsx bench/baselines/floor-server.ts [--port 0] [--output-bytes 64] [--service-ms 0] [--spec FILE]
 * prints `listening http://127.0.0.1:PORT` on stdout. `--spec FILE` (JSON, see FloorSpecFile) makes it mimic a real
 * model: the same metadata and the exact response bytes a real server sent, so only the work differs.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface FloorModel {
  readonly name: string;
  readonly inputs: readonly { name: string; datatype: string; shape: readonly number[] }[];
  readonly outputs: readonly { name: string; datatype: string; shape: readonly number[] }[];
  readonly maxBatchSize: number;
}

export interface FixedResponse {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string | number>>;
}

export interface FloorServerOptions {
  readonly port?: number;
  readonly model?: FloorModel;
  /** The infer answer; default: a v2 binary response of one FP32 output of `outputBytes` zero bytes. */
  readonly response?: FixedResponse;
  readonly outputBytes?: number;
  /** > 0: serve infers one at a time, each taking this long (a server of known capacity). */
  readonly serviceTimeMs?: number;
  /** Serialized mode: told of each answer's time waiting for the instance and in service, µs (e.g. for metrics). */
  readonly onServed?: (queueUs: number, serviceUs: number) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Infer requests answered so far. */
  readonly served: () => number;
  close(): Promise<void>;
}

/** A floor model: one FP32 input `input` [-1, 16] and one FP32 output `output` [-1, n]. */
export function defaultFloorModel(outputElements = 16): FloorModel {
  return {
    name: 'floor',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
    outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, outputElements] }],
    maxBatchSize: 64,
  };
}

/** A valid v2 binary-extension response: one FP32 output of `bytes` zero bytes (rounded to whole floats). */
export function binaryResponseOfSize(outputName: string, bytes: number): FixedResponse {
  const n = Math.max(1, Math.floor(bytes / 4));
  const header = Buffer.from(JSON.stringify({
    model_name: 'floor', model_version: '1',
    outputs: [{ name: outputName, datatype: 'FP32', shape: [1, n], parameters: { binary_data_size: n * 4 } }],
  }));
  return {
    body: Buffer.concat([header, Buffer.alloc(n * 4)]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
  };
}

export async function startFloorServer(opts: FloorServerOptions = {}): Promise<RunningServer> {
  const model = opts.model ?? defaultFloorModel(Math.max(1, Math.floor((opts.outputBytes ?? 64) / 4)));
  const response = opts.response ?? binaryResponseOfSize(model.outputs[0]?.name ?? 'output', opts.outputBytes ?? 64);
  const headers = { ...response.headers, 'Content-Length': response.body.length };
  const meta = JSON.stringify({ name: model.name, versions: ['1'], platform: 'floor', inputs: model.inputs, outputs: model.outputs });
  const config = JSON.stringify({ name: model.name, max_batch_size: model.maxBatchSize });
  const base = `/v2/models/${model.name}`;
  const serviceMs = opts.serviceTimeMs ?? 0;
  let served = 0;
  // Serialized mode: a FIFO of responses waiting for the one "instance" (array + head index, no shift()).
  const queue: { res: ServerResponse; arrivedMs: number }[] = [];
  let head = 0;
  let busy = false;
  const runNext = () => {
    if (head >= queue.length) { busy = false; queue.length = 0; head = 0; return; }
    busy = true;
    const { res, arrivedMs } = queue[head++];
    const startMs = performance.now();
    setTimeout(() => {
      opts.onServed?.((startMs - arrivedMs) * 1000, (performance.now() - startMs) * 1000);
      answer(res);
      runNext();
    }, serviceMs);
  };
  const answer = (res: ServerResponse) => {
    served++;
    if (!res.destroyed) { res.writeHead(200, headers); res.end(response.body); }
  };
  const json = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && (url === `${base}/infer` || url.startsWith(`${base}/versions/`))) {
      req.on('data', () => {});
      req.on('end', () => {
        if (serviceMs <= 0) return answer(res);
        queue.push({ res, arrivedMs: performance.now() });
        if (!busy) runNext();
      });
      return;
    }
    req.resume();
    if (req.method === 'GET' && (url === base || url === `${base}/versions/1`)) return json(res, 200, meta);
    if (req.method === 'GET' && url === `${base}/config`) return json(res, 200, config);
    // Ground truth for client checks: how many infers this server has answered.
    if (req.method === 'GET' && url === '/floor/served') return json(res, 200, JSON.stringify({ served }));
    if (req.method === 'GET' && (url === '/v2/health/ready' || url === '/v2/health/live')) return json(res, 200, '');
    json(res, 404, JSON.stringify({ error: `floor server: no route ${req.method} ${url}` }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    served: () => served,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** What `--spec` reads: a model's metadata and one real response (body base64) to answer with. */
export interface FloorSpecFile {
  readonly model: FloorModel;
  readonly responseBase64: string;
  readonly headers: Record<string, string | number>;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, 'output-bytes': { type: 'string' }, 'service-ms': { type: 'string' }, spec: { type: 'string' } },
  });
  const spec = values.spec ? (JSON.parse(readFileSync(values.spec, 'utf8')) as FloorSpecFile) : undefined;
  const s = await startFloorServer({
    ...(spec ? { model: spec.model, response: { body: Buffer.from(spec.responseBase64, 'base64'), headers: spec.headers } } : {}),
    port: Number(values.port ?? 0),
    outputBytes: Number(values['output-bytes'] ?? 64),
    serviceTimeMs: Number(values['service-ms'] ?? 0),
  });
  console.log(`listening ${s.url}`);
  const stop = () => { void s.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
