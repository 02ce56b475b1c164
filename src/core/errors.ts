/**
 * The error catalog. Every error the server returns is an InferenceError with a stable code;
 * each code maps to one HTTP status and one gRPC status. Keep docs/errors.md in sync (a test checks it).
 */

export const ERROR_CODES = {
  /** Malformed request: shape, datatype, data length, unknown input/output, bad JSON or binary framing. */
  INVALID_ARGUMENT: { http: 400, grpc: 3 },
  /** Unknown model or version. */
  NOT_FOUND: { http: 404, grpc: 5 },
  /** Request body or a tensor over a configured limit. */
  PAYLOAD_TOO_LARGE: { http: 413, grpc: 8 },
  /** Admission refused: the queue is full or the predicted wait exceeds the deadline. Retry later. */
  QUEUE_FULL: { http: 429, grpc: 8 },
  /** The request's deadline passed (or cannot be met) before it ran. */
  DEADLINE_EXCEEDED: { http: 504, grpc: 4 },
  /** The model exists but is not ready (loading, failed, unloading) or the server is shutting down. */
  UNAVAILABLE: { http: 503, grpc: 14 },
  /** The client went away before the request ran. */
  CANCELLED: { http: 499, grpc: 1 },
  /** A control request (load/unload) without the control token, or with a wrong one. */
  UNAUTHENTICATED: { http: 401, grpc: 16 },
  /** A control request (load/unload) the server's model control mode does not allow. */
  PERMISSION_DENIED: { http: 403, grpc: 7 },
  /** A feature the request asks for is not supported. */
  UNIMPLEMENTED: { http: 501, grpc: 12 },
  /** A bug or a backend failure. */
  INTERNAL: { http: 500, grpc: 13 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class InferenceError extends Error {
  readonly code: ErrorCode;
  /** Seconds after which a retry may succeed (sent as Retry-After), for refusals. */
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSec?: number }) {
    // Only INTERNAL errors (bugs, backend failures) carry a stack: the rest are answers to clients, and capturing a
    // stack cost ~4 µs of a ~50 µs refusal under overload (bench/overload.ts, profiled).
    const stackLimit = Error.stackTraceLimit;
    if (code !== 'INTERNAL') Error.stackTraceLimit = 0;
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = stackLimit;
    this.name = 'InferenceError';
    this.code = code;
    this.retryAfterSec = options?.retryAfterSec;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get grpcStatus(): number {
    return ERROR_CODES[this.code].grpc;
  }
}

export const invalidArgument = (msg: string) => new InferenceError('INVALID_ARGUMENT', msg);
export const notFound = (msg: string) => new InferenceError('NOT_FOUND', msg);
export const unavailable = (msg: string) => new InferenceError('UNAVAILABLE', msg);
export const internal = (msg: string, cause?: unknown) => new InferenceError('INTERNAL', msg, { cause });

/** Any thrown value as an InferenceError (unknown errors become INTERNAL, keeping the message). */
export function toInferenceError(err: unknown): InferenceError {
  if (err instanceof InferenceError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return internal(msg, err);
}
