/**
 * One ONNX model instance: an InferenceSession in its own worker thread, driven from the main thread.
 * The main thread only copies inputs into the instance's transfer buffer and wraps the outputs it gets back.
 *
 * Lifecycle (health, InstanceLifecycle in ../instance-lifecycle.ts, shared with JS instances): a worker that dies
 * on its own (a crash, out of memory, the thread ended) takes only its run with it: that run rejects with
 * InstanceDiedError, the instance goes RESTARTING while a new worker loads the session (calls meanwhile wait for
 * it), then READY again; past the restart budget it is FAILED and calls are refused with the reason. A run in
 * flight is never left hanging. Timing: inputUs = packing here + building ORT
 * tensors in the worker; inferUs = session.run; outputUs = readying outputs in the worker + wrapping them here.
 * The thread hop itself (~20 µs each way and back on an idle core) is in none of the three.
 *
 * Process exit: ending a worker while it is inside session.run aborts the whole process (onnxruntime-node throws
 * a C++ Napi::Error into a terminating thread; measured with 1.30, `process.exit` or `Worker.terminate()` during a
 * run → SIGABRT once the run returns, and the thread computes to the end meanwhile). Owners of instances must
 * `await unload()` before exiting; unload waits for the native run to return.
 *
 * Execute timeout (`parameters { key: "execute_timeout_ms" }`): a run cannot be interrupted (see above), so a run
 * that overruns is abandoned, not ended: its batch fails at once (INTERNAL, naming the limit), the instance gets a
 * new worker as for a death (same restart budget), and the old worker is left to finish its run — still using its
 * CPU — and is closed when the run returns (`retire`).
 */
import type { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { type Tensor, InferenceError, internal, unavailable } from '../../core/index.js';
import type { ExecuteResult, InstanceHealth, InstanceSpec, ModelInstance } from '../backend.js';
import { executeTimeoutMs } from '../execute-timeout.js';
import { InstanceLifecycle } from '../instance-lifecycle.js';
import { missingProviderReason } from './execution-providers.js';
import { cacheEntryFor } from './model-cache-key.js';
import { sessionPlanFor } from './session-options.js';
import { startWorker } from '../../core/start-worker.js';
import { packInputs, transferSize, unpackOutput } from './tensor-transfer.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/** How long unload waits for an idle worker to release its session before terminating it anyway. */
const CLOSE_GRACE_MS = 2000;

type Ready = Extract<FromWorker, { kind: 'ready' }>;

/** Starts a session worker and waits until it has loaded the model; rejects with why it could not. */
async function loadWorker(spec: InstanceSpec, init: WorkerInit): Promise<{ worker: Worker; ready: Ready }> {
  const worker = startWorker('./session-worker', import.meta.url, { workerData: init }, 'compute');
  const first = await new Promise<FromWorker | Error>((resolve) => {
    const onMessage = (msg: FromWorker): void => { cleanup(); resolve(msg); };
    const onError = (err: Error): void => { cleanup(); resolve(err); };
    const onExit = (code: number): void => { cleanup(); resolve(new Error(`worker exited (code ${code}) before loading`)); };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  if (first instanceof Error || first.kind !== 'ready') {
    await worker.terminate();
    const why = first instanceof Error ? first.message : first.kind === 'loadFailed' ? first.message : `unexpected '${first.kind}'`;
    throw new Error(`cannot load ${spec.modelPath}: ${why}`);
  }
  return { worker, ready: first };
}

interface PendingRun {
  readonly id: number;
  readonly packUs: number;
  readonly resolve: (r: ExecuteResult) => void;
  readonly reject: (e: InferenceError) => void;
  /** The execute_timeout_ms timer. */
  timer?: NodeJS.Timeout;
}

export class OnnxInstance implements ModelInstance {
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly life: InstanceLifecycle<Worker>;
  private pending: PendingRun | undefined;
  private nextId = 1;
  /** The instance's transfer buffer; undefined while the worker holds it (during a run) or before first use. */
  private buffer: ArrayBuffer | undefined;
  /** Id of the run the worker is inside (its caller may already be rejected); unload waits for it. */
  private busy: number | undefined;
  private exited = false;
  /** Undefined from an overrun (its worker retired) until the replacement is adopted. */
  private worker: Worker | undefined;
  /** Workers left to finish an overrun run: each settles once its worker has ended. */
  private readonly retired = new Set<Promise<void>>();
  private unloading: Promise<void> | undefined;
  private idle: (() => void) | undefined;
  private closed: (() => void) | undefined;

  private constructor(private readonly spec: InstanceSpec, private readonly init: WorkerInit, private readonly timeoutMs: number,
    first: { worker: Worker; ready: Ready }) {
    this.name = spec.instanceName;
    this.inputNames = first.ready.inputNames;
    this.outputNames = first.ready.outputNames;
    this.life = new InstanceLifecycle(`model '${spec.model}' instance '${spec.instanceName}'`, {
      start: async () => (await loadWorker(this.spec, this.init)).worker,
      adopt: (w) => this.adopt(w),
      discard: (w) => w.terminate(),
    });
    this.adopt(first.worker);
  }

  get health(): InstanceHealth {
    return this.life.health;
  }

  get healthReason(): string {
    return this.life.reason;
  }

  onHealthChange(listener: (health: InstanceHealth) => void): () => void {
    return this.life.onChange(listener);
  }

  /** Drives `worker` from now on; events of earlier (dead) workers are ignored. */
  private adopt(worker: Worker): void {
    this.worker = worker;
    this.exited = false;
    this.buffer = undefined;
    worker.on('message', (msg: FromWorker) => { if (worker === this.worker) this.onMessage(msg); });
    worker.on('error', (err) => { if (worker === this.worker) this.died(`its worker crashed: ${err.message}`); });
    worker.on('exit', (code) => { if (worker === this.worker) this.died(`its worker exited (code ${code})`); });
  }

  /** Starts the worker and loads the session; rejects with why (bad option, missing provider, bad model file). */
  static async create(spec: InstanceSpec): Promise<OnnxInstance> {
    const where = `model '${spec.model}' version ${spec.version} instance '${spec.instanceName}'`;
    let plan;
    let timeoutMs;
    try {
      plan = sessionPlanFor(spec);
      timeoutMs = executeTimeoutMs(spec);
    } catch (err) {
      throw unavailable(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const missing = missingProviderReason(plan.providers);
    if (missing !== undefined) throw unavailable(`${where}: ${missing}`);
    try {
      const cache = spec.modelCache && await cacheEntryFor(spec.modelPath, plan, spec.modelCache, `${spec.model}-${spec.version}`);
      const init: WorkerInit = { modelPath: spec.modelPath, options: plan.options, cache };
      return new OnnxInstance(spec, init, timeoutMs, await loadWorker(spec, init));
    } catch (err) {
      throw unavailable(`${where}: ${(err as Error).message}`);
    }
  }

  execute(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<ExecuteResult> {
    const wait = this.life.ready();
    if (wait !== undefined) return wait.then(() => this.execute(inputs, outputNames));
    if (this.pending !== undefined) {
      return Promise.reject(internal(`instance '${this.name}': execute called while a run is in flight (one at a time)`));
    }
    let wire;
    const t0 = performance.now();
    try {
      const need = transferSize(inputs);
      if (this.buffer === undefined || this.buffer.byteLength < need) {
        // Grow by doubling so a slowly rising batch size does not reallocate on every call.
        this.buffer = new ArrayBuffer(Math.max(need, 2 * (this.buffer?.byteLength ?? 0), 64));
      }
      wire = packInputs(inputs, this.buffer);
    } catch (err) {
      return Promise.reject(err instanceof InferenceError ? err : internal(`instance '${this.name}': ${String(err)}`, err));
    }
    const packUs = (performance.now() - t0) * 1000;
    const id = this.nextId++;
    const buffer = this.buffer;
    this.buffer = undefined;
    const msg: ToWorker = { kind: 'run', id, buffer, inputs: wire, outputNames: [...outputNames] };
    const worker = this.worker!;
    return new Promise<ExecuteResult>((resolve, reject) => {
      const run: PendingRun = { id, packUs, resolve, reject };
      this.pending = run;
      this.busy = id;
      try {
        worker.postMessage(msg, [buffer]);
        if (this.timeoutMs > 0) run.timer = setTimeout(() => this.overran(worker, id), this.timeoutMs);
      } catch (err) {
        // Nothing was sent: the instance stays idle and keeps its buffer.
        this.pending = undefined;
        this.busy = undefined;
        this.buffer = buffer.byteLength > 0 ? buffer : undefined;
        reject(internal(`instance '${this.name}': cannot send the run to its worker: ${String(err)}`, err));
      }
    });
  }

  private onMessage(msg: FromWorker): void {
    if (msg.kind === 'closed') {
      this.closed?.();
      return;
    }
    if (msg.kind !== 'result' && msg.kind !== 'failed') return;
    if (msg.id === this.busy) {
      this.busy = undefined;
      this.buffer = msg.buffer;
      this.idle?.();
    }
    const p = this.pending;
    if (p === undefined || p.id !== msg.id) return; // its caller was already rejected (unload)
    this.pending = undefined;
    clearTimeout(p.timer);
    if (msg.kind === 'failed') {
      p.reject(new InferenceError(msg.code, msg.message));
      return;
    }
    const t0 = performance.now();
    const outputs = msg.outputs.map(unpackOutput);
    const unpackUs = (performance.now() - t0) * 1000;
    p.resolve({
      outputs,
      timing: {
        inputUs: p.packUs + msg.timing.inputUs,
        inferUs: msg.timing.inferUs,
        outputUs: msg.timing.outputUs + unpackUs,
      },
    });
  }

  /** The worker is gone: reject the in-flight run (never leave it hanging); the lifecycle decides on a new worker. */
  private died(reason: string): void {
    if (this.exited) return; // 'error' and then 'exit' of one worker: one death
    this.exited = true;
    this.busy = undefined;
    this.idle?.();
    this.closed?.();
    const p = this.pending;
    this.pending = undefined;
    if (p) clearTimeout(p.timer);
    const err = this.life.died(reason);
    p?.reject(err);
  }

  /**
   * Run `id` on `worker` passed execute_timeout_ms. Its batch fails now (INTERNAL, not retried: it is what kept the
   * worker busy); the worker is retired and the lifecycle starts a replacement, as for a death.
   */
  private overran(worker: Worker, id: number): void {
    const p = this.pending;
    if (worker !== this.worker || p === undefined || p.id !== id) return;
    this.pending = undefined;
    this.busy = undefined;
    this.worker = undefined;
    this.retire(worker, id);
    const limit = `execute took longer than ${this.timeoutMs} ms (execute_timeout_ms)`;
    const err = this.life.died(`${limit}: its run cannot be interrupted, so its worker is left to finish it and then ends`);
    p.reject(this.life.health === 'UNLOADED' ? err
      : new InferenceError('INTERNAL', `model '${this.spec.model}' (${this.name}): ${limit}; the batch was abandoned`));
  }

  /**
   * Ends `worker` once its run `id` has returned: terminating it inside session.run would abort the process. Until
   * then the thread keeps computing (ORT has no way to stop a run from outside it). Unload waits for these.
   */
  private retire(worker: Worker, id: number): void {
    const ended = new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const end = (): void => {
        worker.off('message', onMessage);
        clearTimeout(timer);
        void worker.terminate().finally(resolve);
      };
      const onMessage = (msg: FromWorker): void => {
        if ((msg.kind === 'result' || msg.kind === 'failed') && msg.id === id) {
          // Out of session.run: let it release its session, then end it (at most CLOSE_GRACE_MS later).
          timer = setTimeout(end, CLOSE_GRACE_MS);
          worker.postMessage({ kind: 'close' } satisfies ToWorker);
        } else if (msg.kind === 'closed') end();
      };
      worker.on('message', onMessage);
      worker.once('exit', () => { worker.off('message', onMessage); clearTimeout(timer); resolve(); });
    });
    this.retired.add(ended);
    void ended.then(() => this.retired.delete(ended));
  }

  unload(): Promise<void> {
    this.unloading ??= this.shutDown();
    return this.unloading;
  }

  private async shutDown(): Promise<void> {
    const settled = this.life.unload(); // a worker loading now is discarded when it is ready
    const p = this.pending;
    this.pending = undefined;
    if (p) clearTimeout(p.timer);
    p?.reject(unavailable(`instance '${this.name}' was unloaded`));
    await settled;
    // Never terminate a worker inside session.run: when the native run returns into a terminated thread,
    // onnxruntime-node throws a C++ Napi::Error and the whole process aborts (seen with 1.30). So wait for the
    // run to end (its caller is already rejected), let the worker release its session, then end it.
    if (this.busy !== undefined) await new Promise<void>((resolve) => { this.idle = resolve; });
    const worker = this.worker;
    if (worker !== undefined) {
      if (!this.exited) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_GRACE_MS);
          this.closed = () => { clearTimeout(timer); resolve(); };
          worker.postMessage({ kind: 'close' } satisfies ToWorker);
        });
      }
      await worker.terminate();
    }
    // Runs abandoned for overrunning execute_timeout_ms end when they end; ending their threads sooner would abort.
    await Promise.all(this.retired);
  }
}
