/**
 * The server-side view of a window: where a request's time went (queue vs compute), from the server's Prometheus
 * counters (Triton's names: nv_inference_queue_duration_us, nv_inference_compute_{input,infer,output}_duration_us,
 * nv_inference_request_success), read before and after the window and divided by the requests in between.
 */

import { httpGet } from './http-get.js';

/** Cumulative counters for one model (summed over versions unless one is named). */
export interface ServerCounters {
  readonly requestSuccess: number;
  readonly queueUs: number;
  readonly computeInputUs: number;
  readonly computeInferUs: number;
  readonly computeOutputUs: number;
  readonly requestUs: number;
  /** Batches executed (nv_inference_exec_count) and inferences (nv_inference_count), for the mean batch size. */
  readonly execCount: number;
  readonly inferenceCount: number;
}

/** Per-request means over a window, in microseconds. */
export interface ServerSplit {
  readonly requests: number;
  readonly queueUs: number;
  readonly computeInputUs: number;
  readonly computeInferUs: number;
  readonly computeOutputUs: number;
  /** Server-side total per request (nv_inference_request_duration_us). */
  readonly requestUs: number;
  /** Mean batch the server executed (inferences / executions); 0 when unknown. */
  readonly meanBatch: number;
}

const FIELDS: Record<string, keyof ServerCounters> = {
  nv_inference_request_success: 'requestSuccess',
  nv_inference_queue_duration_us: 'queueUs',
  nv_inference_compute_input_duration_us: 'computeInputUs',
  nv_inference_compute_infer_duration_us: 'computeInferUs',
  nv_inference_compute_output_duration_us: 'computeOutputUs',
  nv_inference_request_duration_us: 'requestUs',
  nv_inference_exec_count: 'execCount',
  nv_inference_count: 'inferenceCount',
};

/** One sample line of the Prometheus text format: `name{a="x",b="y"} value [timestamp]`. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parsePrometheusText(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]] = l[2].replace(/\\(["\\])/g, '$1').replace(/\\n/g, '\n');
      }
    }
    const value = Number(m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

export function countersFor(samples: readonly MetricSample[], model: string, version: string): ServerCounters | undefined {
  const acc: Record<keyof ServerCounters, number> = {
    requestSuccess: 0, queueUs: 0, computeInputUs: 0, computeInferUs: 0, computeOutputUs: 0, requestUs: 0, execCount: 0, inferenceCount: 0,
  };
  let found = false;
  for (const s of samples) {
    const field = FIELDS[s.name];
    if (!field || s.labels.model !== model || (version && s.labels.version !== version)) continue;
    acc[field] += s.value;
    found = true;
  }
  return found ? acc : undefined;
}

/** Reads the counters now; undefined when the endpoint does not answer or has no counters for the model. */
export async function scrapeCounters(metricsUrl: string, model: string, version: string): Promise<ServerCounters | undefined> {
  try {
    const res = await httpGet(metricsUrl, 2000);
    if (res.status !== 200) return undefined;
    return countersFor(parsePrometheusText(res.text), model, version);
  } catch {
    return undefined;
  }
}

/** Queue + compute (input, infer, output) per request: the time the server's own counters account for. */
export function serverSumUs(split: ServerSplit): number {
  return split.queueUs + split.computeInputUs + split.computeInferUs + split.computeOutputUs;
}

/**
 * 'other': the client's mean latency minus the server's queue + compute per request — network, HTTP handling and
 * (de)coding, which the server's counters do not see. Negative only if the two disagree about the windows.
 */
export function otherUs(clientMeanUs: number, split: ServerSplit): number {
  return clientMeanUs - serverSumUs(split);
}

export function splitBetween(before: ServerCounters, after: ServerCounters): ServerSplit | undefined {
  const n = after.requestSuccess - before.requestSuccess;
  if (!(n > 0)) return undefined;
  const per = (k: keyof ServerCounters) => (after[k] - before[k]) / n;
  const execs = after.execCount - before.execCount;
  return {
    requests: n,
    queueUs: per('queueUs'),
    computeInputUs: per('computeInputUs'),
    computeInferUs: per('computeInferUs'),
    computeOutputUs: per('computeOutputUs'),
    requestUs: per('requestUs'),
    meanBatch: execs > 0 ? (after.inferenceCount - before.inferenceCount) / execs : 0,
  };
}
