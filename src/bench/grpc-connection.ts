/**
 * gRPC over node:http2 for the load generator, the counterpart of http1-connection.ts: the caller hands a complete,
 * pre-framed request message; a call is one HTTP/2 stream (POST, content-type application/grpc, te: trailers), its
 * reply the DATA frames, its status the grpc-status trailer (or header, for a trailers-only answer). No protobuf
 * work, no interceptors: what a call costs the client is node:http2's stream.
 *
 * A GrpcChannel is one HTTP/2 connection carrying any number of calls; the load drivers' "connections" are call
 * slots (GrpcConnection), several sharing a channel, as gRPC clients share one.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { ERROR_CODES, InferenceError } from '../core/index.js';
import type { ConnectionTarget, HttpResult, NetworkErrorKind } from './http1-connection.js';
import type { BenchConnection, ConnectionFactory } from './load-driver.js';

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = constants;

/** Flow-control windows large enough that replies of a few MiB are not throttled by the 64 KiB HTTP/2 default. */
const WINDOW = 64 << 20;

/** The HTTP status the error catalog gives a gRPC status (first match), else 500. */
function httpStatusOf(grpcStatus: number): number {
  for (const c of Object.values(ERROR_CODES)) if (c.grpc === grpcStatus) return c.http;
  return 500;
}

function grpcStatusIn(h: IncomingHttpHeaders): number | undefined {
  const v = h['grpc-status'];
  return v === undefined ? undefined : Number(v);
}

function grpcMessageIn(h: IncomingHttpHeaders): string {
  const v = h['grpc-message'];
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** One HTTP/2 connection; reopened on the next call after it fails. */
export class GrpcChannel {
  private session: ClientHttp2Session | undefined;

  constructor(private readonly target: ConnectionTarget) {}

  private open(): ClientHttp2Session {
    const host = this.target.host.includes(':') ? `[${this.target.host}]` : this.target.host;
    const s = connect(`http://${host}:${this.target.port}`, { settings: { initialWindowSize: WINDOW } });
    s.on('connect', () => s.setLocalWindowSize(WINDOW));
    // Errors reach every stream of the session too; this keeps an unhandled 'error' from throwing.
    s.on('error', () => {});
    s.on('close', () => { if (this.session === s) this.session = undefined; });
    return s;
  }

  /** Sends one framed request message on `path`; the callback runs exactly once. */
  call(path: string, framed: Buffer, callback: (result: HttpResult) => void): void {
    let s = this.session;
    if (!s || s.closed || s.destroyed) this.session = s = this.open();
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
    let req;
    try {
      req = s.request({
        [HTTP2_HEADER_METHOD]: 'POST', [HTTP2_HEADER_PATH]: path, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', [HTTP2_HEADER_TE]: 'trailers',
      });
    } catch {
      // The session went away between the check and the request.
      this.session = undefined;
      queueMicrotask(() => finish('closed'));
      return;
    }
    req.on('response', (h) => {
      httpStatus = Number(h[':status']);
      const st = grpcStatusIn(h);
      if (st !== undefined) {
        grpcStatus = st;
        grpcMessage = grpcMessageIn(h);
      }
    });
    req.on('trailers', (h) => {
      grpcStatus = grpcStatusIn(h);
      grpcMessage = grpcMessageIn(h);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? 'connect' : 'reset'));
    req.on('close', () => finish(undefined));
    req.end(framed);
  }

  close(): void {
    const s = this.session;
    this.session = undefined;
    s?.close();
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
