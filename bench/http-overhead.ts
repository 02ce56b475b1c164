/**
 * What the HTTP server costs on top of the work it serves, in one run:
 *  (a) server latency at concurrency 1 ÷ in-process `session.run` latency, same model and thread settings,
 *      for a JSON and a binary request;
 *  (b) server throughput for a tiny model ÷ a bare node:http server answering a fixed body of the same size.
 * Windows alternate (A B A B …) after a warm-up; each figure is the median ratio over the pairs, with min–max.
 * The client shares the machine's cores with the servers (each server is its own process).
 *
 *   node --import tsx bench/http-overhead.ts [--pairs 5] [--latency-requests 400] [--throughput-ms 1500] [--concurrency 16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { ONNX, writeOnnxModel } from '../src/onnx-proto/index.js';
import { mlpModel, seededFloats, writeModel } from '../test/fixtures/models.js';
import { tempRepo } from '../test/http/helpers.js';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '5' },
    'latency-requests': { type: 'string', default: '400' },
    'throughput-ms': { type: 'string', default: '1500' },
    concurrency: { type: 'string', default: '16' },
  },
});
const PAIRS = Number(args.pairs);
const LAT_N = Number(args['latency-requests']);
const TP_MS = Number(args['throughput-ms']);
const CONC = Number(args.concurrency);

// ---- models ---------------------------------------------------------------------------------------------------
const IN = 64;
const OUT = 10;
const mlp = mlpModel(IN, 32, OUT, 1); // the example repository's mlp
/** Tiny: y = x + x over FP32 [batch, 4]. */
const tiny = writeOnnxModel({
  name: 'tiny',
  nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
  inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 4] }],
  outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 4] }],
});
const repo = tempRepo('autoglm-bench-');
writeModel(repo.dir, 'mlp', mlp.bytes);
writeModel(repo.dir, 'tiny', tiny);

// ---- processes ------------------------------------------------------------------------------------------------
const children: ChildProcess[] = [];
function startChild(argv: string[], portOf: (line: string) => number | undefined): Promise<number> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const p = portOf(line);
      if (p !== undefined) resolve(p);
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
}
function cleanup(): void {
  for (const c of children) c.kill('SIGTERM');
  repo.remove();
}

const BARE_SERVER = `
const http = require('node:http');
const body = Buffer.from(process.argv[1]);
const s = http.createServer({ keepAlive: true }, (req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length }); res.end(body); });
});
s.keepAliveTimeout = 65000;
s.listen(0, '127.0.0.1', () => console.log('PORT ' + s.address().port));
`;

// ---- client ---------------------------------------------------------------------------------------------------
interface Prepared { readonly path: string; readonly body: Buffer; readonly headers: Record<string, string | number> }

function send(port: number, agent: Agent, p: Prepared): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: p.path, method: 'POST', agent, headers: p.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks)}`))));
    });
    req.on('error', reject);
    req.end(p.body);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median latency (ms) of n sequential requests on one keep-alive connection. */
async function latencyWindow(port: number, agent: Agent, p: Prepared, n: number): Promise<number> {
  const lat: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await send(port, agent, p);
    lat[i] = performance.now() - t;
  }
  return median(lat);
}

/** Requests per second over `ms` with `conc` requests always outstanding (closed loop). */
async function throughputWindow(port: number, agent: Agent, p: Prepared, conc: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (performance.now() < end) {
      await send(port, agent, p);
      done++;
    }
  }));
  return done / ((performance.now() - t0) / 1000);
}

function jsonRequest(path: string, value: unknown): Prepared {
  const body = Buffer.from(JSON.stringify(value));
  return { path, body, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } };
}

function binaryRequest(path: string, header: unknown, data: ArrayBufferView): Prepared {
  const h = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([h, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  return { path, body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'Inference-Header-Content-Length': h.length } };
}

const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

function summary(ratios: number[]): string {
  return `${median(ratios).toFixed(2)}× (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)}, ${ratios.length} pairs)`;
}

// ---- checks ---------------------------------------------------------------------------------------------------
function checkMlp(reply: Buffer, binary: boolean, want: Float32Array): void {
  let y: ArrayLike<number>;
  if (binary) {
    const hl = reply.length - OUT * 4;
    const copy = reply.subarray(hl);
    y = new Float32Array(copy.buffer.slice(copy.byteOffset, copy.byteOffset + copy.length));
  } else {
    y = (JSON.parse(reply.toString()) as { outputs: Array<{ data: number[] }> }).outputs[0].data;
  }
  for (let i = 0; i < OUT; i++) if (Math.abs(y[i] - want[i]) > 1e-4) throw new Error(`wrong answer at ${i}: ${y[i]} vs ${want[i]}`);
}

async function main(): Promise<void> {
  const serverPort = await startChild(
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', '0', '--http-address', '127.0.0.1', '--log-format', 'json'],
    (line) => {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      return rec.msg === 'HTTP server listening' ? rec.port : undefined;
    },
  );
  const x = seededFloats(IN, 42, 1);
  const want = mlp.reference(x, 1);
  const latJson = jsonRequest('/v2/models/mlp/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], data: [...x] }] });
  const latBin = binaryRequest('/v2/models/mlp/infer', {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], parameters: { binary_data_size: x.byteLength } }],
    parameters: { binary_data_output: true },
  }, x);

  // In-process baseline: the same model, the thread count the server gives its one instance.
  const session = await ort.InferenceSession.create(mlp.bytes, { intraOpNumThreads: availableParallelism() });
  const feeds = { input: new ort.Tensor('float32', x, [1, IN]) };
  const inProcess = async (n: number) => {
    const lat: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await session.run(feeds);
      lat[i] = performance.now() - t;
    }
    return median(lat);
  };
  const one = new Agent({ keepAlive: true, maxSockets: 1 });

  // Warm-up and answer checks.
  checkMlp(await send(serverPort, one, latJson), false, want);
  checkMlp(await send(serverPort, one, latBin), true, want);
  const out = (await session.run(feeds)).output.data as Float32Array;
  for (let i = 0; i < OUT; i++) if (Math.abs(out[i] - want[i]) > 1e-4) throw new Error('in-process answer is wrong');
  await latencyWindow(serverPort, one, latJson, 100);
  await latencyWindow(serverPort, one, latBin, 100);
  await inProcess(200);

  // The HTTP floor at concurrency 1, for reading (a): a bare server answering the mlp JSON reply's bytes.
  const mlpReply = await send(serverPort, one, latJson);
  const bareLatPort = await startChild(['-e', BARE_SERVER, mlpReply.toString()], (line) => (line.startsWith('PORT ') ? Number(line.slice(5)) : undefined));
  await latencyWindow(bareLatPort, one, latJson, 100);

  const jsonRatios: number[] = [];
  const binRatios: number[] = [];
  const absolute: string[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const base = await inProcess(LAT_N);
    const j = await latencyWindow(serverPort, one, latJson, LAT_N);
    const b = await latencyWindow(serverPort, one, latBin, LAT_N);
    const floor = await latencyWindow(bareLatPort, one, latJson, LAT_N);
    jsonRatios.push(j / base);
    binRatios.push(b / base);
    absolute.push(`session.run ${us(base)}, server JSON ${us(j)}, binary ${us(b)}; bare node:http ${us(floor)}`);
  }
  checkMlp(await send(serverPort, one, latJson), false, want);

  // (b) Throughput: tiny model vs the bare floor answering the server's reply bytes.
  const tinyReq = jsonRequest('/v2/models/tiny/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] });
  const reply = await send(serverPort, one, tinyReq);
  const parsed = JSON.parse(reply.toString()) as { outputs: Array<{ data: number[] }> };
  if (parsed.outputs[0].data.join() !== '2,4,6,8') throw new Error(`tiny model answered ${reply}`);
  const barePort = await startChild(['-e', BARE_SERVER, reply.toString()], (line) => (line.startsWith('PORT ') ? Number(line.slice(5)) : undefined));
  const many = new Agent({ keepAlive: true, maxSockets: CONC });
  await throughputWindow(serverPort, many, tinyReq, CONC, 500);
  await throughputWindow(barePort, many, tinyReq, CONC, 500);
  const tpRatios: number[] = [];
  const tpAbs: string[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const s = await throughputWindow(serverPort, many, tinyReq, CONC, TP_MS);
    const f = await throughputWindow(barePort, many, tinyReq, CONC, TP_MS);
    tpRatios.push(s / f);
    tpAbs.push(`server ${s.toFixed(0)} req/s, bare ${f.toFixed(0)} req/s`);
  }
  one.destroy();
  many.destroy();

  console.log(`HTTP overhead (node ${process.version}, ${availableParallelism()} cores shared by client and servers; reply ${reply.length} B)`);
  console.log(`(a) latency at concurrency 1, mlp ${IN}→32→${OUT}, server ÷ in-process session.run (median of ${LAT_N} per window):`);
  console.log(`    JSON   ${summary(jsonRatios)}`);
  console.log(`    binary ${summary(binRatios)}`);
  for (const a of absolute) console.log(`      ${a}`);
  console.log(`(b) throughput, tiny model, concurrency ${CONC}, server ÷ bare node:http with the same reply (${TP_MS} ms windows):`);
  console.log(`    ${summary(tpRatios)}`);
  for (const a of tpAbs) console.log(`      ${a}`);
}

main().then(cleanup, (err: unknown) => {
  cleanup();
  console.error(err);
  process.exitCode = 1;
});
