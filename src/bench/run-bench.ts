/**
 * A whole bench run: read the model's metadata, build and pre-encode the requests, check that the server accepts
 * one, then measure each load step in turn.
 */
import { InferenceError, elementCount } from '../core/index.js';
import { Http1Connection, type ConnectionTarget, type HttpResult } from './http1-connection.js';
import { ClosedLoopDriver, OpenLoopDriver, type ConnectionFactory, type LoadDriver } from './load-driver.js';
import { measureStep, type StepProgress } from './measure-step.js';
import { fetchGrpcModel, fetchModel, modelPath, type RemoteModel } from './model-metadata.js';
import { grpcConnectionFactory } from './grpc-connection.js';
import { encodeGrpcInferRequest, frameGrpcMessage } from './grpc-messages.js';
import type { BenchOptions } from './options.js';
import type { BenchReport, StepResult } from './report.js';
import { encodeInferBody, encodeInferRequest } from './request-body.js';
import { ResponseChecker, decodeInferResponse } from './response-check.js';
import { currentCpuList } from './cpu-affinity.js';
import { scrapeCounters } from './server-metrics.js';
import { synthesizeInputs } from './synthetic-inputs.js';

/** Distinct random input sets rotated through the load (answers are checked per set). */
const INPUT_SETS = 8;
/** Every 64th successful response is decoded and compared with its set's first answer. */
const CHECK_EVERY = 64;

export interface BenchHooks {
  readonly onProgress?: (p: StepProgress) => void;
  readonly onStep?: (step: StepResult) => void;
  /** Called once the target is known, before the first step. */
  readonly onStart?: (model: RemoteModel) => void;
}

/** host and port of an http:// (default port 80) or grpc:// (default 8001) URL. */
export function targetOf(url: string): ConnectionTarget {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (u.protocol === 'grpc:' ? 8001 : 80)) };
}

const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
/** gRPC call slots per HTTP/2 connection: under the 100 concurrent streams many servers allow by default. */
const SLOTS_PER_CHANNEL = 100;

function sendOnce(connect: ConnectionFactory, request: Buffer): Promise<HttpResult> {
  const conn = connect();
  return new Promise<HttpResult>((resolve) => conn.send(request, resolve)).finally(() => conn.close());
}

/** One request before the load: a server that refuses it would only produce a table of errors. */
async function probe(connect: ConnectionFactory, request: Buffer, url: string): Promise<void> {
  const r = await sendOnce(connect, request);
  if (r.status === 0) throw new InferenceError('UNAVAILABLE', `cannot reach ${url}: ${r.networkError}`);
  if (r.status !== 200) {
    const text = r.grpcStatus !== undefined ? `gRPC status ${r.grpcStatus}: ${r.grpcMessage}` : `HTTP ${r.status}: ${Buffer.concat(r.body as Buffer[]).toString('utf8').slice(0, 500)}`;
    throw new InferenceError('INVALID_ARGUMENT', `the server refused the first request (${text})`);
  }
  try {
    decodeInferResponse(r);
  } catch (err) {
    throw new InferenceError('INVALID_ARGUMENT', `the server's answer is not a v2 infer response: ${(err as Error).message}`);
  }
}

/** A target made ready for load: requests encoded, server probed. Steps can be measured in any order. */
export interface PreparedBench {
  readonly model: RemoteModel;
  measure(level: number, onProgress?: (p: StepProgress) => void): Promise<StepResult>;
  /** The report for steps measured with this preparation. */
  report(steps: readonly StepResult[], label?: string): BenchReport;
}

export async function prepareBench(options: BenchOptions): Promise<PreparedBench> {
  const startedAt = new Date().toISOString();
  const target = targetOf(options.url);
  const grpc = options.protocol === 'grpc';
  const model = grpc ? await fetchGrpcModel(target, options.model, options.modelVersion) : await fetchModel(options.url, options.model, options.modelVersion);
  const sets = synthesizeInputs(model, options, INPUT_SETS);
  const path = `${modelPath(options.model, options.modelVersion)}/infer`;
  const requests = grpc
    ? sets.map((inputs) => frameGrpcMessage(encodeGrpcInferRequest(options.model, options.modelVersion, inputs)))
    : sets.map((inputs) => encodeInferRequest(options.url, path, encodeInferBody(inputs, options.protocolFormat)));
  /** Connections for `slots` requests in flight: HTTP/1.1 connections, or gRPC call slots over a few HTTP/2 ones. */
  const connections = (slots: number): ConnectionFactory | ConnectionTarget =>
    (grpc ? grpcConnectionFactory(target, MODEL_INFER, Math.ceil(slots / SLOTS_PER_CHANNEL)) : target);
  await probe(grpc ? grpcConnectionFactory(target, MODEL_INFER) : () => new Http1Connection(target), requests[0], options.url);

  const checker = new ResponseChecker(requests.length, CHECK_EVERY);
  const scrape = options.metricsUrl
    ? () => scrapeCounters(options.metricsUrl, model.name, options.modelVersion)
    : undefined;
  const cpus = currentCpuList() ?? options.cpus;
  const client = cpus ? { cpus, pinned: options.cpus !== '' } : undefined;
  const inputShapes: Record<string, readonly number[]> = {};
  for (const t of sets[0]) inputShapes[t.name] = t.shape;

  return {
    model,
    async measure(level, onProgress) {
      const driver: LoadDriver = options.load.mode === 'concurrency'
        ? new ClosedLoopDriver(connections(level), requests, level)
        : new OpenLoopDriver(connections(options.maxConnections), requests, level, options.load.distribution, options.maxConnections);
      try {
        return await measureStep(driver, {
          mode: options.load.mode,
          level,
          batchSize: options.batchSize,
          warmupMs: options.warmupMs,
          intervalMs: options.measurementIntervalMs,
          stabilityPercentage: options.stabilityPercentage,
          maxTrials: options.maxTrials,
        }, { scrape, onProgress, checker });
      } finally {
        await driver.stop(Math.max(2000, options.measurementIntervalMs));
      }
    },
    report(steps, label) {
      return {
        tool: 'autoglm bench',
        ...(label ? { label } : {}),
        startedAt,
        target: {
          url: options.url,
          model: options.model,
          version: options.modelVersion,
          protocol: options.protocol,
          protocolFormat: options.protocolFormat,
          batchSize: options.batchSize,
          inputShapes,
          requestBytes: requests[0].length,
        },
        mode: options.load.mode,
        ...(options.load.mode === 'rate' ? { distribution: options.load.distribution } : {}),
        measurementIntervalMs: options.measurementIntervalMs,
        stabilityPercentage: options.stabilityPercentage,
        maxTrials: options.maxTrials,
        steps,
        ...(client ? { client } : {}),
        note: `elements per request: ${sets[0].reduce((n, t) => n + elementCount(t.shape), 0)}`,
      };
    },
  };
}

export async function runBench(options: BenchOptions, hooks: BenchHooks = {}): Promise<BenchReport> {
  const bench = await prepareBench(options);
  hooks.onStart?.(bench.model);
  const steps: StepResult[] = [];
  for (const level of options.load.levels) {
    const step = await bench.measure(level, hooks.onProgress);
    steps.push(step);
    hooks.onStep?.(step);
  }
  return bench.report(steps);
}
