/**
 * A minimal closed-loop gRPC load client on @grpc/grpc-js, independent of `autoglm bench` (which speaks HTTP/2 through
 * node:http2 itself, src/bench/grpc-connection.ts): `concurrency` loops each keep one ModelInfer call in flight over
 * `channels` connections (round robin), sending pre-encoded request bytes and taking the reply as bytes (no
 * protobuf work on the hot path). Counts successes, failures by status code, and keeps every latency (µs).
 * ghz is not packaged here; this is its role.
 */
import * as grpc from '@grpc/grpc-js';

const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
const bytes = (b: Buffer): Buffer => b;

export interface GrpcWindow {
  readonly ok: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Every successful call's latency, µs, in completion order. */
  readonly latenciesUs: readonly number[];
  /** One reply (the last successful one), for checking answers. */
  readonly sample: Buffer | undefined;
}

export class GrpcLoadClient {
  private readonly clients: grpc.Client[];
  private running = false;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private ok = 0;
  private errors: Record<string, number> = {};
  private latencies: number[] = [];
  private sample: Buffer | undefined;
  private next = 0;

  constructor(target: string, private readonly requests: readonly Buffer[], channels = 1) {
    // A local subchannel pool per client: each is its own TCP connection. The flow-control window as gRPC's C core
    // sizes it by BDP probing: node's 64 KiB default would let only 16 replies of 4 KiB be in flight at once.
    this.clients = Array.from({ length: channels }, () => new grpc.Client(target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1,
      'grpc-node.flow_control_window': 64 << 20,
    }));
  }

  /** Waits until every channel is connected. */
  async ready(timeoutMs = 10_000): Promise<void> {
    await Promise.all(this.clients.map((c) => new Promise<void>((resolve, reject) =>
      c.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())))));
  }

  private fire(loop: number): void {
    const client = this.clients[loop % this.clients.length];
    const request = this.requests[this.next++ % this.requests.length];
    const t0 = performance.now();
    this.inFlight++;
    client.makeUnaryRequest<Buffer, Buffer>(MODEL_INFER, bytes, bytes, request, (err, reply) => {
      this.inFlight--;
      if (err) this.errors[grpc.status[err.code] ?? String(err.code)] = (this.errors[grpc.status[err.code] ?? String(err.code)] ?? 0) + 1;
      else {
        this.ok++;
        this.latencies.push((performance.now() - t0) * 1000);
        this.sample = reply;
      }
      if (this.running) this.fire(loop);
      else if (this.inFlight === 0) this.drained?.();
    });
  }

  /** Starts `concurrency` loops (load runs until stop()). */
  start(concurrency: number): void {
    this.running = true;
    for (let i = 0; i < concurrency; i++) this.fire(i);
  }

  /** Counts from now on: the window's figures so far are dropped. */
  resetWindow(): number {
    this.ok = 0;
    this.errors = {};
    this.latencies = [];
    return performance.now();
  }

  window(startMs: number): GrpcWindow {
    return { ok: this.ok, errors: { ...this.errors }, seconds: (performance.now() - startMs) / 1000, latenciesUs: this.latencies, sample: this.sample };
  }

  /** Stops the loops and waits for the calls in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.inFlight > 0) await new Promise<void>((resolve) => { this.drained = resolve; });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
