/** Input limits, enforced by frontends while decoding and by the server for in-process callers. */
export interface RequestLimits {
  /** Largest request body accepted, in bytes (HTTP 413 past it). */
  readonly maxBodyBytes: number;
  /** Largest element count of one tensor. */
  readonly maxTensorElements: number;
  /** Largest rank (number of dimensions) of one tensor. */
  readonly maxRank: number;
}

export const DEFAULT_LIMITS: RequestLimits = Object.freeze({
  maxBodyBytes: 64 * 1024 * 1024,
  maxTensorElements: 64 * 1024 * 1024,
  maxRank: 16,
});
