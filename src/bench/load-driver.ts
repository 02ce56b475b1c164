/**
 * Load drivers: closed loop (N requests always in flight, each connection sends its next request when the last
 * answer arrives) and open loop (requests start at scheduled times whatever the server does). Both rotate through
 * the pre-encoded requests and report every completion to the current sink.
 */
import { Http1Connection, type ConnectionTarget, type HttpResult } from './http1-connection.js';

/** What a driver sends requests over: an HTTP/1.1 connection, or one call slot of a gRPC channel (grpc-connection.ts). */
export interface BenchConnection {
  /** Sends a pre-encoded request; the callback runs exactly once with its outcome. Only when none is in flight. */
  send(request: Buffer, callback: (result: HttpResult) => void): void;
  close(): void;
}

/** Makes the driver's connections; a ConnectionTarget means HTTP/1.1 connections to it. */
export type ConnectionFactory = () => BenchConnection;
import { DISCARD, type CompletionSink } from './measurement-window.js';
import type { RequestDistribution } from './options.js';

export interface LoadDriver {
  /** Where completions go; swapped at window boundaries. */
  sink: CompletionSink;
  /** Requests started so far. */
  readonly started: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  /** Stops starting requests, waits (up to `drainMs`) for those in flight, closes every connection. */
  stop(drainMs: number): Promise<void>;
}

/** After a network error a connection waits this long before its next try, so a dead server is not spun on. */
const ERROR_BACKOFF_MS = 10;

abstract class BaseDriver implements LoadDriver {
  sink: CompletionSink = DISCARD;
  started = 0;
  inFlight = 0;
  protected running = true;
  protected readonly connections: BenchConnection[] = [];
  protected readonly connect: ConnectionFactory;
  private drained: (() => void) | undefined;

  constructor(target: ConnectionTarget | ConnectionFactory, protected readonly requests: readonly Buffer[]) {
    if (requests.length === 0) throw new Error('a load driver needs at least one request');
    this.connect = typeof target === 'function' ? target : () => new Http1Connection(target);
  }

  /** Sends request number `started` on `conn`; latency counts from `fromMs` (the intended start in open loop). */
  protected fire(conn: BenchConnection, fromMs: number): void {
    const set = this.started++ % this.requests.length;
    this.inFlight++;
    const sendLagUs = (performance.now() - fromMs) * 1000;
    conn.send(this.requests[set], (result: HttpResult) => {
      this.inFlight--;
      this.sink.complete(set, (performance.now() - fromMs) * 1000, result, sendLagUs);
      this.afterComplete(conn, result);
    });
  }

  protected abstract afterComplete(conn: BenchConnection, result: HttpResult): void;

  protected checkDrained(): void {
    if (!this.running && this.inFlight === 0 && this.drained) this.drained();
  }

  async stop(drainMs: number): Promise<void> {
    this.running = false;
    this.onStop();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.drained = () => { clearTimeout(timer); resolve(); };
      });
    }
    this.sink = DISCARD;
    for (const c of this.connections) c.close();
  }

  protected onStop(): void {}
}

export class ClosedLoopDriver extends BaseDriver {
  constructor(target: ConnectionTarget | ConnectionFactory, requests: readonly Buffer[], concurrency: number) {
    super(target, requests);
    for (let i = 0; i < concurrency; i++) {
      const conn = this.connect();
      this.connections.push(conn);
      this.fire(conn, performance.now());
    }
  }

  protected afterComplete(conn: BenchConnection, result: HttpResult): void {
    if (!this.running) return this.checkDrained();
    if (result.status === 0) {
      setTimeout(() => { if (this.running) this.fire(conn, performance.now()); else this.checkDrained(); }, ERROR_BACKOFF_MS);
    } else {
      this.fire(conn, performance.now());
    }
  }
}

/**
 * Open loop. Request k is due at its intended time t_k (constant gaps 1/rate, or exponential gaps for Poisson
 * arrivals); its latency counts from t_k, not from when a connection was free, so a server that stalls cannot hide
 * its queue (no coordinated omission). Each request in flight needs its own connection (HTTP/1.1, no pipelining);
 * up to `maxConnections` are opened (gRPC: call slots), beyond that due requests wait client-side — still timed from t_k.
 */
export class OpenLoopDriver extends BaseDriver {
  private readonly idle: BenchConnection[] = [];
  /** Intended start times of due requests waiting for a connection (FIFO: array + head index, no shift()). */
  private waiting: number[] = [];
  private waitHead = 0;
  private nextDueMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Requests that had to wait for a connection: the client, not the server, was the limit for them. */
  waitedForConnection = 0;

  constructor(
    target: ConnectionTarget | ConnectionFactory,
    requests: readonly Buffer[],
    private readonly rate: number,
    private readonly distribution: RequestDistribution,
    private readonly maxConnections: number,
    private readonly random: () => number = Math.random,
  ) {
    super(target, requests);
    this.nextDueMs = performance.now();
    this.tick();
  }

  private gapMs(): number {
    const mean = 1000 / this.rate;
    // Poisson arrivals: exponential gaps; 1 - u keeps log() away from 0.
    return this.distribution === 'poisson' ? -Math.log(1 - this.random()) * mean : mean;
  }

  private tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    const now = performance.now();
    while (this.nextDueMs <= now) {
      this.dispatch(this.nextDueMs);
      this.nextDueMs += this.gapMs();
    }
    this.timer = setTimeout(this.tick, Math.max(0, this.nextDueMs - performance.now()));
  };

  private dispatch(dueMs: number): void {
    let conn = this.idle.pop();
    if (!conn && this.connections.length < this.maxConnections) {
      conn = this.connect();
      this.connections.push(conn);
    }
    if (conn) {
      this.fire(conn, dueMs);
    } else {
      this.waitedForConnection++;
      this.waiting.push(dueMs);
    }
  }

  protected afterComplete(conn: BenchConnection): void {
    if (this.running && this.waitHead < this.waiting.length) {
      const due = this.waiting[this.waitHead++];
      if (this.waitHead > 1024 && this.waitHead * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.waitHead);
        this.waitHead = 0;
      }
      this.fire(conn, due);
      return;
    }
    this.idle.push(conn);
    this.checkDrained();
  }

  protected override onStop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.waiting = [];
    this.waitHead = 0;
  }
}
