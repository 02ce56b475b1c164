/**
 * What the batching scheduler records for one model version. src/metrics' ModelMetrics provides it under Triton's
 * names; the scheduler depends on this shape only (it imports nothing of src/metrics), and the server wires the two.
 */
export interface Counter { inc(by?: number): void }
export interface Histogram { observe(value: number): void }

export interface SchedulerMetrics {
  readonly success: Counter;
  /** By Triton's failure reason. */
  readonly failure: Readonly<Record<'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER', Counter>>;
  /** Rows along the batch dimension, as Triton counts inferences. */
  readonly inferenceCount: Counter;
  /** Model executions (batches). */
  readonly execCount: Counter;
  /** Cumulative µs; a batch's compute counts once for each of its requests, as Triton counts it. */
  readonly requestDurationUs: Counter;
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
}
