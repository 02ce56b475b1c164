import { InferenceError } from '../core/index.js';
import { type BatchPolicy, isDispatch } from './batch-policy.js';
import { RequestQueue, type TimeoutAction } from './request-queue.js';
import { type BatchableEntry, formBatch, queueState } from './form-batch.js';
import { type Drain, LevelTraffic } from './level-traffic.js';
import { type QueueConfig, levelOf, timeoutOf } from './queue-config.js';

/** Predicted times (compute, and the wait admission predicts) are stretched by this much wherever a deadline depends on them. */
export const DEADLINE_MARGIN = 1.25;

export interface DispatcherOptions {
  readonly policy: BatchPolicy;
  readonly queue: QueueConfig;
  /** Rows per batch at most; 0 = the model does not batch (one request per batch). */
  readonly maxBatchSize: number;
  /** Requests waiting in a level and the levels above it together, at most (0 or absent: no bound). */
  readonly maxQueueSize?: number;
  /** Instances in all (busy or not). */
  readonly instances: number;
  /** The model's name, for refusal messages. */
  readonly model: string;
  /**
   * The model's latency target (latency_target_us), µs: every request's deadline is at most this long after it
   * arrived, refused and expired as a REJECT timeout is, whatever its level's timeout policy (docs/overload.md).
   */
  readonly latencyBoundUs?: number;
}

/** A batch to run now: whole requests, in dispatch order, and their rows. */
export interface Batch<T> {
  readonly entries: T[];
  readonly rows: number;
}

/**
 * The batching scheduler's decisions, as a pure function of its state and the clock: admission control (queue bounds,
 * predicted wait against the deadline), deadline expiry, the BatchPolicy's call, and forming the batch. No timers,
 * no promises, no instances, no clock of its own: every method takes `now` (µs, one monotonic clock), and the caller
 * acts on what it returns — the server's BatchingScheduler with real time and instances, the simulation in
 * test/scheduler with a virtual clock. Entries are the caller's objects (T), queued and handed back as they are.
 *
 * Ownership: an entry admitted here stays queued until `next` hands it back (in a batch, or as expired: the caller
 * then answers it DEADLINE_EXCEEDED) or the caller removes it (`remove`, on cancellation).
 */
export class Dispatcher<T extends BatchableEntry> {
  readonly policy: BatchPolicy;
  /** Rows per batch at most (1 when the model does not batch). */
  readonly maxRows: number;
  private readonly queue: RequestQueue<T>;
  private readonly traffic: LevelTraffic;
  private readonly drained: Drain = { rowsPerUs: 0, batchRows: 0 };
  private seq = 0;
  /** The time of the batch being formed, for `fits`. */
  private formingAtUs = 0;

  constructor(private readonly o: DispatcherOptions) {
    this.policy = o.policy;
    this.maxRows = Math.max(1, o.maxBatchSize);
    this.queue = new RequestQueue<T>(o.queue.levels.map((l) => l.maxQueueSize), o.maxQueueSize ?? 0);
    this.traffic = new LevelTraffic(o.queue.levels.length, this.maxRows, (rows) => o.policy.predictComputeUs(rows));
  }

  /** Priority levels (0-based levels 0 … levels − 1; level 0 is Triton's priority 1). */
  get levels(): number {
    return this.o.queue.levels.length;
  }

  /** Requests waiting. */
  get size(): number {
    return this.queue.size;
  }

  /** The 0-based level of a request's priority (Triton's rule: 0, absent or past the last level → the default). */
  levelOf(priority?: number): number {
    return levelOf(this.o.queue, priority);
  }

  /**
   * A request's deadline (µs; Infinity = none): its level's timeout, or its own `timeoutUs` where the level allows
   * overriding (only to shorten it), counted from when the frontend received it (`receivedUs`; time spent before the
   * scheduler counts too), or from `now` when that is unknown or later.
   */
  deadlineOf(level: number, timeoutUs: number | undefined, receivedUs: number | undefined, now: number): number {
    const t = timeoutOf(this.o.queue.levels[level], timeoutUs);
    const from = Math.min(now, receivedUs ?? now);
    const bound = this.o.latencyBoundUs;
    const own = t > 0 ? from + t : Infinity;
    return bound !== undefined && bound > 0 ? Math.min(own, from + bound) : own;
  }

  /**
   * What a request at `level` does when its deadline comes: its level's timeout_action, except that a model with a
   * latency bound always rejects (its deadline may be the bound's, which has no DELAY).
   */
  timeoutActionOf(level: number): TimeoutAction {
    return this.o.latencyBoundUs !== undefined && this.o.latencyBoundUs > 0 ? 'REJECT' : this.o.queue.levels[level].timeoutAction;
  }

  /**
   * The refusal `admit` would give a request of `rows` rows at `level` with this deadline now — QUEUE_FULL with
   * retryAfterSec — or undefined. Changes nothing (no queue push, no traffic observed, no cache refreshed), so the
   * server can ask before decoding a request's tensors.
   */
  probe(level: number, rows: number, deadlineUs: number, now: number): InferenceError | undefined {
    return this.check(level, rows, deadlineUs, now, false, this.timeoutActionOf(level) === 'REJECT');
  }

  /**
   * Admits `e` (arrived now): queues it, numbers it (`seq`: ties in deadline go in admission order) and lets the
   * traffic estimates and the policy observe it — or returns its refusal (as `probe`) and changes nothing else.
   */
  admit(e: T, now: number): InferenceError | undefined {
    const refusal = this.check(e.level, e.rows, e.deadlineUs, now, true, e.timeoutAction === 'REJECT');
    if (refusal) return refusal;
    this.traffic.observe(e.level, e.rows, now);
    e.seq = this.seq++;
    this.queue.push(e);
    this.policy.observeArrival(e.rows, now);
    return undefined;
  }

  /** Takes `e` out of the queue (its client went away); false when it is not queued (running, or answered). */
  remove(e: T): boolean {
    return this.queue.remove(e);
  }

  /**
   * Every queued request whose deadline is ≤ limitUs: REJECT ones leave the queue and are appended to `out` (the
   * caller answers them DEADLINE_EXCEEDED); DELAY ones move behind their level (Triton's timeout_action DELAY).
   */
  expire(limitUs: number, out: T[]): void {
    this.queue.expire(limitUs, out);
  }

  /**
   * What to do now with `idleInstances` free: a batch to run on one of them, or the time to call again (Infinity:
   * nothing to wait for — the next arrival or finished batch calls again). Requests that can no longer finish by
   * their deadline are appended to `expired` first (the caller answers them DEADLINE_EXCEEDED at once): those whose
   * deadline is closer than one batch of one row, and, before a batch of n rows forms, those that could not finish
   * even in it. Call again after running a batch while instances stay idle; the time returned is the policy's
   * wake-up or the next such deadline check, whichever is first.
   */
  next(now: number, idleInstances: number, expired: T[]): Batch<T> | number {
    const slack = DEADLINE_MARGIN * this.policy.predictComputeUs(1);
    this.queue.expire(now + slack, expired);
    let wakeUs = Infinity;
    if (idleInstances > 0 && this.queue.size > 0) {
      const d = this.policy.decide(queueState(this.queue, this.maxRows, idleInstances, this.o.instances), now);
      if (isDispatch(d)) {
        const batch = this.form(d.dispatch, now, expired);
        if (batch) return batch;
      } else {
        wakeUs = d.waitUntil > now ? d.waitUntil : now + 1;
      }
    }
    return this.queue.size === 0 ? Infinity : Math.min(wakeUs, this.queue.nextDeadlineUs() - slack);
  }

  /** A batch of `rows` rows computed in `computeUs` (the instance's own time, not queueing): the policy learns t(b). */
  observeBatch(rows: number, computeUs: number): void {
    this.policy.observeBatch(rows, computeUs);
  }

  /** Admission: the queue's bounds, then (REJECT levels with a deadline) the predicted finish against the deadline. */
  private check(level: number, rows: number, deadlineUs: number, now: number, remember: boolean, rejects: boolean): InferenceError | undefined {
    const q = this.queue;
    const { rowsPerUs, batchRows } = this.traffic.drain(level, q.peek()?.level ?? this.traffic.levels,
      this.policy.backlogBatchRows(), this.o.instances, now, (deadlineUs - now) / DEADLINE_MARGIN, this.drained, remember);
    const ahead = q.rowsAtOrAbove(level);
    const waitUs = rowsPerUs > 0 ? ahead / rowsPerUs : 0; // until its batch starts
    if (!q.canAdmit(level)) return this.refusal(`queue of model '${this.o.model}' is full`, waitUs, rows, rowsPerUs);
    if (!rejects || deadlineUs === Infinity || !(rowsPerUs > 0)) return undefined;
    const batchUs = this.policy.predictComputeUs(Math.max(rows, Math.min(batchRows, ahead + rows)));
    if (now + DEADLINE_MARGIN * (waitUs + batchUs) <= deadlineUs) return undefined;
    return this.refusal(`model '${this.o.model}': predicted wait ${(waitUs / 1000).toFixed(1)} ms exceeds the request's deadline`,
      waitUs, rows, rowsPerUs);
  }

  /** QUEUE_FULL; retry after the predicted drain time of what is ahead and the request itself, at least 1 s. */
  private refusal(message: string, waitUs: number, rows: number, rowsPerUs: number): InferenceError {
    const retryAfterSec = Math.max(1, Math.ceil((waitUs + (rowsPerUs > 0 ? rows / rowsPerUs : 0)) / 1e6));
    return new InferenceError('QUEUE_FULL', message, { retryAfterSec });
  }

  /** Forms the batch of a decision to dispatch `decided` rows; undefined when expiry emptied the queue. */
  private form(decided: number, now: number, expired: T[]): Batch<T> | undefined {
    let limit = this.limit(decided, now);
    // Under overload, a request that could only finish in time in a batch smaller than this one would shrink
    // every batch (EDF's domino effect): answer it now instead, and run this batch at full size.
    if (limit > 1) {
      this.queue.expire(now + DEADLINE_MARGIN * this.policy.predictComputeUs(limit), expired);
      if (this.queue.size === 0) return undefined;
      limit = this.limit(decided, now);
    }
    const entries: T[] = [];
    this.formingAtUs = now;
    const rows = formBatch(this.queue, limit, entries, this.fits);
    return { entries, rows };
  }

  /** Rows the batch may take: the decided rows less what the priority budget holds back (LevelTraffic.batchRows). */
  private limit(decided: number, now: number): number {
    return this.o.maxBatchSize > 0 ? this.traffic.batchRows(decided, this.queue.peek()!, this.rowsAtOrAbove, now) : 1;
  }

  private readonly rowsAtOrAbove = (level: number): number => this.queue.rowsAtOrAbove(level);

  /** Whether a batch of `rows` started now is predicted to finish by `earliestDeadlineUs`. */
  private readonly fits = (rows: number, earliestDeadlineUs: number): boolean =>
    earliestDeadlineUs === Infinity || this.formingAtUs + DEADLINE_MARGIN * this.policy.predictComputeUs(rows) <= earliestDeadlineUs;
}
