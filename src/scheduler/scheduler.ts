import type { WarmupSample } from './warm-up.js';
import type { InferenceError, InferenceRequest, InferenceResponse, ModelConfig } from '../core/index.js';
import type { ModelInstance } from '../backends/backend.js';

/**
 * Receives a decoupled request's responses, in order (Triton's response factory). `final`: nothing follows this one
 * (Triton's TRITONSERVER_RESPONSE_COMPLETE_FINAL sent with it). A producer that learns it is done only after its last
 * response (a generator that returns) sends no final response: the returned promise settling says so, and the
 * frontend then sends the final flag alone where its protocol can (gRPC's empty final response).
 *
 * Flow control (added by issue 18 step 3 to the contract of 02e3529; a sink that returns nothing is unaffected): a
 * sink whose consumer cannot take more now (a client that does not read, its socket's buffer full) returns a promise,
 * and the producer makes no further response until it settles. Producers that cannot wait may ignore it.
 */
export type ResponseSink = (response: InferenceResponse, final: boolean) => void | Promise<void>;

/** The model version a scheduler serves: its frozen config and its loaded instances. */
export interface SchedulerModel {
  readonly model: string;
  readonly version: string;
  readonly config: Readonly<ModelConfig>;
  readonly instances: readonly ModelInstance[];
}

/** What `Scheduler.probe` needs of a request: what the frontend knows before decoding its tensors. */
export interface SchedulerProbe {
  /** As InferenceRequest.priority (1 = highest; 0/absent = the model's default level). */
  readonly priority?: number;
  /** As InferenceRequest.timeoutUs. */
  readonly timeoutUs?: number;
  /** As InferenceRequest.receivedUs (µs, performance.now()'s clock). */
  readonly receivedUs?: number;
  /** Its batch rows, when known (else 1). */
  readonly rows?: number;
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
  /**
   * Decoupled models (`model_transaction_policy { decoupled: true }`, docs/streaming.md): zero or more responses per
   * request, each passed to `sink` as it is produced. The promise resolves once no response follows, and rejects (as
   * `enqueue` does) when the request fails — also after some responses went out. `request.signal` aborting stops the
   * work between responses (a generator is not resumed, a generation slot is freed) and rejects CANCELLED. Schedulers
   * of ordinary models do not have it (the server calls `enqueue` and sends the one response as final).
   */
  enqueueStream?(request: InferenceRequest, sink: ResponseSink): Promise<void>;
  /** Refuse new requests (UNAVAILABLE), finish everything queued or running, then resolve. */
  drain(): Promise<void>;
  /** Requests waiting (not yet running). */
  readonly pendingCount: number;
  /**
   * Optional: run warm-up batches before live traffic (the server awaits it before marking the version READY). With
   * `samples` (the config's model_warmup), each instance runs each sample `count` times, and a failing sample rejects
   * (the load fails); without, the automatic warm-up runs what it can synthesize and never rejects.
   */
  warmUp?(samples?: readonly WarmupSample[]): Promise<void>;
  /**
   * Would a request of this priority be admitted now? The refusal (QUEUE_FULL with retryAfterSec; UNAVAILABLE while
   * draining), or undefined. Changes nothing. rows: its batch rows when known (else 1). Its deadline is counted as
   * `enqueue` counts it (the level's timeout or the request's own where allowed, from min(now, receivedUs)), and
   * checked against the predicted wait only on levels whose timeout_action is REJECT. A request the probe lets through
   * may still be refused by `enqueue` (the queue moves in between).
   */
  probe?(p: SchedulerProbe): InferenceError | undefined;
}
