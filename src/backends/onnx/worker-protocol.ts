/**
 * Messages between an OnnxInstance (main thread) and its session worker. One run is in flight at a time.
 *
 * Buffers: the instance owns one input ArrayBuffer. A `run` transfers it to the worker; the reply (`result` or
 * `failed`) transfers it back, so it is reused call after call with no allocation (it grows when a batch needs
 * more). It is not a SharedArrayBuffer because onnxruntime-node 1.30 refuses tensors over shared memory
 * ("Invalid argument" from session.run). Output data travels in ArrayBuffers that ORT allocated for this run,
 * transferred, never copied.
 */
import type { DataType, ErrorCode } from '../../core/index.js';
import type { CacheEntry } from './model-cache-key.js';
import type { SessionOptions } from './session-options.js';

export interface WorkerInit {
  readonly modelPath: string;
  readonly options: SessionOptions;
  /** The optimized-model cache entry to load from or fill (model-cache-key.ts); absent = no caching. */
  readonly cache?: CacheEntry;
}

/**
 * Where one input lies in the transfer buffer (offsets 8-byte aligned).
 * Numeric: the elements, `byteLength` = count × element size.
 * BYTES: (count + 1) Uint32 end offsets (element i is bytes [ends[i], ends[i+1]) after the table), then the bytes.
 */
export interface WireInput {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** One output: numeric data fills `buffer` exactly; BYTES uses the layout of WireInput from offset 0. */
export interface WireOutput {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly buffer: ArrayBuffer;
}

export interface PhaseTiming {
  readonly inputUs: number;
  readonly inferUs: number;
  readonly outputUs: number;
}

export type ToWorker =
  | { readonly kind: 'run'; readonly id: number; readonly buffer: ArrayBuffer; readonly inputs: readonly WireInput[]; readonly outputNames: readonly string[] }
  | { readonly kind: 'close' };

export type FromWorker =
  | { readonly kind: 'ready'; readonly inputNames: readonly string[]; readonly outputNames: readonly string[] }
  | { readonly kind: 'loadFailed'; readonly message: string }
  | { readonly kind: 'result'; readonly id: number; readonly buffer: ArrayBuffer; readonly outputs: readonly WireOutput[]; readonly timing: PhaseTiming }
  | { readonly kind: 'failed'; readonly id: number; readonly buffer: ArrayBuffer; readonly code: ErrorCode; readonly message: string }
  | { readonly kind: 'closed' };
