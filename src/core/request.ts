import type { CancelSignal } from './cancel.js';
import type { Tensor } from './tensor.js';

export type ParameterValue = string | number | boolean;
export type Parameters = Record<string, ParameterValue>;

/** An output the client asked for; `binary` is the v2 binary-data extension's per-output flag (frontend concern). */
export interface RequestedOutput {
  readonly name: string;
  readonly parameters?: Parameters;
}

/**
 * One inference request, already decoded by a frontend (or built by an in-process caller).
 * Tensors' data arrays may be views into the request body: nobody may mutate them.
 */
export interface InferenceRequest {
  readonly id?: string;
  readonly model: string;
  /** A version number as a string; absent = the version policy's choice (latest ready). */
  readonly version?: string;
  readonly inputs: readonly Tensor[];
  /** Absent or empty = all outputs. */
  readonly outputs?: readonly RequestedOutput[];
  /** Priority level, 1 = highest (Triton's convention); 0/absent = the model's default. */
  readonly priority?: number;
  /** Queue timeout in microseconds (Triton's `timeout` parameter); absent = the model's default policy. */
  readonly timeoutUs?: number;
  readonly parameters?: Parameters;
  /**
   * When a frontend received the request, in µs on performance.now()'s clock: its timeout counts from here, so time
   * spent reading and decoding it counts too. Absent = from when the scheduler enqueues it.
   */
  readonly receivedUs?: number;
  /** Aborted when the client goes away: the scheduler drops the request if it has not started. */
  readonly signal?: CancelSignal;
}

export interface InferenceResponse {
  readonly id?: string;
  readonly model: string;
  readonly version: string;
  readonly outputs: Tensor[];
  readonly parameters?: Parameters;
}
