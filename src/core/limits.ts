/** Input limits, enforced by frontends while decoding and by the server for in-process callers. */
export interface RequestLimits {
  /** Largest request body accepted, in bytes (HTTP 413 past it). */
  readonly maxBodyBytes: number;
  /** Largest element count of one tensor. */
  readonly maxTensorElements: number;
  /** Largest rank (number of dimensions) of one tensor. */
  readonly maxRank: number;
  /** Infer requests in progress (admitted, not yet answered) in the whole server; past it: 503 + Retry-After. */
  readonly maxInflightRequests: number;
  /** Bytes of infer request bodies a frontend holds at once (being read, queued or running); past it: 503. */
  readonly maxInflightBytes: number;
  /** Open client connections per frontend; past it, new connections are closed at once. */
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: RequestLimits = Object.freeze({
  maxBodyBytes: 64 * 1024 * 1024,
  maxTensorElements: 64 * 1024 * 1024,
  maxRank: 16,
  maxInflightRequests: 16_384,
  maxInflightBytes: 1024 * 1024 * 1024,
  maxConnections: 8192,
});
