/**
 * What the batching scheduler records for one model version. src/metrics' ModelMetrics provides it under Triton's
 * names; the scheduler depends on this shape only (it imports nothing of src/metrics), and the server wires the two.
 */
import type { ErrorCode } from '../core/index.js';

export interface Counter { inc(by?: number): void }

/** Triton's failure reasons (the `reason` label of nv_inference_request_failure). */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

/**
 * The one map from an error's code to its failure reason, for every scheduler (batching, ensemble): refusals and
 * missed deadlines are REJECTED, a client that went away CANCELED, an internal error BACKEND, bad input OTHER.
 * A batch that a backend fails counts as BACKEND whatever its code (the batching scheduler says so itself).
 */
export function failureReasonOf(code: ErrorCode): FailureReason {
  switch (code) {
    case 'CANCELLED': return 'CANCELED';
    case 'QUEUE_FULL': case 'UNAVAILABLE': case 'DEADLINE_EXCEEDED': return 'REJECTED';
    case 'INTERNAL': return 'BACKEND';
    default: return 'OTHER';
  }
}
export interface Histogram { observe(value: number): void }

/** Per batch size, executions and their compute µs (the statistics extension's batch_stats). */
export interface BatchRecorder { record(batchSize: number, inputUs: number, inferUs: number, outputUs: number): void }

/** Per response index of decoupled requests (the statistics extension's response_stats; us: since the previous one). */
export interface ResponseRecorder {
  record(index: number, outcome: 'success' | 'fail' | 'empty_response' | 'cancel', us: number, inferUs?: number, outputUs?: number): void;
}

export interface SchedulerMetrics {
  readonly success: Counter;
  /** By Triton's failure reason. */
  readonly failure: Readonly<Record<FailureReason, Counter>>;
  /** Rows along the batch dimension, as Triton counts inferences. */
  readonly inferenceCount: Counter;
  /** Model executions (batches). */
  readonly execCount: Counter;
  /** Cumulative µs; a batch's compute counts once for each of its requests, as Triton counts it. */
  readonly requestDurationUs: Counter;
  /** Cumulative µs from arrival to answer of failed requests (0 for refusals at arrival). */
  readonly failureDurationUs: Counter;
  readonly queueDurationUs: Counter;
  readonly computeInputUs: Counter;
  readonly computeInferUs: Counter;
  readonly computeOutputUs: Counter;
  /** Read at scrape time: the scheduler sets the callback. */
  readonly pending: { collect: (() => number) | undefined };
  readonly requestLatencyUs: Histogram;
  readonly queueLatencyUs: Histogram;
  readonly batchSize: Histogram;
  readonly rejectedQueueFull: Counter;
  /** Answered at their deadline while queued / while their batch ran. */
  readonly deadlineExceeded: Counter;
  readonly deadlineExceededRunning: Counter;
  /** Batches run again after their instance's worker died under them. */
  readonly batchRetries: Counter;
  /** Each executed batch once, by its rows. */
  readonly batchStats: BatchRecorder;
  /** Decoupled models' responses, by index (absent: not recorded). */
  readonly responseStats?: ResponseRecorder;
}
