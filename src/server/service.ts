import type { InferenceError, InferenceRequest, InferenceResponse, ModelConfig, RequestLimits } from '../core/index.js';
import type { ModelStatisticsResponse } from '../metrics/model-statistics.js';
import type { ResponseSink } from '../scheduler/scheduler.js';

export type { ResponseSink } from '../scheduler/scheduler.js';

export type {
  InferBatchStatistics, InferStatistics, ModelStatistics, ModelStatisticsResponse, StatisticDuration,
} from '../metrics/model-statistics.js';

/** A model version's lifecycle, one state at a time (Triton's model_lifecycle). */
export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING';

export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** With the batch dimension as -1 when the model batches. */
  readonly shape: readonly number[];
}

/** The v2 model metadata response. */
export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

/** One row of Triton's repository index. */
export interface RepositoryIndexEntry {
  readonly name: string;
  readonly version?: string;
  readonly state: ModelState;
  /** Why a model is UNAVAILABLE ('' otherwise). */
  readonly reason: string;
}

/**
 * What a frontend knows of an infer request before decoding its tensors: where it goes, and — once the request's
 * header is parsed — its priority, timeout and rows. `priority: 1` with nothing else asks whether the most favoured
 * request the model could get would be admitted (before the body is read).
 */
export interface AdmissionProbe {
  readonly model: string;
  readonly version?: string;
  /** Triton's priority (1 = highest; 0 or absent = the model's default level). */
  readonly priority?: number;
  readonly timeoutUs?: number;
  /** When the frontend received the request (µs, performance.now() × 1000). */
  readonly receivedUs: number;
  /** Rows along the batch dimension, when known (else 1). */
  readonly rows?: number;
}

/**
 * What frontends (HTTP, gRPC) and in-process callers see of the server. Frontends speak protocol and call only
 * this; they know nothing of batching or backends.
 *
 * Errors: methods throw / reject with InferenceError (NOT_FOUND for unknown models or versions, UNAVAILABLE for
 * models not ready, INVALID_ARGUMENT for requests that do not match the model).
 */
export interface InferenceService {
  readonly limits: RequestLimits;
  infer(request: InferenceRequest): Promise<InferenceResponse>;
  /**
   * Streaming inference (gRPC ModelStreamInfer, HTTP generate_stream): each response goes to `sink` as produced; the
   * promise resolves after the last and rejects with the request's error (also after some responses). An ordinary
   * model answers once, with `final` true; a decoupled one zero or more times (Scheduler.enqueueStream).
   */
  inferStream(request: InferenceRequest, sink: ResponseSink): Promise<void>;
  /**
   * The refusal an infer request would get now — overload (server-wide bounds, the model's queue, the predicted wait
   * past its deadline) or SLO shedding of its priority — or undefined. Frontends call it before decoding tensors, so
   * that refusing costs little; it changes nothing, and `infer` checks again. Unknown models pass (infer answers).
   */
  admit(probe: AdmissionProbe): InferenceError | undefined;
  isLive(): boolean;
  /** All models that should be ready are ready, and the server is not shutting down. */
  isReady(): boolean;
  serverMetadata(): ServerMetadata;
  modelMetadata(name: string, version?: string): ModelMetadata;
  modelConfig(name: string, version?: string): Readonly<ModelConfig>;
  /** false for unknown models too. */
  isModelReady(name: string, version?: string): boolean;
  repositoryIndex(options?: { readyOnly?: boolean }): RepositoryIndexEntry[];
  /**
   * Triton's statistics extension (HTTP `GET /v2/models[/{m}[/versions/{v}]]/stats`, gRPC ModelStatistics): one
   * entry per READY version — of every model when `name` is absent or '', of the model when `version` is absent or
   * '' — shaped as grpc_service.proto's ModelStatisticsResponse (snake_case fields, numbers as JS numbers: see
   * src/metrics/model-statistics.ts). Throws NOT_FOUND for an unknown model or version, UNAVAILABLE for a version
   * (or a model with no version) that is not READY, INVALID_ARGUMENT for a bad name or version, or a version
   * without a name. Semantics: docs/statistics.md.
   */
  modelStatistics(name?: string, version?: string): ModelStatisticsResponse;
  /**
   * The repository API (docs/lifecycle.md): allowed in explicit model control mode only (else PERMISSION_DENIED);
   * `authorization` is the caller's `Authorization` value, checked against the control token when the server has
   * one (else UNAUTHENTICATED).
   */
  loadModel(name: string, authorization?: string): Promise<void>;
  unloadModel(name: string, authorization?: string): Promise<void>;
  /** Stop accepting, finish in-flight requests, unload everything. */
  close(): Promise<void>;
}
