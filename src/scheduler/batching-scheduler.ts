import { performance } from 'node:perf_hooks';
import {
  InferenceError, type InferenceRequest, type InferenceResponse, type Tensor, invalidArgument, toInferenceError,
} from '../core/index.js';
import { type FailureReason, type SchedulerMetrics, failureReasonOf } from './scheduler-metrics.js';
import type { Scheduler, SchedulerModel, SchedulerProbe } from './scheduler.js';
import type { BatchPolicy } from './batch-policy.js';
import type { BatchableEntry } from './form-batch.js';
import { rowsOf, shapeKeyOf, splitOutputs } from './batch-assembly.js';
import type { QueueConfig } from './queue-config.js';
import { ResponseOrder } from './response-order.js';
import { Dispatcher } from './dispatcher.js';
import { InstancePool, type InstanceSlot } from './instance-pool.js';
import { type WarmupSample, warmUpInputs } from './warm-up.js';

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
  /** The model's latency target (latency_target_us), a deadline for every request: see DispatcherOptions. */
  readonly latencyBoundUs?: number;
}

interface Entry extends BatchableEntry {
  readonly request: InferenceRequest;
  readonly resolve: (r: InferenceResponse) => void;
  readonly reject: (e: unknown) => void;
  onAbort: (() => void) | undefined;
  /** Answered already (a running request can be answered DEADLINE_EXCEEDED before its batch ends). */
  settled: boolean;
}

const defaultClock = (): number => performance.now() * 1000;

/**
 * The batching scheduler: the glue between promises and the two halves that do the work — the Dispatcher (pure
 * decisions: admission, deadline expiry, the BatchPolicy, forming batches) and the InstancePool (instances, their
 * buffers, retries, warm-up). It owns what needs real time: the promises, abort signals, one timer (the dispatcher's
 * wake-up time), metrics, response ordering and splitting outputs. Event-driven: it acts on enqueue, on batch
 * completion and on that timer — no polling.
 *
 * Ownership (see Scheduler): every admitted request settles exactly once — with its outputs, DEADLINE_EXCEEDED when
 * it can no longer finish by its deadline (answered at once, by the timer), CANCELLED when its signal aborts while
 * queued, or its batch's backend error. Refusals at admission (QUEUE_FULL) carry retryAfterSec.
 */
export class BatchingScheduler implements Scheduler {
  private readonly d: Dispatcher<Entry>;
  private readonly pool: InstancePool;
  private readonly allOutputs: readonly string[];
  private readonly clock: () => number;
  private readonly order: ResponseOrder | undefined;
  private readonly m: SchedulerMetrics | undefined;
  /** Reused by pump: the requests the dispatcher expired. */
  private readonly dead: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAtUs = Infinity;
  private pumping = false;
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly model: SchedulerModel, private readonly o: BatchingOptions) {
    this.clock = o.clockUs ?? defaultClock;
    this.m = o.metrics;
    this.pool = new InstancePool(model.instances, this.clock, this.m?.batchRetries);
    this.d = new Dispatcher<Entry>({
      policy: o.policy, queue: o.queue, maxBatchSize: o.maxBatchSize, maxQueueSize: o.maxQueueSize,
      instances: this.pool.size, model: model.model, latencyBoundUs: o.latencyBoundUs,
    });
    this.allOutputs = model.config.output.map((t) => t.name);
    this.order = o.preserveOrdering ? new ResponseOrder() : undefined;
    if (this.m) this.m.pending.collect = () => this.d.size;
    // A batch held back from a FAILED instance goes as soon as an instance can take it.
    this.pool.onHealthChange(() => this.pump());
  }

  get pendingCount(): number {
    return this.d.size;
  }

  get policy(): BatchPolicy {
    return this.o.policy;
  }

  /** See Scheduler.probe: the refusal enqueue would give now (the same Dispatcher check), changing nothing. */
  probe(p: SchedulerProbe): InferenceError | undefined {
    if (this.draining) return new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
    const now = this.clock();
    const level = this.d.levelOf(p.priority);
    const deadlineUs = this.d.deadlineOf(level, p.timeoutUs, p.receivedUs, now);
    return this.d.probe(level, this.o.maxBatchSize > 0 ? Math.max(1, p.rows ?? 1) : 1, deadlineUs, now);
  }

  enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    const now = this.clock();
    let rows: number;
    try {
      if (this.draining) throw new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
      if (request.signal?.aborted) throw new InferenceError('CANCELLED', 'client disconnected before the request ran');
      rows = this.o.maxBatchSize > 0 ? rowsOf(request) : 1;
      if (rows < 1 || rows > this.d.maxRows) {
        throw invalidArgument(`batch dimension ${rows} is outside 1..${this.d.maxRows} (max_batch_size of model '${this.model.model}')`);
      }
    } catch (err) {
      return this.refuse(err);
    }
    const level = this.d.levelOf(request.priority);
    const deadlineUs = this.d.deadlineOf(level, request.timeoutUs, request.receivedUs, now);
    return new Promise<InferenceResponse>((resolve, reject) => {
      const e: Entry = {
        request, resolve, reject, rows, level, arrivalUs: now, deadlineUs, timeoutAction: this.d.timeoutActionOf(level),
        seq: -1, heapIndex: -1, where: 'out', shapeKey: this.o.maxBatchSize > 0 ? shapeKeyOf(request) : '',
        onAbort: undefined, settled: false,
      };
      const refusal = this.d.admit(e, now);
      if (refusal) {
        this.m?.rejectedQueueFull.inc();
        this.countFailure(refusal);
        reject(refusal);
        return;
      }
      this.order?.admit(e.seq);
      if (request.signal) {
        e.onAbort = () => {
          if (!this.d.remove(e)) return;
          this.fail(e, new InferenceError('CANCELLED', 'client disconnected before the request ran'), 'CANCELED');
          this.pump();
        };
        request.signal.addEventListener('abort', e.onAbort, { once: true });
      }
      this.pump();
    });
  }

  /** A request refused before it was queued: counted, and rejected. */
  private refuse(err: unknown): Promise<never> {
    this.countFailure(err);
    return Promise.reject(err);
  }

  private countFailure(err: unknown): void {
    this.m?.failure[failureReasonOf(err instanceof InferenceError ? err.code : 'INTERNAL')].inc();
  }

  /** Expire, decide, dispatch, re-arm the timer. Re-entrant calls (from settling promises) are folded in. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const now = this.clock();
      let wakeUs: number;
      for (;;) {
        this.dead.length = 0;
        const next = this.d.next(now, this.pool.idleCount, this.dead);
        for (const e of this.dead) this.expired(e);
        if (typeof next === 'number') {
          wakeUs = next;
          break;
        }
        void this.run(this.pool.acquire(), next.entries, next.rows, now);
      }
      this.arm(wakeUs, now);
      if (this.draining && this.pool.running === 0 && this.d.size === 0) this.drained?.();
    } finally {
      this.pumping = false;
    }
  }

  /** One timer, at the dispatcher's wake-up time (the policy's, or the next deadline check). */
  private arm(atUs: number, now: number): void {
    if (atUs === Infinity || this.d.size === 0) {
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

  /** Answers DEADLINE_EXCEEDED a queued request the dispatcher expired. */
  private expired(e: Entry): void {
    this.m?.deadlineExceeded.inc();
    this.fail(e, new InferenceError('DEADLINE_EXCEEDED',
      `request to model '${this.model.model}' could not run before its timeout (${this.timeoutMs(e)} ms from when the server received it)`), 'REJECTED');
  }

  private async run(slot: InstanceSlot, batch: Entry[], rows: number, startUs: number): Promise<void> {
    for (const e of batch) if (e.onAbort) e.request.signal!.removeEventListener('abort', e.onAbort);
    const names = this.outputNamesOf(batch);
    const deadlines = this.watchDeadlines(batch);
    try {
      const { result, computeUs, endUs } = await this.pool.execute(slot, batch.map((e) => e.request), rows, names);
      this.d.observeBatch(rows, computeUs);
      // One request (always so without a batch dimension): its outputs are the batch's, whatever their shape.
      const per = batch.length === 1 ? [result.outputs] : splitOutputs(result.outputs, batch.map((e) => e.rows), rows);
      const m = this.m;
      if (m) {
        m.execCount.inc();
        m.inferenceCount.inc(rows);
        m.batchSize.observe(rows);
        m.batchStats.record(rows, result.timing.inputUs, result.timing.inferUs, result.timing.outputUs);
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
      this.pool.release(slot);
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
      `timeout (${this.timeoutMs(e)} ms from when the server received it); its batch was still running`), 'REJECTED');
  }

  /** The request's timeout as its client set it, in ms (counted from when the server received it). */
  private timeoutMs(e: Entry): string {
    return ((e.deadlineUs - Math.min(e.arrivalUs, e.request.receivedUs ?? e.arrivalUs)) / 1000).toFixed(1);
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
    if (this.m) {
      this.m.failure[reason].inc();
      this.m.failureDurationUs.inc(this.clock() - e.arrivalUs);
    }
    this.settle(e, () => e.reject(error));
  }

  private settle(e: Entry, deliver: () => void): void {
    e.settled = true;
    if (this.order) this.order.settle(e.seq, deliver);
    else deliver();
  }

  /**
   * Before live traffic (requests that arrive meanwhile wait in the queue): the config's model_warmup samples when it
   * has some (InstancePool.runSamples: a failure rejects), else the warm-up sizes on every instance
   * (InstancePool.warmUp, zero inputs, BYTES as empty elements). Both teach the policy t(b).
   */
  async warmUp(samples: readonly WarmupSample[] = []): Promise<void> {
    const observe = (rows: number, us: number) => this.d.observeBatch(rows, us);
    try {
      if (samples.length > 0) {
        await this.pool.runSamples(samples, this.allOutputs, observe);
        return;
      }
      const sizes = this.o.warmUpSizes ?? [];
      const make = warmUpInputs(this.model.config, this.o.maxBatchSize);
      if (make && sizes.length > 0) await this.pool.warmUp(sizes, make, this.allOutputs, observe);
    } finally {
      this.pump();
    }
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.pool.running === 0 && this.d.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }
}
