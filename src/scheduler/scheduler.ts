import type { InferenceError, InferenceRequest, InferenceResponse, ModelConfig } from '../core/index.js';
import type { ModelInstance } from '../backends/backend.js';

/** The model version a scheduler serves: its frozen config and its loaded instances. */
export interface SchedulerModel {
  readonly model: string;
  readonly version: string;
  readonly config: Readonly<ModelConfig>;
  readonly instances: readonly ModelInstance[];
}

/**
 * A per-model scheduler: queues validated requests, forms batches and hands them to the model's instances.
 *
 * Ownership contract:
 * - After `enqueue`, the scheduler owns the request until the returned promise settles; it settles exactly once.
 * - The request has been validated by the server against the model config (names, datatypes, shapes).
 * - Rejections are InferenceErrors: QUEUE_FULL (admission refused, retry), DEADLINE_EXCEEDED (its timeout passed
 *   before it ran), CANCELLED (request.signal aborted before it ran), UNAVAILABLE (draining), or the backend's error
 *   (which fails every request of that batch, and no other).
 * - A request whose signal aborts after it started running still runs; its response is dropped by the caller.
 */
export interface Scheduler {
  enqueue(request: InferenceRequest): Promise<InferenceResponse>;
  /** Refuse new requests (UNAVAILABLE), finish everything queued or running, then resolve. */
  drain(): Promise<void>;
  /** Requests waiting (not yet running). */
  readonly pendingCount: number;
  /**
   * Would a request of this priority be admitted now? The refusal (QUEUE_FULL with retryAfterSec), or undefined.
   * Changes nothing. rows: its batch rows when known (else 1). latencyBoundUs: a bound from the server (the model's
   * latency target) that refuses like a REJECT timeout, whatever the level's timeout policy.
   */
  probe?(p: { priority?: number; timeoutUs?: number; receivedUs?: number; rows?: number; latencyBoundUs?: number }): InferenceError | undefined;
  /** Optional: run warm-up batches before live traffic (the server awaits it before marking the version READY). */
  warmUp?(): Promise<void>;
}
