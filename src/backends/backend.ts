import { InferenceError, type ModelConfig, type Tensor } from '../core/index.js';
import type { CancelSignal } from '../core/cancel.js';

/**
 * The instance's worker died while running the batch (a crash, out of memory, the thread ended). The instance is
 * replacing it; the batch did not run to completion and may be run again once (the scheduler does).
 */
export class InstanceDiedError extends InferenceError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
    this.name = 'InstanceDiedError';
  }
}

/**
 * The health of one instance, one enum (the instance's own lifecycle; the model version's is ModelState):
 * - READY: takes a batch now.
 * - RESTARTING: its worker died and a new one is loading; execute waits for it (no call is refused for this).
 * - FAILED: it cannot run: its worker died too often within the restart window, or a replacement could not load.
 *   execute rejects UNAVAILABLE at once with the reason; it tries once more when the restart budget allows.
 * - UNLOADED: after unload; execute rejects UNAVAILABLE.
 */
export type InstanceHealth = 'READY' | 'RESTARTING' | 'FAILED' | 'UNLOADED';

/**
 * Where ONNX sessions keep their optimized graphs between starts (InferenceServerOptions.modelCacheDir;
 * docs/model-cache.md). Backends that optimize nothing ignore it.
 */
export interface ModelCacheSettings {
  /** An existing folder, possibly shared with other servers. */
  readonly dir: string;
  /** The most the folder's entries may take; the least recently used beyond it are removed. */
  readonly maxBytes: number;
}

/** Everything a backend needs to create one instance of one model version. Frozen by the server. */
export interface InstanceSpec {
  readonly model: string;
  readonly version: string;
  /** `<repo>/<model>` */
  readonly modelDir: string;
  /** `<repo>/<model>/<version>` */
  readonly versionDir: string;
  /** The model file (for onnx: `<versionDir>/<default_model_filename>`). */
  readonly modelPath: string;
  readonly config: Readonly<ModelConfig>;
  /** e.g. `mlp_0_1` (group name, index within the group). */
  readonly instanceName: string;
  readonly kind: 'KIND_CPU' | 'KIND_GPU';
  /** GPU device id for KIND_GPU. */
  readonly gpu?: number;
  /** Threads this instance may use for compute (the server splits cores among instances). */
  readonly threads: number;
  /** The optimized-model cache; absent = none. */
  readonly modelCache?: ModelCacheSettings;
}

/** Time spent in each phase of one execute call, in microseconds (Triton's compute_input/infer/output). */
export interface ExecuteTiming {
  readonly inputUs: number;
  readonly inferUs: number;
  readonly outputUs: number;
}

export interface ExecuteResult {
  /** In the order of `outputNames`. */
  readonly outputs: Tensor[];
  readonly timing: ExecuteTiming;
}

/**
 * Receives one response of a decoupled request: its outputs (in the order of `outputNames`, checked against the
 * config), and the µs the model took to make it (since the previous one) and to hand its outputs over. A returned
 * promise pauses the model (no next response is asked for) until it settles: ResponseSink's flow control.
 */
export type StreamItemSink = (outputs: Tensor[], timing: { readonly inferUs: number; readonly outputUs: number }) => void | Promise<void>;

/**
 * One loaded copy of a model that runs one batch at a time.
 *
 * Ownership contract:
 * - `execute` is called by one caller at a time (the scheduler's instance pool); a second call before the first
 *   settles is a bug and rejects.
 * - `execute` does not keep, mutate or detach the caller's input buffers after it returns its promise: the caller may
 *   reuse them as soon as the promise settles (it copies or shares what it sends to a worker).
 * - The output tensors are fresh and belong to the caller.
 * - Input tensors are whole batches: when `max_batch_size > 0` dim 0 is the batch dimension, already concatenated.
 * - Rejects with an InferenceError (INTERNAL for backend failures, INVALID_ARGUMENT for inputs the runtime refuses).
 *   A rejection leaves the instance usable unless `unload` follows.
 * - A worker that dies does not take the instance with it: the run in flight rejects with InstanceDiedError (never
 *   hangs) and the instance starts a new worker at once (calls meanwhile wait for it), within a bounded restart rate
 *   (src/backends/instance-lifecycle.ts); past it, calls reject UNAVAILABLE saying why, and `health` is FAILED.
 */
export interface ModelInstance {
  readonly name: string;
  /**
   * Where the instance stands (InstanceHealth). Absent: always READY (an instance with no worker to lose, such as
   * an in-process stand-in). Readiness of the model version reads it (src/server/model-version.ts).
   */
  readonly health?: InstanceHealth;
  /** Why `health` is not READY ('' while READY). */
  readonly healthReason?: string;
  /**
   * Calls `listener` after each change of `health`, synchronously, in order; returns a function that stops it.
   * Listeners must not throw.
   */
  onHealthChange?(listener: (health: InstanceHealth) => void): () => void;
  execute(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<ExecuteResult>;
  /**
   * Decoupled models (docs/streaming.md), backends that can: runs one request that answers zero or more times, each
   * response to `onItem` as it is produced, in order; resolves with the summed timing once no response follows, and
   * rejects as `execute` does (also after some responses). `signal` aborting stops the model between responses; the
   * promise settles only once the model has stopped, so the instance is idle then. One call at a time, as `execute`.
   */
  executeStream?(inputs: readonly Tensor[], outputNames: readonly string[], onItem: StreamItemSink, signal?: CancelSignal): Promise<ExecuteTiming>;
  /** Frees the session and ends its worker. Pending calls reject with UNAVAILABLE. */
  unload(): Promise<void>;
}

/** What a backend can say about a model file before loading it (used to auto-complete configs). */
export interface ModelSignature {
  readonly inputs: readonly SignatureTensor[];
  readonly outputs: readonly SignatureTensor[];
}

export interface SignatureTensor {
  readonly name: string;
  /** v2 datatype name, e.g. FP32. */
  readonly datatype: string;
  /** -1 for a dynamic dimension. */
  readonly shape: readonly number[];
}

export interface Backend {
  /** `onnxruntime`, `js` */
  readonly name: string;
  /** Loads one instance; rejects with a message that says why (file, runtime error, missing execution provider). */
  createInstance(spec: InstanceSpec): Promise<ModelInstance>;
}
