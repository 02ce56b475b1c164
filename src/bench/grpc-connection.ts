/**
 * gRPC for the load generator, the counterpart of http1-connection.ts: the caller hands a complete, pre-framed
 * request message; a call is one HTTP/2 stream (POST, content-type application/grpc, te: trailers), its reply the
 * DATA frames, its status the grpc-status trailer (or header, for a trailers-only answer). No protobuf work, no
 * interceptors, and no node:http2 (http2-client.ts says why): what a call costs the client is a few frames.
 *
 * A GrpcChannel is one HTTP/2 connection carrying any number of calls; the load drivers' "connections" are call
 * slots (GrpcConnection), several sharing a channel, as gRPC clients share one.
 */
import { ERROR_CODES, InferenceError } from '../core/index.js';
import type { HeaderList } from '../frontends/grpc/http2/hpack.js';
import type { ConnectionTarget, HttpResult, NetworkErrorKind } from './http1-connection.js';
import { Http2ClientConnection } from './http2-client.js';
import type { BenchConnection, ConnectionFactory } from './load-driver.js';

/** The HTTP status the error catalog gives a gRPC status (first match), else 500. */
function httpStatusOf(grpcStatus: number): number {
  for (const c of Object.values(ERROR_CODES)) if (c.grpc === grpcStatus) return c.http;
  return 500;
}

function headerIn(h: HeaderList, name: string): string | undefined {
  const i = h.names.indexOf(name);
  return i < 0 ? undefined : h.values[i];
}

/** grpc-message is percent-encoded; the header list is latin1, so the bytes are read back as UTF-8. */
function grpcMessageIn(h: HeaderList): string {
  const v = headerIn(h, 'grpc-message');
  if (v === undefined) return '';
  try {
    return decodeURIComponent(Buffer.from(v, 'latin1').toString('utf8'));
  } catch {
    return v;
  }
}

/** One HTTP/2 connection; a new one is opened on the next call after it fails or the server sends GOAWAY. */
export class GrpcChannel {
  private connection: Http2ClientConnection | undefined;

  constructor(private readonly target: ConnectionTarget) {}

  /** Sends one framed request message on `path`; the callback runs exactly once. */
  call(path: string, framed: Buffer, callback: (result: HttpResult) => void): void {
    let c = this.connection;
    if (!c || c.closing) {
      const opened: Http2ClientConnection = new Http2ClientConnection(this.target, () => {
        if (this.connection === opened) this.connection = undefined;
      });
      this.connection = c = opened;
    }
    let grpcStatus: number | undefined;
    let grpcMessage = '';
    let httpStatus = 0;
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (networkError: NetworkErrorKind | undefined) => {
      if (done) return;
      done = true;
      if (grpcStatus === undefined) {
        callback({ status: 0, networkError: networkError ?? (httpStatus === 0 ? 'closed' : 'parse'), body: [], inferenceHeaderLength: -1 });
        return;
      }
      let body: Buffer[] = [];
      if (grpcStatus === 0) {
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        if (all.length < 5 || all.readUInt32BE(1) !== all.length - 5) {
          callback({ status: 0, networkError: 'parse', body: [], inferenceHeaderLength: -1 });
          return;
        }
        body = [all.subarray(5)];
      }
      callback({ status: grpcStatus === 0 ? 200 : httpStatusOf(grpcStatus), networkError: undefined, body, inferenceHeaderLength: -1, grpcStatus, grpcMessage });
    };
    c.request(path, framed, {
      headers: (h) => {
        // The first block is the response's headers (:status), a later one its trailers.
        if (httpStatus === 0) httpStatus = Number(headerIn(h, ':status') ?? NaN) || -1;
        const st = headerIn(h, 'grpc-status');
        if (st !== undefined) {
          grpcStatus = Number(st);
          grpcMessage = grpcMessageIn(h);
        }
      },
      data: (chunk) => chunks.push(chunk),
      end: () => finish(undefined),
      fail: (kind) => {
        // A stream the server ended abnormally is not a reply, even if a status header came.
        grpcStatus = undefined;
        finish(kind);
      },
    });
  }

  close(): void {
    const c = this.connection;
    this.connection = undefined;
    c?.close();
  }
}

/** A call slot on a channel: what a load driver calls a connection (one call in flight at a time). */
export class GrpcConnection implements BenchConnection {
  constructor(private readonly channel: GrpcChannel, private readonly path: string, private readonly release: () => void) {}

  send(request: Buffer, callback: (result: HttpResult) => void): void {
    this.channel.call(this.path, request, callback);
  }

  close(): void {
    this.release();
  }
}

/**
 * Call slots spread round robin over `channels` HTTP/2 connections to `target`; a channel closes when the last of
 * its slots does.
 */
export function grpcConnectionFactory(target: ConnectionTarget, path: string, channels = 1): ConnectionFactory {
  const pool = Array.from({ length: Math.max(1, channels) }, () => ({ channel: new GrpcChannel(target), slots: 0 }));
  let next = 0;
  return () => {
    const entry = pool[next++ % pool.length];
    entry.slots++;
    let released = false;
    return new GrpcConnection(entry.channel, path, () => {
      if (released) return;
      released = true;
      if (--entry.slots === 0) entry.channel.close();
    });
  };
}

/** One unary call (model metadata, config) on a channel of its own: the reply message, or an InferenceError. */
export async function grpcUnary(target: ConnectionTarget, path: string, message: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  const channel = new GrpcChannel(target);
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  try {
    const r = await new Promise<HttpResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new InferenceError('UNAVAILABLE', `no answer from ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs);
      channel.call(path, framed, (res) => { clearTimeout(timer); resolve(res); });
    });
    if (r.status === 0) throw new InferenceError('UNAVAILABLE', `cannot reach ${target.host}:${target.port} over gRPC: ${r.networkError}`);
    if (r.grpcStatus !== 0) {
      const code = (Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]).find((k) => ERROR_CODES[k].grpc === r.grpcStatus) ?? 'INTERNAL';
      throw new InferenceError(code, `${path}: ${r.grpcMessage || `gRPC status ${r.grpcStatus}`}`);
    }
    return r.body[0];
  } finally {
    channel.close();
  }
}
