/**
 * One measurement window: where completions land while it is the current window. Load drivers call `complete`
 * for every finished request; the step loop swaps windows at their boundaries, so each request counts in the window
 * it completed in.
 */
import type { HttpResult } from './http1-connection.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { ResponseChecker } from './response-check.js';

/** Receives every finished request (success or failure) from a load driver. */
export interface CompletionSink {
  /**
   * `set` is the index of the input set the request carried; latency in microseconds (open loop: from the intended
   * send time); `sendLagUs`, how much later than intended the client actually sent it (its own lag, part of latency).
   */
  complete(set: number, latencyUs: number, result: HttpResult, sendLagUs: number): void;
}

/** gRPC status names by code, for error kinds (grpc_RESOURCE_EXHAUSTED). */
const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** How a failed request is counted: network_<kind>, grpc_<STATUS> (gRPC calls), http_<status>. */
export function errorKindOf(result: HttpResult): string {
  if (result.status === 0) return `network_${result.networkError}`;
  if (result.grpcStatus !== undefined) return `grpc_${GRPC_CODES[result.grpcStatus] ?? result.grpcStatus}`;
  return `http_${result.status}`;
}

/** Drops everything: used during warm-up and drain. */
export const DISCARD: CompletionSink = { complete() {} };

export class MeasurementWindow implements CompletionSink {
  readonly latency = new LatencyHistogram();
  /** Successful requests (HTTP 200 and, when sampled, a matching answer). */
  ok = 0;
  /** Error counts by kind: `http_<status>`, `grpc_<STATUS>`, `network_<kind>`, `wrong_answer`. */
  readonly errors = new Map<string, number>();
  readonly startMs: number;
  endMs = 0;
  private seen = 0;

  constructor(private readonly checker: ResponseChecker | undefined, startMs = performance.now()) {
    this.startMs = startMs;
  }

  complete(set: number, latencyUs: number, result: HttpResult): void {
    if (result.status === 200) {
      const n = this.seen++;
      if (this.checker && this.checker.wants(n, set) && !this.checker.check(set, result)) {
        this.countError('wrong_answer');
        return;
      }
      this.ok++;
      this.latency.record(latencyUs);
      return;
    }
    this.countError(errorKindOf(result));
  }

  private countError(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  close(endMs = performance.now()): void {
    this.endMs = endMs;
  }

  get seconds(): number {
    return (this.endMs - this.startMs) / 1000;
  }

  /** Successful requests per second. */
  get throughput(): number {
    const s = this.seconds;
    return s > 0 ? this.ok / s : 0;
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }
}
