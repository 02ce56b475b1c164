/**
 * Shared pieces of the batching benchmarks (bench/batching-*.ts): a repository of one model under several batching
 * configs, `autoglm serve` in its own process, closed- and open-loop windows over pre-encoded binary requests with
 * answers checked against in-process results, and in-process `session.run` throughput.
 * The load client runs on the same machine and shares its cores with the server: say so next to every figure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ClosedLoopDriver, OpenLoopDriver, type LoadDriver } from '../src/bench/load-driver.js';
import { MeasurementWindow, type CompletionSink } from '../src/bench/measurement-window.js';
import { encodeRequest, type HttpResult } from '../src/bench/http1-connection.js';
import { decodeInferResponse } from '../src/bench/response-check.js';
import { targetOf } from '../src/bench/run-bench.js';
import { seededFloats } from '../test/fixtures/models.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
export const fmtRatio = (xs: readonly number[]) =>
  `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}, ${xs.length} pairs)`;

/** config.pbtxt of a [batch, inDim] → [batch, outDim] FP32 model with extra lines (dynamic_batching, parameters). */
export function pbtxt(name: string, maxBatch: number, inDim: number, outDim: number, extra = ''): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: ${maxBatch}
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${inDim} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${outDim} ] } ]
${extra}
`;
}

export const policyParam = (p: string) => `parameters { key: "batching_policy" value { string_value: "${p}" } }`;

/** A temporary repository with the same model bytes under several names/configs. */
export function makeRepo(bytes: Uint8Array, configs: Record<string, string>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-batching-'));
  for (const [name, config] of Object.entries(configs)) {
    mkdirSync(join(dir, name, '1'), { recursive: true });
    writeFileSync(join(dir, name, '1', 'model.onnx'), bytes);
    writeFileSync(join(dir, name, 'config.pbtxt'), config);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Pre-encoded binary v2 requests of `rows` rows, `sets` distinct inputs; `parameters` go in the request header. */
export function binaryRequests(url: string, model: string, inDim: number, sets: number, parameters: Record<string, number> = {}, rows = 1): { requests: Buffer[]; inputs: Float32Array[] } {
  const u = new URL(url);
  const requests: Buffer[] = [];
  const inputs: Float32Array[] = [];
  for (let s = 0; s < sets; s++) {
    const x = seededFloats(rows * inDim, 1000 + s, 1);
    inputs.push(x);
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, inDim], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
      parameters,
    }));
    requests.push(encodeRequest('POST', u.host, `/v2/models/${model}/infer`,
      { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
      Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)])));
  }
  return { requests, inputs };
}

/** Checks every `every`-th successful answer against the expected output of its input set. */
export class AnswerCheck implements CompletionSink {
  checked = 0;
  wrong = 0;
  private n = 0;
  constructor(private readonly inner: CompletionSink, private readonly expected: readonly Float32Array[], private readonly every = 16) {}
  complete(set: number, latencyUs: number, result: HttpResult, sendLagUs: number): void {
    if (result.status === 200 && this.n++ % this.every === 0) {
      this.checked++;
      const got = decodeInferResponse(result).get('output')?.values as number[] | undefined;
      const want = this.expected[set];
      let ok = !!got && got.length === want.length;
      for (let i = 0; ok && i < want.length; i++) ok = Math.abs(got![i] - want[i]) <= 1e-3 * (1 + Math.abs(want[i]));
      if (!ok) {
        this.wrong++;
        this.inner.complete(set, latencyUs, { ...result, status: 599 }, sendLagUs);
        return;
      }
    }
    this.inner.complete(set, latencyUs, result, sendLagUs);
  }
}

export interface WindowResult {
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ok: number;
  readonly errors: string;
}

async function measure(driver: LoadDriver, expected: readonly Float32Array[], warmMs: number, ms: number, check: { wrong: number }): Promise<WindowResult> {
  await sleep(warmMs);
  const w = new MeasurementWindow(undefined);
  const checker = new AnswerCheck(w, expected);
  driver.sink = checker;
  await sleep(ms);
  w.close();
  await driver.stop(5000);
  check.wrong += checker.wrong;
  const s = w.latency.summary();
  return {
    throughput: w.throughput, p50Ms: s.p50Us / 1000, p99Ms: s.p99Us / 1000, ok: w.ok,
    errors: [...w.errors].map(([k, v]) => `${k}:${v}`).join(' '),
  };
}

export function closedLoop(url: string, requests: Buffer[], expected: readonly Float32Array[], concurrency: number, warmMs: number, ms: number, check: { wrong: number }): Promise<WindowResult> {
  return measure(new ClosedLoopDriver(targetOf(url), requests, concurrency), expected, warmMs, ms, check);
}

/** Poisson arrivals at `rate`/s; latency counts from each request's intended send time. */
export function openLoop(url: string, requests: Buffer[], expected: readonly Float32Array[], rate: number, warmMs: number, ms: number, check: { wrong: number }, maxConnections = 512): Promise<WindowResult> {
  return measure(new OpenLoopDriver(targetOf(url), requests, rate, 'poisson', maxConnections), expected, warmMs, ms, check);
}

/** In-process `session.run` rows/s at batch `b` over `ms` (after one warm run). */
export async function sessionThroughput(session: ort.InferenceSession, inDim: number, b: number, ms: number): Promise<number> {
  const x = new ort.Tensor('float32', seededFloats(b * inDim, 7, 1), [b, inDim]);
  await session.run({ input: x });
  const t0 = performance.now();
  let rows = 0;
  while (performance.now() - t0 < ms) {
    await session.run({ input: x });
    rows += b;
  }
  return rows / ((performance.now() - t0) / 1000);
}

/** Expected outputs of the request sets, computed in-process in one batch. */
export async function expectedOutputs(session: ort.InferenceSession, inputs: readonly Float32Array[], inDim: number): Promise<Float32Array[]> {
  const total = inputs.reduce((n, x) => n + x.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const x of inputs) { all.set(x, at); at += x.length; }
  const rows = total / inDim;
  const out = (await session.run({ input: new ort.Tensor('float32', all, [rows, inDim]) })).output.data as Float32Array;
  const outDim = out.length / rows;
  at = 0;
  return inputs.map((x) => {
    const n = (x.length / inDim) * outDim;
    const y = out.slice(at, at + n);
    at += n;
    return y;
  });
}
