import { performance } from 'node:perf_hooks';
import {
  type GenerationConfig, InferenceError, type InferenceRequest, type InferenceResponse, type Tensor, toInferenceError,
} from '../../core/index.js';
import { type ExecuteResult, InstanceDiedError, type ModelInstance } from '../../backends/backend.js';
import { RingBuffer } from '../ring-buffer.js';
import { type FailureReason, type SchedulerMetrics, failureReasonOf } from '../scheduler-metrics.js';
import type { ResponseSink, Scheduler, SchedulerModel, SchedulerProbe } from '../scheduler.js';
import { type GenerationParams, generationParamsOf } from './generation-request.js';
import { KvSlab } from './kv-slab.js';
import { type Sampler, argmax, temperatureSampler } from './sampling.js';
import { type StepRow, StepBuffers } from './step-inputs.js';

export interface IterationSchedulerOptions {
  readonly metrics?: SchedulerMetrics;
}

/** One generation request, from admission to its last token. */
interface Generation {
  readonly request: InferenceRequest;
  readonly params: GenerationParams;
  readonly sample: Sampler;
  /** Streaming: each token goes here as it is produced. Absent: `enqueue`, which collects them. */
  readonly sink: ResponseSink | undefined;
  readonly collected: number[];
  readonly arrivalUs: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  onAbort: (() => void) | undefined;
  /** Answered (resolved or rejected): nothing more is sent; a slot it holds is freed at the next step. */
  settled: boolean;
  slot: number;
  /** Positions in its slot's cache. */
  cached: number;
  generated: number;
  lastToken: number;
}

/** Counters for benchmarks and tests (not metrics: the server's metrics count requests and executions). */
export interface IterationStats {
  steps: number;
  prefills: number;
  /** Rows over all steps (÷ steps = the mean batch). */
  rows: number;
  /** Main-thread time building inputs (mostly the cache gather) and scattering the new keys/values, µs. */
  copyUs: number;
  /** Time in `execute` (the worker hop and the model), µs. */
  executeUs: number;
}

/** One instance: its slab, its active sequences, and whether its loop runs. */
interface Engine {
  readonly instance: ModelInstance;
  readonly slab: KvSlab;
  readonly buffers: StepBuffers;
  active: Generation[];
  running: boolean;
}

const OUTPUTS = ['logits', 'present_key_values'];
const nowUs = (): number => performance.now() * 1000;
const EMPTY = new Uint8Array(0);

/**
 * Serves a step-wise generative model (docs/generation.md): each request is a prompt whose tokens are produced one
 * step at a time, each step one `execute` of the step model for a batch of sequences. With `batching: iteration`
 * (Orca's iteration-level scheduling) the batch is re-formed at every step: waiting requests join as soon as a slot of
 * the instance's key/value slab is free (their prompts run as one prefill step), and a sequence leaves the moment it
 * ends (max_tokens, the EOS token, or its client gone), freeing its slot. With `batching: request` (the baseline), a
 * batch forms only when the instance has no active sequence and runs until all of its sequences end.
 *
 * Ownership (see Scheduler): every admitted request settles exactly once. `enqueueStream` sends each token at once
 * (final = true on the last) and resolves after it; `enqueue` answers once with all tokens. A request whose signal
 * aborts is rejected CANCELLED at once; its slot is freed at the next step boundary. One engine per instance, each
 * running one step at a time; sequences stay on the instance that prefilled them (their cache is there).
 */
export class IterationScheduler implements Scheduler {
  private readonly g: Readonly<GenerationConfig>;
  private queue = new RingBuffer<Generation>();
  /** Queued and not cancelled. */
  private queued = 0;
  private readonly engines: Engine[];
  private readonly m: SchedulerMetrics | undefined;
  private draining = false;
  private drained: (() => void) | undefined;
  readonly stats: IterationStats = { steps: 0, prefills: 0, rows: 0, copyUs: 0, executeUs: 0 };

  constructor(private readonly model: SchedulerModel, o: IterationSchedulerOptions = {}) {
    const g = model.config.generation;
    if (!g) throw new Error(`model '${model.model}' has no generation config`);
    this.g = g;
    this.m = o.metrics;
    this.engines = model.instances.map((instance) => ({
      instance, slab: new KvSlab(g.max_active, g.layers, g.heads, g.max_length, g.head_dim), buffers: new StepBuffers(), active: [], running: false,
    }));
    if (this.m) this.m.pending.collect = () => this.queued;
  }

  get pendingCount(): number {
    return this.queued;
  }

  /** Sequences holding a slot now, over all instances. */
  get activeCount(): number {
    let n = 0;
    for (const e of this.engines) n += e.active.length;
    return n;
  }

  probe(_p: SchedulerProbe): InferenceError | undefined {
    return this.refusal();
  }

  private refusal(): InferenceError | undefined {
    if (this.draining) return new InferenceError('UNAVAILABLE', `model '${this.model.model}' is unloading`);
    if (this.queued >= this.g.max_queue) {
      return new InferenceError('QUEUE_FULL', `model '${this.model.model}' has ${this.queued} generation requests waiting (generation_max_queue)`, { retryAfterSec: 1 });
    }
    return undefined;
  }

  /** The whole generation in one answer: `token_id` [n] and `text_output` [1] (the generated bytes, EOS left out). */
  async enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    const tokens: number[] = [];
    await this.admit(request, undefined, tokens);
    const ids = Int32Array.from(tokens);
    const text = Uint8Array.from(tokens.filter((t) => t < 256 && t !== this.g.eos_token));
    return { id: request.id, model: this.model.model, version: this.model.version, outputs: this.outputs(request, ids, text) };
  }

  enqueueStream(request: InferenceRequest, sink: ResponseSink): Promise<void> {
    return this.admit(request, sink, []);
  }

  private admit(request: InferenceRequest, sink: ResponseSink | undefined, collected: number[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let gen: Generation;
      try {
        const refused = this.refusal();
        if (refused) throw refused;
        if (request.signal?.aborted) throw new InferenceError('CANCELLED', 'client disconnected before the request ran');
        const params = generationParamsOf(request, this.g);
        gen = {
          request, params, sink, collected, arrivalUs: nowUs(), resolve, reject, onAbort: undefined, settled: false,
          sample: params.temperature > 0 ? temperatureSampler(params.temperature, params.seed) : argmax,
          slot: -1, cached: 0, generated: 0, lastToken: 0,
        };
      } catch (err) {
        const code = err instanceof InferenceError ? err.code : 'INTERNAL';
        if (code === 'QUEUE_FULL') this.m?.rejectedQueueFull.inc();
        this.m?.failure[failureReasonOf(code)].inc();
        reject(err);
        return;
      }
      if (request.signal) {
        gen.onAbort = () => {
          const waiting = gen.slot < 0 && !gen.settled;
          if (waiting) this.queued--;
          this.fail(gen, new InferenceError('CANCELLED', 'client disconnected; generation stopped'), 'CANCELED');
          // Cancelled entries stay in the ring until a slot frees; past twice the live ones, drop them now, so clients
          // that send and cancel while every slot is busy cannot grow it beyond generation_max_queue's bound.
          if (waiting && this.queue.length > 2 * this.queued + 64) this.dropSettledWaiting();
        };
        request.signal.addEventListener('abort', gen.onAbort, { once: true });
      }
      this.queue.push(gen);
      this.queued++;
      this.kick();
    });
  }

  private dropSettledWaiting(): void {
    const kept = new RingBuffer<Generation>();
    for (let g = this.queue.shift(); g !== undefined; g = this.queue.shift()) if (!g.settled) kept.push(g);
    this.queue = kept;
  }

  /** Starts the loop of every idle engine that has work. */
  private kick(): void {
    for (const e of this.engines) {
      if (!e.running && (e.active.length > 0 || this.queued > 0)) {
        e.running = true;
        void this.loop(e);
      }
    }
  }

  /** One instance's steps, until it has nothing to do. Each turn: drop the finished, let waiting ones join, step. */
  private async loop(e: Engine): Promise<void> {
    try {
      for (;;) {
        this.leave(e);
        const joining = this.g.batching === 'iteration' || e.active.length === 0 ? this.join(e) : [];
        if (joining.length > 0) await this.step(e, joining, true);
        else if (e.active.length > 0) await this.step(e, e.active, false);
        else break;
      }
    } finally {
      e.running = false;
      if (this.draining && this.idle()) this.drained?.();
    }
  }

  /** Frees the slots of sequences that were answered (done, cancelled, failed). */
  private leave(e: Engine): void {
    if (!e.active.some((s) => s.settled)) return;
    e.active = e.active.filter((s) => {
      if (s.settled) e.slab.release(s.slot);
      return !s.settled;
    });
  }

  /** Waiting requests, oldest first, that take this engine's free slots. */
  private join(e: Engine): Generation[] {
    const joining: Generation[] = [];
    while (e.slab.freeSlots > 0 && this.queue.length > 0) {
      const gen = this.queue.shift()!;
      if (gen.settled) continue; // cancelled while it waited
      this.queued--;
      gen.slot = e.slab.take();
      joining.push(gen);
    }
    return joining;
  }

  /**
   * One execution: a prefill of `rows`' prompts (they then join the active set) or a decode step of `rows`. A failure
   * (the backend's, or outputs of the wrong size) fails every request of the step and frees the slots of its prefill.
   */
  private async step(e: Engine, rows: Generation[], prefill: boolean): Promise<void> {
    try {
      await this.runStep(e, rows, prefill);
    } catch (err) {
      const error = toInferenceError(err);
      for (const s of rows) this.fail(s, error, 'BACKEND');
      // A prefill's rows that did not join the active set yet hold slots that `leave` will not see.
      if (prefill) for (const s of rows) if (!e.active.includes(s)) e.slab.release(s.slot);
    }
  }

  private async runStep(e: Engine, rows: Generation[], prefill: boolean): Promise<void> {
    const t0 = nowUs();
    const stepRows: StepRow[] = rows.map((s) => ({ slot: s.slot, cached: s.cached, tokens: prefill ? s.params.prompt : [s.lastToken] }));
    const built = e.buffers.build(stepRows, e.slab);
    const t1 = nowUs();
    const result = await this.execute(e.instance, built.inputs);
    const t2 = nowUs();
    const [logits, present] = result.outputs.map((t) => t.data as Float32Array);
    const T = built.tokens;
    const V = this.g.vocab;
    const { layers, heads, headDim } = e.slab.layout;
    if (logits.length !== rows.length * T * V || present.length !== rows.length * layers * 2 * heads * T * headDim) {
      throw new InferenceError('INTERNAL', `model '${this.model.model}': the step model's outputs do not have the shapes its signature declares`);
    }
    e.slab.scatter(present, T, stepRows.map((r) => r.slot), stepRows.map((r) => r.cached), stepRows.map((r) => r.tokens.length));
    const t3 = nowUs();
    this.stats.steps++;
    if (prefill) this.stats.prefills++;
    this.stats.rows += rows.length;
    this.stats.copyUs += t1 - t0 + (t3 - t2);
    this.stats.executeUs += t2 - t1;
    const m = this.m;
    if (m) {
      m.execCount.inc();
      m.inferenceCount.inc(rows.length);
      m.batchSize.observe(rows.length);
      m.batchStats.record(rows.length, result.timing.inputUs, result.timing.inferUs, result.timing.outputUs);
    }
    if (prefill) for (const s of rows) e.active.push(s);
    for (let b = 0; b < rows.length; b++) {
      const s = rows[b];
      s.cached += stepRows[b].tokens.length;
      if (s.settled) continue;
      const token = s.sample(logits, (b * T + stepRows[b].tokens.length - 1) * V, V);
      this.emit(s, token);
    }
  }

  private async execute(instance: ModelInstance, inputs: Tensor[]): Promise<ExecuteResult> {
    try {
      return await instance.execute(inputs, OUTPUTS);
    } catch (err) {
      // As the other schedulers: a step whose worker died under it runs once more on the replacement.
      if (!(err instanceof InstanceDiedError)) throw err;
      this.m?.batchRetries.inc();
      return instance.execute(inputs, OUTPUTS);
    }
  }

  /** Sends (or collects) one token; the last one settles the request. */
  private emit(s: Generation, token: number): void {
    s.generated++;
    s.lastToken = token;
    const eos = token === this.g.eos_token && !s.params.ignoreEos;
    const last = eos || s.generated >= s.params.maxTokens || s.cached >= this.g.max_length;
    if (s.sink) {
      const text = token < 256 && token !== this.g.eos_token ? Uint8Array.of(token) : EMPTY;
      const response: InferenceResponse = {
        id: s.request.id, model: this.model.model, version: this.model.version, outputs: this.outputs(s.request, Int32Array.of(token), text),
      };
      try {
        // Flow control (ResponseSink) is not followed: one slow reader must not stall its batch's other sequences,
        // so its tokens wait in the frontend's buffers. A sink that fails fails its request.
        const wait = s.sink(response, last);
        if (wait) wait.catch((err: unknown) => this.fail(s, toInferenceError(err), 'OTHER'));
      } catch (err) {
        this.fail(s, toInferenceError(err), 'OTHER');
        return;
      }
    } else {
      s.collected.push(token);
    }
    if (last) this.succeed(s);
  }

  private outputs(request: InferenceRequest, ids: Int32Array, text: Uint8Array): Tensor[] {
    const all: Tensor[] = [
      { name: 'token_id', datatype: 'INT32', shape: [ids.length], data: ids },
      { name: 'text_output', datatype: 'BYTES', shape: [1], data: [text] },
    ];
    const asked = request.outputs;
    if (!asked || asked.length === 0) return all;
    return all.filter((t) => asked.some((o) => o.name === t.name));
  }

  private succeed(s: Generation): void {
    s.settled = true;
    if (s.onAbort) s.request.signal!.removeEventListener('abort', s.onAbort);
    if (this.m) {
      const dur = nowUs() - s.arrivalUs;
      this.m.success.inc();
      this.m.requestDurationUs.inc(dur);
      this.m.requestLatencyUs.observe(dur);
    }
    s.resolve();
  }

  private fail(s: Generation, error: unknown, reason: FailureReason): void {
    if (s.settled) return;
    s.settled = true;
    if (s.onAbort) s.request.signal!.removeEventListener('abort', s.onAbort);
    if (this.m) {
      this.m.failure[reason].inc();
      this.m.failureDurationUs.inc(nowUs() - s.arrivalUs);
    }
    s.reject(error);
  }

  private idle(): boolean {
    return this.queued === 0 && this.engines.every((e) => !e.running && e.active.length === 0);
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }
}
