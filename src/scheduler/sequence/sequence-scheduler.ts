import { performance } from 'node:perf_hooks';
import {
  InferenceError, type InferenceRequest, type InferenceResponse, type Tensor, invalidArgument, toInferenceError,
} from '../../core/index.js';
import { type ExecuteResult, InstanceDiedError } from '../../backends/backend.js';
import { BatchBufferPool, concatInputs, rowsOf, splitOutputs } from '../batch-assembly.js';
import { type FailureReason, type SchedulerMetrics, failureReasonOf } from '../scheduler-metrics.js';
import type { Scheduler, SchedulerModel, SchedulerProbe } from '../scheduler.js';
import { type SequenceFlags, sequenceFlagsOf } from './sequence-flags.js';
import { type StateRows, controlTensors, keepStates, stateTensors } from './sequence-inputs.js';
import type { SequencePlan } from './sequence-plan.js';
import { type Sequence, SequenceTable } from './sequence-table.js';

export interface SequenceSchedulerOptions {
  readonly plan: SequencePlan;
  /** Requests queued in all sequences together, at most. */
  readonly maxQueueSize: number;
  readonly metrics?: SchedulerMetrics;
  /** Monotonic microseconds (tests may pass their own). */
  readonly clockUs?: () => number;
}

interface Entry {
  readonly request: InferenceRequest;
  readonly flags: SequenceFlags;
  readonly arrivalUs: number;
  readonly resolve: (r: InferenceResponse) => void;
  readonly reject: (e: unknown) => void;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

type Seq = Sequence<Entry, StateRows>;

interface InstanceState {
  busy: boolean;
  readonly buffers: BatchBufferPool;
}

const defaultClock = (): number => performance.now() * 1000;

/**
 * Triton's sequence batcher (docs/sequences.md): requests carry `sequence_id`, `sequence_start`, `sequence_end`; a
 * sequence holds one slot of one instance from START to END (or idle expiry), and each batch holds at most one
 * request per sequence, so a sequence's requests run one after another, in order, on its instance. The server feeds
 * the model's control inputs (START, END, READY, CORRID) and its implicit state: the state outputs of a sequence's
 * request become the state inputs of its next (views of the batch's outputs, passed on without a copy when the
 * batch's sequences are the same as last time). The decisions are SequenceTable's; this class owns the promises,
 * timers, batch assembly and runs.
 *
 * Ownership (see Scheduler): every admitted request settles exactly once. A request whose client goes away while it
 * is queued is answered CANCELLED at once but still runs in its turn (its sequence's later requests expect the state
 * it leaves); its output is dropped. Request timeouts do not apply to sequence requests.
 */
export class SequenceScheduler implements Scheduler {
  private readonly table: SequenceTable<Entry, StateRows>;
  private readonly instances: InstanceState[];
  private readonly clock: () => number;
  private readonly m: SchedulerMetrics | undefined;
  private readonly outputNames: readonly string[];
  private readonly userOutputs: number;
  private readonly plan: SequencePlan;
  /** The CORRID control's datatype when it is numeric (string ids are refused then). */
  private readonly numericCorrId: string | undefined;
  private readonly picked: Seq[] = [];
  private readonly expiredNow: Seq[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAtUs = Infinity;
  private pumping = false;
  private running = 0;
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly model: SchedulerModel, o: SequenceSchedulerOptions) {
    this.plan = o.plan;
    this.numericCorrId = o.plan.controls.find((c) => c.kind === 'CONTROL_SEQUENCE_CORRID' && c.datatype !== 'BYTES')?.datatype;
    this.clock = o.clockUs ?? defaultClock;
    this.m = o.metrics;
    this.instances = model.instances.map(() => ({ busy: false, buffers: new BatchBufferPool() }));
    this.table = new SequenceTable<Entry, StateRows>({
      model: model.model, instances: model.instances.length, slotsPerInstance: o.plan.slotsPerInstance,
      maxBatchSize: model.config.max_batch_size, strategy: o.plan.strategy, maxIdleUs: o.plan.maxIdleUs,
      maxQueued: o.maxQueueSize,
    }, () => this.plan.states.map((s) => s.initial));
    const user = model.config.output.map((t) => t.name);
    this.userOutputs = user.length;
    this.outputNames = [...user, ...o.plan.states.map((s) => s.outputName)];
    if (this.m) this.m.pending.collect = () => this.table.size;
  }

  get pendingCount(): number {
    return this.table.size;
  }

  /** Live sequences (holding a slot or waiting for one). */
  get activeSequences(): number {
    return this.table.active;
  }

  probe(_p: SchedulerProbe): InferenceError | undefined {
    if (this.draining) return new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
    if (this.table.full()) return new InferenceError('QUEUE_FULL', `model '${this.model.model}' has too many sequence requests queued`, { retryAfterSec: 1 });
    return undefined;
  }

  enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    const now = this.clock();
    let e: Entry | undefined;
    const promise = new Promise<InferenceResponse>((resolve, reject) => {
      try {
        if (this.draining) throw new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
        // Gone before it joined its sequence: the sequence goes on without it.
        if (request.signal?.aborted) throw new InferenceError('CANCELLED', 'client disconnected before the request ran');
        const flags = sequenceFlagsOf(request);
        if (typeof flags.id === 'string' && this.numericCorrId) {
          throw invalidArgument(`model '${this.model.model}' takes numeric sequence ids (its CORRID input is ${this.numericCorrId}); got the string ${JSON.stringify(flags.id)}`);
        }
        if (rowsOf(request) !== 1) throw invalidArgument(`a request of sequence model '${this.model.model}' carries one row (batch dimension 1), not ${rowsOf(request)}`);
        e = { request, flags, arrivalUs: now, resolve, reject, onAbort: undefined, settled: false };
        this.expireIdle(now);
        this.table.admit(e, now);
      } catch (err) {
        if (err instanceof InferenceError && err.code === 'QUEUE_FULL') this.m?.rejectedQueueFull.inc();
        this.m?.failure[failureReasonOf(err instanceof InferenceError ? err.code : 'INTERNAL')].inc();
        e = undefined;
        reject(err);
      }
    });
    const entry = e as Entry | undefined;
    if (entry && request.signal) {
      entry.onAbort = () => this.fail(entry, new InferenceError('CANCELLED', 'client disconnected before the request ran'), 'CANCELED');
      request.signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    if (entry) this.pump();
    return promise;
  }

  private expireIdle(now: number): number {
    this.expiredNow.length = 0;
    return this.table.expire(now, this.expiredNow);
  }

  /** Expire idle sequences, start a batch on every idle instance that has one, re-arm the one timer. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const now = this.clock();
      let wake = this.expireIdle(now);
      for (const i of this.table.instancesWithWork()) {
        const inst = this.instances[i];
        if (inst.busy) continue;
        const at = this.table.next(i, now, this.picked);
        if (at !== undefined) {
          if (at < wake) wake = at;
          continue;
        }
        const batch = this.picked.slice();
        const entries: Entry[] = [];
        this.table.take(batch, entries);
        inst.busy = true;
        this.running++;
        void this.run(i, batch, entries, now);
      }
      this.arm(wake, now);
      if (this.draining && this.running === 0 && this.table.size === 0) this.drained?.();
    } finally {
      this.pumping = false;
    }
  }

  private arm(atUs: number, now: number): void {
    if (this.timer && this.timerAtUs <= atUs && this.timerAtUs > now) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtUs = atUs;
    if (atUs === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtUs = Infinity;
      this.pump();
    }, Math.max(0, Math.ceil((atUs - now) / 1000)));
    // Idle expiry alone must not keep the process alive.
    this.timer.unref();
  }

  private async run(i: number, batch: Seq[], entries: Entry[], startUs: number): Promise<void> {
    const inst = this.instances[i];
    const instance = this.model.instances[i];
    for (const e of entries) if (e.onAbort) e.request.signal!.removeEventListener('abort', e.onAbort);
    const rows = entries.length;
    const flags = entries.map((e) => e.flags);
    try {
      const inputs: Tensor[] = [
        ...concatInputs(entries.map((e) => e.request), rows, inst.buffers),
        ...controlTensors(this.plan.controls, flags, inst.buffers),
        ...stateTensors(this.plan.states, batch.map((s) => s.state), flags, inst.buffers),
      ];
      let result: ExecuteResult;
      try {
        result = await instance.execute(inputs, this.outputNames);
      } catch (err) {
        // As the batching scheduler: a batch whose worker died under it runs once more on the replacement.
        if (!(err instanceof InstanceDiedError)) throw err;
        this.m?.batchRetries.inc();
        result = await instance.execute(inputs, this.outputNames);
      }
      const endUs = this.clock();
      keepStates(this.plan.states, result.outputs.slice(this.userOutputs), batch.map((s) => s.state));
      const user = result.outputs.slice(0, this.userOutputs);
      const per = rows === 1 ? [user] : splitOutputs(user, entries.map(() => 1), rows);
      const m = this.m;
      if (m) {
        m.execCount.inc();
        m.inferenceCount.inc(rows);
        m.batchSize.observe(rows);
        m.batchStats.record(rows, result.timing.inputUs, result.timing.inferUs, result.timing.outputUs);
      }
      for (let k = 0; k < rows; k++) {
        const e = entries[k];
        if (e.settled) continue;
        if (m) {
          m.success.inc();
          m.requestDurationUs.inc(endUs - e.arrivalUs);
          m.queueDurationUs.inc(startUs - e.arrivalUs);
          m.requestLatencyUs.observe(endUs - e.arrivalUs);
          m.queueLatencyUs.observe(startUs - e.arrivalUs);
        }
        e.settled = true;
        e.resolve({ id: e.request.id, model: this.model.model, version: this.model.version, outputs: this.pick(e, per[k]) });
      }
    } catch (err) {
      const error = toInferenceError(err);
      for (const e of entries) this.fail(e, error, 'BACKEND');
    } finally {
      this.table.finished(batch, entries, this.clock());
      inst.busy = false;
      this.running--;
      this.pump();
    }
  }

  /** The request's outputs, in the order it asked for them (all, in config order, when it asked for none). */
  private pick(e: Entry, computed: Tensor[]): Tensor[] {
    const asked = e.request.outputs;
    if (!asked || asked.length === 0) return computed;
    return asked.map((o) => computed[this.outputNames.indexOf(o.name)]);
  }

  private fail(e: Entry, error: unknown, reason: FailureReason): void {
    if (e.settled) return;
    e.settled = true;
    if (e.onAbort && e.request.signal) e.request.signal.removeEventListener('abort', e.onAbort);
    if (this.m) {
      this.m.failure[reason].inc();
      this.m.failureDurationUs.inc(this.clock() - e.arrivalUs);
    }
    e.reject(error);
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.running === 0 && this.table.size === 0) {
      if (this.timer) clearTimeout(this.timer);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.drained = () => {
        if (this.timer) clearTimeout(this.timer);
        resolve();
      };
    });
  }
}
