import { performance } from 'node:perf_hooks';
import {
  InferenceError, type InferenceRequest, type InferenceResponse, invalidArgument, toInferenceError,
} from '../core/index.js';
import { InstanceDiedError, type StreamItemSink } from '../backends/backend.js';
import { rowsOf } from './batch-assembly.js';
import { InstancePool, type InstanceSlot } from './instance-pool.js';
import { RingBuffer } from './ring-buffer.js';
import { type FailureReason, type SchedulerMetrics, failureReasonOf } from './scheduler-metrics.js';
import type { ResponseSink, Scheduler, SchedulerModel, SchedulerProbe } from './scheduler.js';

export interface DecoupledOptions {
  /** Requests waiting (not yet running), at most; past it QUEUE_FULL. */
  readonly maxQueueSize: number;
  readonly metrics?: SchedulerMetrics;
  /** Monotonic microseconds (tests may pass their own). */
  readonly clockUs?: () => number;
}

interface Entry {
  readonly request: InferenceRequest;
  readonly sink: ResponseSink;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly arrivalUs: number;
  /** Infinity = none. */
  readonly deadlineUs: number;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Answered (cancelled or expired while queued, or finished): skipped when it comes up. */
  settled: boolean;
}

const defaultClock = (): number => performance.now() * 1000;

/** Seconds a client refused QUEUE_FULL is told to wait. */
const RETRY_AFTER_SEC = 1;

/**
 * The scheduler of decoupled models (`model_transaction_policy { decoupled: true }`, docs/streaming.md): one request
 * per execution, in arrival order, on the first instance free (the instance pool's health rules: a FAILED instance
 * is passed over while another can run). Each response the instance produces goes to the request's sink at once.
 *
 * - Admission: at most `maxQueueSize` requests wait (QUEUE_FULL past it); none while draining (UNAVAILABLE).
 * - Deadlines (the request's `timeoutUs`, from when the server received it) apply before the request starts: one
 *   still waiting then is answered DEADLINE_EXCEEDED. A running stream is not cut short by its deadline.
 * - Cancellation: a waiting request whose signal aborts leaves the queue (CANCELLED); a running one is stopped
 *   between responses by the instance (a JS generator's return() runs), and rejects CANCELLED once it has stopped,
 *   after which the instance takes the next request.
 * - A worker that dies before the first response is retried once on its replacement (as batches are); after a
 *   response went out, the request fails UNAVAILABLE: its responses cannot be taken back.
 *
 * `enqueue` (one answer) is for a request that must produce exactly one response: the server refuses plain infer on
 * a decoupled model before it gets here (as Triton does), so only in-process callers reach it.
 */
export class DecoupledScheduler implements Scheduler {
  private readonly pool: InstancePool;
  private readonly queue = new RingBuffer<Entry>();
  /** Entries in `queue` not yet settled. */
  private waiting = 0;
  private readonly clock: () => number;
  private readonly m: SchedulerMetrics | undefined;
  private readonly allOutputs: readonly string[];
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly model: SchedulerModel, private readonly o: DecoupledOptions) {
    this.clock = o.clockUs ?? defaultClock;
    this.m = o.metrics;
    for (const i of model.instances) {
      if (!i.executeStream) throw new Error(`instance '${i.name}' cannot stream responses (a decoupled model needs the js backend)`);
    }
    this.pool = new InstancePool(model.instances, this.clock, this.m?.batchRetries);
    this.allOutputs = model.config.output.map((t) => t.name);
    if (this.m) this.m.pending.collect = () => this.waiting;
    this.pool.onHealthChange(() => this.pump());
  }

  get pendingCount(): number {
    return this.waiting;
  }

  probe(_p: SchedulerProbe): InferenceError | undefined {
    if (this.draining) return new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
    if (this.waiting >= this.o.maxQueueSize) return this.queueFull();
    return undefined;
  }

  private queueFull(): InferenceError {
    return new InferenceError('QUEUE_FULL', `model '${this.model.model}' has ${this.waiting} requests waiting (its bound)`, { retryAfterSec: RETRY_AFTER_SEC });
  }

  /** One answer: the request's only response; a model that answers zero or several times fails it. */
  async enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    const responses: InferenceResponse[] = [];
    await this.enqueueStream(request, (r) => { responses.push(r); });
    if (responses.length !== 1) {
      throw new InferenceError('UNIMPLEMENTED', `model '${this.model.model}' is decoupled and answered ${responses.length} times; ` +
        'a request that takes one answer needs exactly one (use a streaming call: ModelStreamInfer, generate_stream)');
    }
    return responses[0];
  }

  enqueueStream(request: InferenceRequest, sink: ResponseSink): Promise<void> {
    const now = this.clock();
    try {
      if (this.draining) throw new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
      if (request.signal?.aborted) throw new InferenceError('CANCELLED', 'client disconnected before the request ran');
      const max = this.model.config.max_batch_size;
      if (max > 0) {
        const rows = rowsOf(request);
        if (rows < 1 || rows > max) throw invalidArgument(`batch dimension ${rows} is outside 1..${max} (max_batch_size of model '${this.model.model}')`);
      }
      if (this.waiting >= this.o.maxQueueSize) {
        this.m?.rejectedQueueFull.inc();
        throw this.queueFull();
      }
    } catch (err) {
      this.m?.failure[failureReasonOf(err instanceof InferenceError ? err.code : 'INTERNAL')].inc();
      return Promise.reject(err);
    }
    const t = request.timeoutUs;
    const deadlineUs = t !== undefined && t > 0 ? Math.min(now, request.receivedUs ?? now) + t : Infinity;
    return new Promise<void>((resolve, reject) => {
      const e: Entry = { request, sink, resolve, reject, arrivalUs: now, deadlineUs, timer: undefined, onAbort: undefined, settled: false };
      this.queue.push(e);
      this.waiting++;
      if (request.signal) {
        e.onAbort = () => this.failWaiting(e, new InferenceError('CANCELLED', 'client disconnected before the request ran'), 'CANCELED');
        request.signal.addEventListener('abort', e.onAbort, { once: true });
      }
      if (deadlineUs !== Infinity) {
        e.timer = setTimeout(() => {
          this.m?.deadlineExceeded.inc();
          this.failWaiting(e, new InferenceError('DEADLINE_EXCEEDED',
            `request to model '${this.model.model}' could not start before its timeout (${t! / 1000} ms from when the server received it)`), 'REJECTED');
        }, Math.max(0, Math.ceil((deadlineUs - now) / 1000)));
      }
      this.pump();
    });
  }

  /** A request still waiting is answered now (cancelled, expired); it stays in the ring and is skipped there. */
  private failWaiting(e: Entry, err: InferenceError, reason: FailureReason): void {
    if (e.settled) return;
    this.waiting--;
    this.fail(e, err, reason);
    this.pump();
  }

  private fail(e: Entry, err: unknown, reason: FailureReason): void {
    if (e.settled) return;
    this.unwatch(e);
    if (this.m) {
      this.m.failure[reason].inc();
      this.m.failureDurationUs.inc(this.clock() - e.arrivalUs);
    }
    e.settled = true;
    e.reject(err);
  }

  private unwatch(e: Entry): void {
    clearTimeout(e.timer);
    if (e.onAbort) e.request.signal?.removeEventListener('abort', e.onAbort);
  }

  /** Starts waiting requests on idle instances. */
  private pump(): void {
    while (this.queue.length > 0 && this.pool.idleCount > 0) {
      const e = this.queue.shift()!;
      if (e.settled) continue;
      this.waiting--;
      this.unwatch(e);
      void this.run(this.pool.acquire(), e);
    }
    // Settled entries at the front are dropped even with no instance free, so the ring does not hold them.
    while (this.queue.length > 0 && this.queue.peek()!.settled) this.queue.shift();
    if (this.draining && this.pool.running === 0 && this.waiting === 0) this.drained?.();
  }

  private async run(slot: InstanceSlot, e: Entry): Promise<void> {
    const { request } = e;
    const startUs = this.clock();
    const names = request.outputs && request.outputs.length > 0 ? request.outputs.map((o) => o.name) : this.allOutputs;
    const m = this.m;
    let responses = 0;
    /** When the previous response went (or the request started): response_stats count from there. */
    let lastUs = startUs;
    const since = (): number => {
      const now = this.clock();
      const us = now - lastUs;
      lastUs = now;
      return us;
    };
    const onItem: StreamItemSink = (outputs, t) => {
      if (e.settled) return undefined;
      m?.responseStats?.record(responses, 'success', since(), t.inferUs, t.outputUs);
      responses++;
      return e.sink({ id: request.id, model: this.model.model, version: this.model.version, outputs }, false);
    };
    try {
      const stream = () => slot.instance.executeStream!(request.inputs, names, onItem, request.signal);
      let timing;
      try {
        timing = await stream();
      } catch (err) {
        // Its worker died before it answered: run it once more on the new worker (it may not be what killed it).
        if (!(err instanceof InstanceDiedError) || responses > 0 || request.signal?.aborted) throw err;
        m?.batchRetries.inc();
        timing = await stream();
      }
      const endUs = this.clock();
      if (m) {
        m.execCount.inc();
        m.inferenceCount.inc();
        m.batchSize.observe(1);
        m.batchStats.record(1, timing.inputUs, timing.inferUs, timing.outputUs);
      }
      if (request.signal?.aborted) {
        m?.responseStats?.record(responses, 'cancel', since());
        this.fail(e, new InferenceError('CANCELLED', `client disconnected after ${responses} responses: the model was stopped`), 'CANCELED');
        return;
      }
      // The request ends with no response of its own: Triton's flag-only final response.
      m?.responseStats?.record(responses, 'empty_response', since());
      if (m) {
        m.success.inc();
        m.requestDurationUs.inc(endUs - e.arrivalUs);
        m.queueDurationUs.inc(startUs - e.arrivalUs);
        m.computeInputUs.inc(timing.inputUs);
        m.computeInferUs.inc(timing.inferUs);
        m.computeOutputUs.inc(timing.outputUs);
        m.requestLatencyUs.observe(endUs - e.arrivalUs);
        m.queueLatencyUs.observe(startUs - e.arrivalUs);
      }
      e.settled = true;
      e.resolve();
    } catch (err) {
      const cancelled = request.signal?.aborted === true;
      m?.responseStats?.record(responses, cancelled ? 'cancel' : 'fail', since());
      if (cancelled) {
        this.fail(e, new InferenceError('CANCELLED', `client disconnected after ${responses} responses: the model was stopped`), 'CANCELED');
      } else this.fail(e, toInferenceError(err), 'BACKEND');
    } finally {
      this.pool.release(slot);
      this.pump();
    }
  }

  drain(): Promise<void> {
    this.draining = true;
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.pump();
    });
  }
}
