import { performance } from 'node:perf_hooks';
import {
  InferenceError, type InferenceRequest, type InferenceResponse, type Tensor, invalidArgument, toInferenceError,
} from '../core/index.js';
import { type ExecuteResult, type ModelInstance, InstanceDiedError } from '../backends/backend.js';
import { type FailureReason, type SchedulerMetrics, failureReasonOf } from './scheduler-metrics.js';
import type { Scheduler, SchedulerModel } from './scheduler.js';
import { type BatchPolicy, isDispatch } from './batch-policy.js';
import { RequestQueue } from './request-queue.js';
import { type BatchableEntry, formBatch, queueState } from './form-batch.js';
import { BatchBufferPool, concatInputs, rowsOf, shapeKeyOf, splitOutputs } from './batch-assembly.js';
import { type QueueConfig, levelOf, timeoutOf } from './queue-config.js';
import { ResponseOrder } from './response-order.js';
import { LevelTraffic } from './level-traffic.js';
import { warmUpInputs } from './warm-up.js';

export interface BatchingOptions {
  readonly policy: BatchPolicy;
  readonly queue: QueueConfig;
  /** Rows per batch at most; 0 = the model does not batch (one request per execution, tensors as they are). */
  readonly maxBatchSize: number;
  readonly preserveOrdering?: boolean;
  /** Requests waiting in all levels together, at most. */
  readonly maxQueueSize?: number;
  readonly metrics?: SchedulerMetrics;
  /** Batch sizes `warmUp()` runs (empty: none). */
  readonly warmUpSizes?: readonly number[];
  /** Monotonic microseconds (tests may pass their own). */
  readonly clockUs?: () => number;
}

interface Entry extends BatchableEntry {
  readonly request: InferenceRequest;
  readonly resolve: (r: InferenceResponse) => void;
  readonly reject: (e: unknown) => void;
  onAbort: (() => void) | undefined;
  /** Answered already (a running request can be answered DEADLINE_EXCEEDED before its batch ends). */
  settled: boolean;
}

interface Slot {
  readonly instance: ModelInstance;
  readonly pool: BatchBufferPool;
}

const defaultClock = (): number => performance.now() * 1000;

/** Warm-ups of all models in the process run one after another (see warmUp). */
let warmUpChain: Promise<void> = Promise.resolve();

/** Warm-up stops starting larger sizes once it has spent this long on one instance. */
const WARM_UP_BUDGET_MS = 1000;

/** Predicted times (compute, and the wait admission predicts) are stretched by this much wherever a deadline depends on them. */
const DEADLINE_MARGIN = 1.25;

/**
 * The batching scheduler: a bounded priority/EDF queue, a BatchPolicy deciding when to dispatch, and a pool of
 * instances each running one batch at a time. Event-driven: it acts on enqueue, on batch completion and on one
 * timer (the policy's wake-up time or the next deadline, whichever is first) — no polling.
 *
 * Ownership (see Scheduler): every admitted request settles exactly once — with its outputs, DEADLINE_EXCEEDED when
 * it can no longer finish by its deadline (answered at once, by the timer), CANCELLED when its signal aborts while
 * queued, or its batch's backend error. Refusals at admission (QUEUE_FULL) carry retryAfterSec.
 */
export class BatchingScheduler implements Scheduler {
  private readonly queue: RequestQueue<Entry>;
  private readonly idle: Slot[];
  private readonly instanceCount: number;
  private readonly maxRows: number;
  private readonly allOutputs: readonly string[];
  private readonly clock: () => number;
  private readonly order: ResponseOrder | undefined;
  private readonly m: SchedulerMetrics | undefined;
  private readonly dead: Entry[] = [];
  private seq = 0;
  private readonly traffic: LevelTraffic;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAtUs = Infinity;
  private pumping = false;
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly model: SchedulerModel, private readonly o: BatchingOptions) {
    this.queue = new RequestQueue<Entry>(o.queue.levels.map((l) => l.maxQueueSize), o.maxQueueSize ?? 0);
    this.idle = model.instances.map((instance) => ({ instance, pool: new BatchBufferPool() }));
    this.instanceCount = model.instances.length;
    this.maxRows = Math.max(1, o.maxBatchSize);
    this.allOutputs = model.config.output.map((t) => t.name);
    this.clock = o.clockUs ?? defaultClock;
    this.order = o.preserveOrdering ? new ResponseOrder() : undefined;
    this.m = o.metrics;
    this.traffic = new LevelTraffic(o.queue.levels.length, this.maxRows, (rows) => o.policy.predictComputeUs(rows));
    if (this.m) this.m.pending.collect = () => this.queue.size;
  }

  get pendingCount(): number {
    return this.queue.size;
  }

  get policy(): BatchPolicy {
    return this.o.policy;
  }

  enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    const now = this.clock();
    try {
      if (this.draining) throw new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
      if (request.signal?.aborted) throw new InferenceError('CANCELLED', 'client disconnected before the request ran');
      const rows = this.o.maxBatchSize > 0 ? rowsOf(request) : 1;
      if (rows < 1 || rows > this.maxRows) {
        throw invalidArgument(`batch dimension ${rows} is outside 1..${this.maxRows} (max_batch_size of model '${this.model.model}')`);
      }
      const level = levelOf(this.o.queue, request);
      const lp = this.o.queue.levels[level];
      const timeoutUs = timeoutOf(lp, request);
      // The timeout counts from when the frontend received the request (time spent before enqueue counts too).
      const deadlineUs = timeoutUs > 0 ? Math.min(now, request.receivedUs ?? now) + timeoutUs : Infinity;
      this.admit(level, rows, now, deadlineUs, lp.timeoutAction === 'REJECT');
      this.traffic.observe(level, rows, now);
      return new Promise<InferenceResponse>((resolve, reject) => {
        const e: Entry = {
          request, resolve, reject, rows, level, arrivalUs: now, deadlineUs, timeoutAction: lp.timeoutAction,
          seq: this.seq++, heapIndex: -1, where: 'out', shapeKey: this.o.maxBatchSize > 0 ? shapeKeyOf(request) : '',
          onAbort: undefined, settled: false,
        };
        this.order?.admit(e.seq);
        if (request.signal) {
          e.onAbort = () => {
            if (!this.queue.remove(e)) return;
            this.fail(e, new InferenceError('CANCELLED', 'client disconnected before the request ran'), 'CANCELED');
            this.pump();
          };
          request.signal.addEventListener('abort', e.onAbort, { once: true });
        }
        this.queue.push(e);
        this.o.policy.observeArrival(rows, now);
        this.pump();
      });
    } catch (err) {
      this.m?.failure[failureReasonOf(err instanceof InferenceError ? err.code : 'INTERNAL')].inc();
      return Promise.reject(err);
    }
  }

  probe(p: { priority?: number; timeoutUs?: number; receivedUs?: number; rows?: number; latencyBoundUs?: number }): InferenceError | undefined {
    if (this.draining) return new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
    const now = this.clock();
    const level = levelOf(this.o.queue, { priority: p.priority } as InferenceRequest);
    const lp = this.o.queue.levels[level];
    const t = timeoutOf(lp, { timeoutUs: p.timeoutUs } as InferenceRequest);
    const from = Math.min(now, p.receivedUs ?? now);
    let deadlineUs = t > 0 ? from + t : Infinity;
    let reject = lp.timeoutAction === 'REJECT';
    if (p.latencyBoundUs !== undefined && p.latencyBoundUs > 0) {
      deadlineUs = Math.min(deadlineUs, from + p.latencyBoundUs);
      reject = true;
    }
    try {
      this.admit(level, Math.max(1, p.rows ?? 1), now, deadlineUs, reject);
      return undefined;
    } catch (err) {
      return err as InferenceError;
    }
  }

  /** Throws QUEUE_FULL when the queue (or the level) is full, or the predicted wait already passes the deadline. */
  private admit(level: number, rows: number, now: number, deadlineUs: number, rejectsOnTimeout: boolean): void {
    const headLevel = this.queue.peek()?.level ?? this.traffic.levels;
    const { rowsPerUs, batchRows } = this.traffic.drain(
      level, headLevel, this.o.policy.backlogBatchRows(), this.instanceCount, now, (deadlineUs - now) / DEADLINE_MARGIN);
    const ahead = this.queue.rowsAtOrAbove(level);
    const waitUs = rowsPerUs > 0 ? ahead / rowsPerUs : 0; // until its batch starts
    const retryAfterSec = Math.max(1, Math.ceil((waitUs + (rowsPerUs > 0 ? rows / rowsPerUs : 0)) / 1e6));
    const batchUs = this.o.policy.predictComputeUs(Math.max(rows, Math.min(batchRows, ahead + rows)));
    if (!this.queue.canAdmit(level)) {
      this.m?.rejectedQueueFull.inc();
      throw new InferenceError('QUEUE_FULL', `queue of model '${this.model.model}' is full`, { retryAfterSec });
    }
    if (rejectsOnTimeout && deadlineUs !== Infinity && rowsPerUs > 0 &&
      now + DEADLINE_MARGIN * (waitUs + batchUs) > deadlineUs) {
      this.m?.rejectedQueueFull.inc();
      throw new InferenceError('QUEUE_FULL',
        `model '${this.model.model}': predicted wait ${(waitUs / 1000).toFixed(1)} ms exceeds the request's timeout`, { retryAfterSec });
    }
  }

  /** Answers DEADLINE_EXCEEDED, at once, every queued REJECT request whose deadline is ≤ limitUs. */
  private expire(limitUs: number): void {
    this.dead.length = 0;
    this.queue.expire(limitUs, this.dead);
    for (const e of this.dead) {
      this.m?.deadlineExceeded.inc();
      this.fail(e, new InferenceError('DEADLINE_EXCEEDED',
        `request to model '${this.model.model}' could not run before its timeout (${((e.deadlineUs - Math.min(e.arrivalUs, e.request.receivedUs ?? e.arrivalUs)) / 1000).toFixed(1)} ms from when the server received it)`), 'REJECTED');
    }
  }

  private readonly rowsAtOrAbove = (level: number): number => this.queue.rowsAtOrAbove(level);

  /** Whether a batch of `rows` started now is predicted to finish by `earliestDeadlineUs`. */
  private readonly fits = (rows: number, earliestDeadlineUs: number): boolean =>
    earliestDeadlineUs === Infinity || this.clock() + DEADLINE_MARGIN * this.o.policy.predictComputeUs(rows) <= earliestDeadlineUs;

  /** Expire, decide, dispatch, re-arm the timer. Re-entrant calls (from settling promises) are folded in. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const now = this.clock();
      const slack = DEADLINE_MARGIN * this.o.policy.predictComputeUs(1);
      this.expire(now + slack);
      let wakeUs = Infinity;
      while (this.idle.length > 0 && this.queue.size > 0) {
        const d = this.o.policy.decide(queueState(this.queue, this.maxRows, this.idle.length, this.instanceCount), now);
        if (!isDispatch(d)) {
          wakeUs = d.waitUntil > now ? d.waitUntil : now + 1;
          break;
        }
        let limit = this.o.maxBatchSize > 0 ? this.traffic.batchRows(d.dispatch, this.queue.peek()!, this.rowsAtOrAbove, now) : 1;
        // Under overload, a request that could only finish in time in a batch smaller than this one would shrink
        // every batch (EDF's domino effect): answer it now instead, and run this batch at full size.
        if (limit > 1) {
          this.expire(now + DEADLINE_MARGIN * this.o.policy.predictComputeUs(limit));
          if (this.queue.size === 0) break;
          limit = this.traffic.batchRows(d.dispatch, this.queue.peek()!, this.rowsAtOrAbove, now);
        }
        const batch: Entry[] = [];
        const rows = formBatch(this.queue, limit, batch, this.fits);
        void this.run(this.idle.pop()!, batch, rows, now);
      }
      const deadlineCheck = this.queue.nextDeadlineUs() - slack;
      this.arm(Math.min(wakeUs, deadlineCheck), now);
      if (this.draining && this.running === 0 && this.queue.size === 0) this.drained?.();
    } finally {
      this.pumping = false;
    }
  }

  /** One timer for the earliest of: the policy's wake-up, the next deadline check. */
  private arm(atUs: number, now: number): void {
    if (atUs === Infinity || this.queue.size === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAtUs = Infinity;
      return;
    }
    if (this.timer && this.timerAtUs <= atUs && this.timerAtUs > now) return; // an earlier wake-up re-decides anyway
    if (this.timer) clearTimeout(this.timer);
    this.timerAtUs = atUs;
    // setTimeout has 1 ms resolution: round up, so a wake-up never comes before the decision time.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtUs = Infinity;
      // Decide after the I/O already waiting (the loop polls after its timers): requests that arrived by the wake-up
      // time join the batch instead of being read just after it left.
      setImmediate(() => this.pump());
    }, Math.max(0, Math.ceil((atUs - now) / 1000)));
  }

  private async run(slot: Slot, batch: Entry[], rows: number, startUs: number): Promise<void> {
    this.running++;
    for (const e of batch) if (e.onAbort) e.request.signal!.removeEventListener('abort', e.onAbort);
    const names = this.outputNamesOf(batch);
    const deadlines = this.watchDeadlines(batch);
    try {
      const inputs = concatInputs(batch.map((e) => e.request), rows, slot.pool);
      let t0 = this.clock();
      let result: ExecuteResult;
      try {
        result = await slot.instance.execute(inputs, names);
      } catch (err) {
        if (!(err instanceof InstanceDiedError)) throw err;
        // The worker died under this batch and is being replaced: run the batch once more (it may not be what
        // killed it), on the new worker. A second death fails the batch.
        this.m?.batchRetries.inc();
        t0 = this.clock();
        result = await slot.instance.execute(inputs, names);
      }
      const endUs = this.clock();
      this.o.policy.observeBatch(rows, endUs - t0);
      // One request (always so without a batch dimension): its outputs are the batch's, whatever their shape.
      const per = batch.length === 1 ? [result.outputs] : splitOutputs(result.outputs, batch.map((e) => e.rows), rows);
      const m = this.m;
      if (m) {
        m.execCount.inc();
        m.inferenceCount.inc(rows);
        m.batchSize.observe(rows);
      }
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i];
        if (e.settled) continue; // answered DEADLINE_EXCEEDED while the batch ran
        if (e.timeoutAction === 'REJECT' && endUs > e.deadlineUs) {
          this.missedWhileRunning(e);
          continue;
        }
        const outputs = this.pick(e, names, per[i]);
        if (m) {
          m.success.inc();
          m.requestDurationUs.inc(endUs - e.arrivalUs);
          m.queueDurationUs.inc(startUs - e.arrivalUs);
          m.computeInputUs.inc(result.timing.inputUs);
          m.computeInferUs.inc(result.timing.inferUs);
          m.computeOutputUs.inc(result.timing.outputUs);
          m.requestLatencyUs.observe(endUs - e.arrivalUs);
          m.queueLatencyUs.observe(startUs - e.arrivalUs);
        }
        const response: InferenceResponse = { id: e.request.id, model: this.model.model, version: this.model.version, outputs };
        this.settle(e, () => e.resolve(response));
      }
    } catch (err) {
      const error = toInferenceError(err);
      for (const e of batch) this.fail(e, error, 'BACKEND');
    } finally {
      clearTimeout(deadlines.timer);
      this.running--;
      this.idle.push(slot);
      this.pump();
    }
  }

  /**
   * Answers each REJECT request of a running batch DEADLINE_EXCEEDED when its deadline comes, without waiting for the
   * batch (its result is dropped): one timer, at the earliest deadline not yet reached. The deadline bounds when the
   * client hears back, whatever the batch does.
   */
  private watchDeadlines(batch: readonly Entry[]): { timer: NodeJS.Timeout | undefined } {
    const watch: { timer: NodeJS.Timeout | undefined } = { timer: undefined };
    const arm = () => {
      let next = Infinity;
      for (const e of batch) if (!e.settled && e.timeoutAction === 'REJECT' && e.deadlineUs < next) next = e.deadlineUs;
      if (next === Infinity) return;
      watch.timer = setTimeout(() => {
        const now = this.clock();
        for (const e of batch) if (!e.settled && e.timeoutAction === 'REJECT' && e.deadlineUs <= now) this.missedWhileRunning(e);
        arm();
      }, Math.max(0, Math.ceil((next - this.clock()) / 1000)));
    };
    arm();
    return watch;
  }

  private missedWhileRunning(e: Entry): void {
    this.m?.deadlineExceededRunning.inc();
    this.fail(e, new InferenceError('DEADLINE_EXCEEDED', `request to model '${this.model.model}' did not finish before its ` +
      `timeout (${((e.deadlineUs - Math.min(e.arrivalUs, e.request.receivedUs ?? e.arrivalUs)) / 1000).toFixed(1)} ms from when ` +
      'the server received it); its batch was still running'), 'REJECTED');
  }

  /** Outputs the batch computes: the union of what its requests ask for (all outputs when one asks for none). */
  private outputNamesOf(batch: readonly Entry[]): readonly string[] {
    let union: Set<string> | undefined;
    for (const e of batch) {
      const asked = e.request.outputs;
      if (!asked || asked.length === 0) return this.allOutputs;
      union ??= new Set();
      for (const o of asked) union.add(o.name);
    }
    return union && union.size < this.allOutputs.length ? this.allOutputs.filter((n) => union!.has(n)) : this.allOutputs;
  }

  /** The request's outputs, in the order it asked for them (all, in config order, when it asked for none). */
  private pick(e: Entry, names: readonly string[], computed: Tensor[]): Tensor[] {
    const asked = e.request.outputs;
    if (!asked || asked.length === 0) return computed;
    return asked.map((o) => computed[names.indexOf(o.name)]);
  }

  private fail(e: Entry, error: unknown, reason: FailureReason): void {
    if (e.settled) return;
    if (e.onAbort && e.request.signal) e.request.signal.removeEventListener('abort', e.onAbort);
    this.m?.failure[reason].inc();
    this.settle(e, () => e.reject(error));
  }

  private settle(e: Entry, deliver: () => void): void {
    e.settled = true;
    if (this.order) this.order.settle(e.seq, deliver);
    else deliver();
  }

  /**
   * Runs a zero-filled batch of each warm-up size on every instance before live traffic, smallest first, and teaches
   * the policy t(b) from them. The session's first run pays a one-time cost (measured ~1 ms on small models) and is
   * not timed; a new batch size after that costs nothing extra on the CPU provider (docs/scheduling.md), so each size
   * runs once. Sizes past a total budget of WARM_UP_BUDGET_MS per instance are left to live traffic to learn.
   * Requests that arrive meanwhile wait in the queue.
   */
  async warmUp(): Promise<void> {
    const sizes = this.o.warmUpSizes ?? [];
    const make = warmUpInputs(this.model.config, this.o.maxBatchSize);
    if (!make || sizes.length === 0) return;
    // One model warms up at a time in this process: models load concurrently, and timings taken while another
    // model's warm-up shares the cores would teach the policy a wrong curve (seen in the first load sweep).
    const previous = warmUpChain;
    let release!: () => void;
    warmUpChain = new Promise<void>((r) => { release = r; });
    await previous;
    try {
      await this.runWarmUp(sizes, make);
    } finally {
      release();
    }
  }

  private async runWarmUp(sizes: readonly number[], make: (rows: number) => Tensor[]): Promise<void> {
    const slots = this.idle.splice(0);
    const names = this.allOutputs;
    await Promise.all(slots.map(async (slot) => {
      try {
        await slot.instance.execute(make(sizes[0]), names);
        const start = this.clock();
        for (const size of sizes) {
          const t0 = this.clock();
          await slot.instance.execute(make(size), names);
          const t1 = this.clock();
          this.o.policy.observeBatch(size, t1 - t0);
          if (t1 - start > WARM_UP_BUDGET_MS * 1000) break;
        }
      } catch {
        // A model that cannot run zeros (or a failing instance) skips warm-up; live errors still surface.
      }
    }));
    this.idle.push(...slots);
    this.pump();
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.running === 0 && this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }
}
