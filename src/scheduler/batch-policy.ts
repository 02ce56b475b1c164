/**
 * A batch policy decides, each time an instance is free and requests wait, whether to dispatch a batch now (and how
 * many rows) or wait until a later time. Policies are pure decision code: no timers, no clocks, no I/O — the scheduler
 * (or the simulation harness in test/scheduler) feeds them the queue's state, the time, and what it observed.
 * Times are microseconds on one monotonic clock; sizes are rows along the batch dimension.
 */

/** What a policy sees of the queue when deciding. */
export interface QueueState {
  /** Rows waiting that the next batch could take (already capped at max_batch_size). */
  readonly queuedRows: number;
  /** Rows waiting in all (not capped at max_batch_size). */
  readonly backlogRows: number;
  /** Rows of the request at the head of the queue (a batch takes whole requests; at least this many). */
  readonly headRows: number;
  /** Arrival time of the oldest waiting request. */
  readonly oldestArrivalUs: number;
  /** Earliest deadline among waiting requests (Infinity when none has one). */
  readonly earliestDeadlineUs: number;
  /** Instances free now (≥ 1 when decide is called) and in all. */
  readonly idleInstances: number;
  readonly instances: number;
}

/** Dispatch up to `dispatch` rows now, or decide again at `waitUntil` (or sooner, on an arrival). */
export type BatchDecision = { readonly dispatch: number } | { readonly waitUntil: number };

export interface BatchPolicy {
  /** 'static' | 'adaptive' (shown in logs and metrics). */
  readonly name: string;
  /** Called only when queuedRows > 0 and an instance is idle. */
  decide(q: QueueState, nowUs: number): BatchDecision;
  /** A request of `rows` rows arrived. */
  observeArrival(rows: number, nowUs: number): void;
  /** A batch of `rows` rows computed in `computeUs` (the instance's own infer time, not queueing). */
  observeBatch(rows: number, computeUs: number): void;
  /** Predicted compute time of a batch of `rows` rows (0 when nothing is known yet). */
  predictComputeUs(rows: number): number;
  /** Rows of the batches a backlog is dispatched in (the policy's largest batch now). */
  backlogBatchRows(): number;
}

export const isDispatch = (d: BatchDecision): d is { readonly dispatch: number } => 'dispatch' in d;
