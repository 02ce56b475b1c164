/** What a bench run produces: one result per load step, plus what was measured against what. Plain JSON data. */
import type { LatencySummary } from './latency-histogram.js';
import type { ServerSplit } from './server-metrics.js';

export interface StepResult {
  readonly mode: 'concurrency' | 'rate';
  /** Concurrency (closed loop) or offered requests/s (open loop). */
  readonly level: number;
  /** Successful requests per second over the reported windows. */
  readonly throughput: number;
  /** throughput × batch size. */
  readonly inferencesPerSec: number;
  /** Of successful requests; open loop: from each request's intended start. */
  readonly latency: LatencySummary;
  readonly ok: number;
  readonly errorCount: number;
  /** By kind: http_<status>, network_<kind>, wrong_answer. */
  readonly errors: Readonly<Record<string, number>>;
  /** Windows measured; the last three (or fewer) are the ones reported. */
  readonly windows: number;
  readonly windowThroughputs: readonly number[];
  /** Mean latency of each window, in order: rising values under open loop mean the queue is growing. */
  readonly windowMeanLatenciesUs: readonly number[];
  readonly stable: boolean;
  readonly measuredSeconds: number;
  /** Open loop: requests that waited for a free connection (client-side limit). */
  readonly waitedForConnection: number;
  /** Responses decoded and compared with the reference answer for their input set. */
  readonly answersChecked: number;
  /** Per-request server-side means from Prometheus; absent without --metrics-url or counters for the model. */
  readonly server?: ServerSplit;
  /** With `server`: mean latency − the server's queue + compute per request (network, HTTP, decoding); µs. */
  readonly otherUs?: number;
}

export interface BenchTarget {
  readonly url: string;
  readonly model: string;
  readonly version: string;
  /** Absent in reports of older versions: http. */
  readonly protocol?: 'http' | 'grpc';
  readonly protocolFormat: 'binary' | 'json';
  readonly batchSize: number;
  /** Input shapes sent, by name. */
  readonly inputShapes: Readonly<Record<string, readonly number[]>>;
  readonly requestBytes: number;
}

export interface BenchReport {
  readonly tool: 'autoglm bench';
  /** Names this run in comparisons (a chart series); default: model @ url. */
  readonly label?: string;
  readonly startedAt: string;
  readonly target: BenchTarget;
  readonly mode: 'concurrency' | 'rate';
  readonly distribution?: 'constant' | 'poisson';
  readonly measurementIntervalMs: number;
  readonly stabilityPercentage: number;
  readonly maxTrials: number;
  readonly steps: readonly StepResult[];
  /** CPUs the load generator could run on (Linux affinity list) and whether `--cpus` pinned it there. */
  readonly client?: { readonly cpus: string; readonly pinned: boolean };
  /** Free text shown under the title (e.g. "client and server share 2 cores"). */
  readonly note?: string;
}
