/**
 * One instance of a JS model: a worker thread that holds the model's module, driven from the server thread.
 *
 * Isolation: model code shares nothing with the server but messages. If the worker dies (an uncaught error in
 * model code, process.exit, out of memory), the batch it ran rejects with InstanceDiedError and a fresh worker
 * starts at once (initialize runs again; calls meanwhile wait for it), within the restart budget shared with ONNX
 * instances (InstanceLifecycle, ../instance-lifecycle.ts); past it the instance is FAILED and calls are refused
 * with the reason. So one bad input cannot take the model down for good, and none can leave a call hanging.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import {
  ERROR_CODES,
  InferenceError,
  elementCount,
  fromConfigName,
  internal,
  unavailable,
  type DataType,
  type Tensor,
  type TensorData,
} from '../../core/index.js';
import type { ExecuteResult, ExecuteTiming, InstanceHealth, InstanceSpec, ModelInstance, StreamItemSink } from '../backend.js';
import type { CancelSignal } from '../../core/cancel.js';
import { executeTimeoutMs } from '../execute-timeout.js';
import { InstanceLifecycle } from '../instance-lifecycle.js';
import type { JsModelContext } from './js-model.js';
import { packTensors, unpackTensor } from './tensor-wire.js';
import { STREAM_WINDOW, type FromWorker, type ToWorker } from './worker-protocol.js';
import { startWorker } from '../../core/start-worker.js';

/** `maxHeapMb`: the worker's V8 heap bound (`max_heap_mb`); past it the worker ends (ERR_WORKER_OUT_OF_MEMORY). */
const spawnWorker = (name: string, maxHeapMb: number): Worker => startWorker('./js-worker', import.meta.url,
  { name, ...(maxHeapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } } : {}) }, 'compute');

/** How long unload waits for the model's finalize() before ending the worker anyway. */
const FINALIZE_TIMEOUT_MS = 5000;

interface OutputSpec {
  readonly datatype: DataType;
  /** Full shape the output must have, batch dimension included (-1 = any). */
  readonly dims: readonly number[];
}

interface Running {
  readonly id: number;
  /** `result` for execute; `done` ends a stream. */
  readonly resolve: (msg: Extract<FromWorker, { type: 'result' | 'done' }>) => void;
  readonly reject: (err: InferenceError) => void;
  /** Streams only: each response as it comes. */
  readonly onItem?: (msg: Extract<FromWorker, { type: 'item' }>) => void;
}

export class JsModelInstance implements ModelInstance {
  readonly name: string;
  /** Set while READY (and during unload); undefined from a death until the replacement is adopted. */
  private worker: Worker | undefined;
  private running: Running | undefined;
  private nextId = 1;
  private readonly life: InstanceLifecycle<Worker>;
  private unloading: Promise<void> | undefined;
  private readonly outputs = new Map<string, OutputSpec>();
  private readonly batched: boolean;
  private readonly context: JsModelContext;
  /** `parameters { key: "execute_timeout_ms" }`; 0 = no limit. */
  private readonly timeoutMs: number;
  /**
   * `parameters { key: "max_heap_mb" }`: the worker's old-generation heap bound; 0 = Node's default (about a quarter of
   * the machine's memory, up to 4 GiB). A model that exhausts it ends its own worker (replaced, the batch retried
   * once); measured: a worker allocating without end dies after 0.2 s with 128 MB, after 10 s (~4 GiB) without.
   */
  private readonly maxHeapMb: number;

  constructor(private readonly spec: InstanceSpec) {
    this.name = spec.instanceName;
    this.batched = spec.config.max_batch_size > 0;
    this.timeoutMs = executeTimeoutMs(spec);
    const heap = spec.config.parameters?.max_heap_mb?.string_value;
    this.maxHeapMb = heap === undefined ? 0 : Number(heap);
    if (!Number.isInteger(this.maxHeapMb) || this.maxHeapMb < 0) throw new Error(`parameter max_heap_mb must be a whole number of MiB ≥ 0, got '${heap}'`);
    for (const o of spec.config.output) {
      const dt = fromConfigName(o.data_type);
      if (!dt) throw new Error(`output '${o.name}': unknown data_type ${o.data_type}`);
      this.outputs.set(o.name, { datatype: dt, dims: this.batched ? [-1, ...o.dims] : o.dims });
    }
    this.context = {
      model: spec.model,
      version: spec.version,
      config: spec.config,
      modelDir: spec.modelDir,
      versionDir: spec.versionDir,
      instanceName: spec.instanceName,
      threads: spec.threads,
    };
    this.life = new InstanceLifecycle(`model '${spec.model}' instance '${spec.instanceName}'`, {
      start: () => this.spawn(),
      adopt: (w) => this.adopt(w),
      discard: (w) => w.terminate(),
    });
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

  /** Starts the first worker and waits for the model's initialize(); rejects with its error. */
  async start(): Promise<void> {
    this.adopt(await this.spawn());
  }

  /** A new worker with the model loaded (initialize() done); rejects with why not. */
  private spawn(): Promise<Worker> {
    return new Promise<Worker>((resolve, reject) => {
      const w = spawnWorker(`js:${this.name}`, this.maxHeapMb);
      const onExit = (code: number) => reject(new Error(`worker exited (code ${code}) while loading`));
      w.once('error', reject);
      w.once('exit', onExit);
      w.once('message', (msg: FromWorker) => {
        w.off('error', reject);
        w.off('exit', onExit);
        if (msg.type !== 'ready') {
          void w.terminate();
          reject(new Error(msg.type === 'init-error' ? msg.message : `unexpected ${msg.type} while loading`));
          return;
        }
        resolve(w);
      });
      w.postMessage({ type: 'init', modelPath: this.spec.modelPath, context: this.context } satisfies ToWorker);
    });
  }

  /** From now on `w` is the instance's worker; events of earlier (dead) workers are ignored. */
  private adopt(w: Worker): void {
    this.worker = w;
    w.on('message', (m: FromWorker) => { if (this.worker === w) this.onMessage(m); });
    w.on('error', (err) => this.onDeath(w, `its worker failed: ${err.message}`));
    w.on('exit', (code) => this.onDeath(w, `its worker exited with code ${code}`));
  }

  execute(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<ExecuteResult> {
    const wait = this.life.ready();
    if (wait !== undefined) return wait.then(() => this.execute(inputs, outputNames));
    if (this.running) return Promise.reject(internal(`instance ${this.name}: execute called while busy`));
    return this.run(this.worker!, inputs, outputNames);
  }

  /** One batch on `worker` (READY, idle). Sets `running` before its first await, so a second call is refused. */
  private async run(worker: Worker, inputs: readonly Tensor[], outputNames: readonly string[]): Promise<ExecuteResult> {
    const t0 = performance.now();
    for (const n of outputNames) {
      if (!this.outputs.has(n)) throw new InferenceError('INVALID_ARGUMENT', `model '${this.spec.model}' has no output '${n}'`);
    }
    const packed = packTensors(inputs, true);
    const id = this.nextId++;
    const t1 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const result = await new Promise<Extract<FromWorker, { type: 'result' }>>((resolve, reject) => {
      this.running = { id, resolve: resolve as Running['resolve'], reject };
      worker.postMessage({ type: 'execute', id, inputs: packed.tensors, outputNames: [...outputNames] } satisfies ToWorker, packed.transfer);
      // A model stuck in a loop cannot be interrupted inside its thread: end the thread (a new one starts at once).
      // The batch itself fails (INTERNAL, not retried): it is what kept the worker busy.
      if (this.timeoutMs > 0) {
        timer = setTimeout(() => this.onDeath(worker, `execute took longer than ${this.timeoutMs} ms (execute_timeout_ms): worker ended`,
          this.modelError(`execute took longer than ${this.timeoutMs} ms (execute_timeout_ms): worker ended`)), this.timeoutMs);
      }
    }).finally(() => clearTimeout(timer));
    const t2 = performance.now();
    const byName = new Map(result.outputs.map((w) => [w.name, w]));
    const batch = this.batched ? (inputs[0]?.shape[0] ?? 0) : 0;
    const outputs = outputNames.map((n) => {
      const w = byName.get(n);
      if (!w) throw this.modelError(`execute() returned no output '${n}'`);
      return this.checkOutput(unpackTensor(w) as Tensor, batch);
    });
    const t3 = performance.now();
    return { outputs, timing: { inputUs: (t1 - t0) * 1000, inferUs: result.inferUs, outputUs: (t3 - t2) * 1000 } };
  }

  executeStream(inputs: readonly Tensor[], outputNames: readonly string[], onItem: StreamItemSink, signal?: CancelSignal): Promise<ExecuteTiming> {
    const wait = this.life.ready();
    if (wait !== undefined) return wait.then(() => this.executeStream(inputs, outputNames, onItem, signal));
    if (this.running) return Promise.reject(internal(`instance ${this.name}: executeStream called while busy`));
    return this.runStream(this.worker!, inputs, outputNames, onItem, signal);
  }

  /**
   * One decoupled request on `worker`: each `item` checked against the config and handed to `onItem` in order, then
   * the promise resolves at `done` with the summed timing. `signal` aborting asks the worker to stop between
   * responses (`cancel`); the promise still waits for the worker's `done`, so the instance is idle when it settles.
   * execute_timeout_ms bounds the wait for each response (a stream may run long, a silent model may not), except
   * while `onItem`'s promise holds the model paused. Flow control: the worker runs at most STREAM_WINDOW items ahead of
   * the acks sent from here; acks are held back while `onItem`'s promise is pending.
   */
  private async runStream(worker: Worker, inputs: readonly Tensor[], outputNames: readonly string[], onItem: StreamItemSink,
    signal: CancelSignal | undefined): Promise<ExecuteTiming> {
    const t0 = performance.now();
    for (const n of outputNames) {
      if (!this.outputs.has(n)) throw new InferenceError('INVALID_ARGUMENT', `model '${this.spec.model}' has no output '${n}'`);
    }
    const packed = packTensors(inputs, true);
    const id = this.nextId++;
    const batch = this.batched ? (inputs[0]?.shape[0] ?? 0) : 0;
    const inputUs = (performance.now() - t0) * 1000;
    let inferUs = 0;
    let outputUs = 0;
    let timer: NodeJS.Timeout | undefined;
    /** The run has settled: a consumer's promise settling later must not re-arm the timer or ack a stopped run. */
    let over = false;
    const arm = () => {
      if (this.timeoutMs <= 0 || paused || over) return;
      clearTimeout(timer);
      const why = `no response for ${this.timeoutMs} ms (execute_timeout_ms): worker ended`;
      timer = setTimeout(() => this.onDeath(worker, why, this.modelError(why)), this.timeoutMs);
    };
    const post = (m: ToWorker) => { if (this.worker === worker) worker.postMessage(m); };
    const onAbort = () => post({ type: 'cancel', id });
    /** While the consumer is full (flow control): acks are held back, and execute_timeout_ms does not count. */
    let paused = false;
    /** Items handed to onItem, and the count last acked to the worker (it runs at most STREAM_WINDOW ahead). */
    let taken = 0;
    let acked = 0;
    const ackTaken = () => {
      acked = taken;
      post({ type: 'ack', id, count: taken });
    };
    try {
      await new Promise<void>((resolve, reject) => {
        // A response that breaks the contract fails the request: the model is stopped (its iterator's return()
        // runs) and the request rejects when the worker says it has stopped, so the instance stays one-at-a-time.
        let broken: InferenceError | undefined;
        this.running = {
          id,
          resolve: () => (broken ? reject(broken) : resolve()),
          reject: (err) => reject(broken ?? err),
          onItem: (msg) => {
            if (broken) return;
            arm();
            const t1 = performance.now();
            let outputs: Tensor[];
            try {
              const byName = new Map(msg.outputs.map((w) => [w.name, w]));
              outputs = outputNames.map((n) => {
                const w = byName.get(n);
                if (!w) throw this.modelError(`execute() gave a response without output '${n}'`);
                return this.checkOutput(unpackTensor(w) as Tensor, batch);
              });
            } catch (err) {
              broken = err as InferenceError;
              onAbort();
              return;
            }
            const itemOutputUs = (performance.now() - t1) * 1000;
            inferUs += msg.inferUs;
            outputUs += itemOutputUs;
            taken++;
            const wait = onItem(outputs, { inferUs: msg.inferUs, outputUs: itemOutputUs });
            if (wait && !paused) {
              // The consumer is full: no ack until it has room, so the worker stops within its window.
              paused = true;
              clearTimeout(timer);
              const go = () => {
                if (over) return;
                paused = false;
                arm();
                ackTaken();
              };
              void wait.then(go, go);
            } else if (!paused && taken - acked >= STREAM_WINDOW / 2) ackTaken();
          },
        };
        worker.postMessage({ type: 'execute-stream', id, inputs: packed.tensors, outputNames: [...outputNames] } satisfies ToWorker, packed.transfer);
        arm();
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort);
      });
    } finally {
      over = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    return { inputUs, inferUs, outputUs };
  }

  /** The worker's answer must match the config: the declared datatype, the declared dims, the batch size. */
  private checkOutput(t: Tensor, batch: number): Tensor {
    const spec = this.outputs.get(t.name)!;
    if (t.datatype !== spec.datatype) throw this.modelError(`output '${t.name}' is ${t.datatype}, config says ${spec.datatype}`);
    const fits = t.shape.length === spec.dims.length && t.shape.every((d, i) => Number.isInteger(d) && d >= 0 && (spec.dims[i] === -1 || spec.dims[i] === d));
    if (!fits || (this.batched && t.shape[0] !== batch)) {
      const want = this.batched ? [batch, ...spec.dims.slice(1)] : spec.dims;
      throw this.modelError(`output '${t.name}' has shape [${t.shape}], config says [${want}]`);
    }
    if ((t.data as TensorData).length !== elementCount(t.shape)) {
      throw this.modelError(`output '${t.name}' has ${(t.data as TensorData).length} elements for shape [${t.shape}]`);
    }
    return t;
  }

  private modelError(what: string): InferenceError {
    return new InferenceError('INTERNAL', `model '${this.spec.model}' (${this.name}): ${what}`);
  }

  private onMessage(msg: FromWorker): void {
    const r = this.running;
    if (!r || (msg.type !== 'result' && msg.type !== 'error' && msg.type !== 'item' && msg.type !== 'done') || msg.id !== r.id) return;
    if (msg.type === 'item') {
      r.onItem?.(msg);
      return;
    }
    this.running = undefined;
    if (msg.type === 'result' || msg.type === 'done') {
      r.resolve(msg);
      return;
    }
    const code = msg.code !== undefined && msg.code in ERROR_CODES ? (msg.code as keyof typeof ERROR_CODES) : 'INTERNAL';
    const prefix = code === 'INTERNAL' ? `model '${this.spec.model}' (${this.name}) failed: ` : '';
    r.reject(new InferenceError(code, prefix + msg.message));
  }

  /**
   * The worker is gone (or ended for overrunning execute_timeout_ms): reject the batch it held (never leave it
   * hanging) with `runError` or what the lifecycle says (InstanceDiedError while a new worker starts at once).
   */
  private onDeath(w: Worker, why: string, runError?: InferenceError): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    void w.terminate();
    const r = this.running;
    this.running = undefined;
    const err = this.life.died(why);
    r?.reject(runError !== undefined && this.life.health !== 'UNLOADED' ? runError : err);
  }

  unload(): Promise<void> {
    this.unloading ??= this.shutDown();
    return this.unloading;
  }

  private async shutDown(): Promise<void> {
    const settled = this.life.unload(); // a worker starting now is discarded when it is ready
    const r = this.running;
    this.running = undefined;
    r?.reject(unavailable(`instance ${this.name} was unloaded`));
    await settled;
    const w = this.worker;
    if (!w) return;
    const finalized = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FINALIZE_TIMEOUT_MS);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'finalized') {
          clearTimeout(timer);
          resolve();
        }
      });
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    w.postMessage({ type: 'finalize' } satisfies ToWorker);
    await finalized;
    this.worker = undefined;
    await w.terminate();
  }
}
