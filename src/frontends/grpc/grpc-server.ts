import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { InferenceError } from '../../core/index.js';
import { type CallHandler, type CallHost, GrpcCall } from './grpc-call.js';
import { type GrpcService, failure } from './grpc-status.js';
import { InferRunner } from './infer-handlers.js';
import { healthHandlers, inferenceHandlers, type UnaryHandler } from './rpc-handlers.js';
import { H2Connection, type H2Limits, type RequestHeaders } from './http2/connection.js';
import { encodeHeaders } from './http2/hpack.js';
import type { H2Stream } from './http2/stream.js';
import { HEALTH_SERVICE, INFERENCE_SERVICE, methodTable, type MethodCodec } from './service-definition.js';

export interface GrpcFrontendOptions {
  /** 0 = any free port. Default 8001 (Triton's). */
  readonly port?: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly logger?: Logger;
  /** How long close() waits for calls in flight (streams included) before cutting connections. Default 30 s. */
  readonly closeGraceMs?: number;
  /** Concurrent calls (HTTP/2 streams) per connection; a client with more waits for one to finish. Default 1024. */
  readonly maxConcurrentStreams?: number;
  /** Open client connections; past it, new connections are closed at once. Default the service's limits.maxConnections. */
  readonly maxConnections?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a call whose metadata is larger is answered HTTP 431. Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
}

/** HTTP/2 flow-control window per stream: a 4 MiB message arrives in one round trip instead of sixty-four. */
const STREAM_WINDOW = 1 << 20;
/** Per connection. */
const SESSION_WINDOW = 16 << 20;
/** Answers waiting on a connection's socket past which it stops reading requests (a client that does not read). */
const MAX_QUEUED_BYTES = 16 << 20;
/** A request that is not gRPC (PROTOCOL-HTTP2.md: 415 for a content-type that is not application/grpc). */
const UNSUPPORTED_MEDIA_TYPE = encodeHeaders([[':status', '415']]);

/** A unary method of proto-loader's codec: one request message in, one reply out. */
class UnaryRpc implements CallHandler {
  constructor(private readonly codec: MethodCodec, private readonly fn: UnaryHandler, private readonly log: Logger) {}

  message(call: GrpcCall, bytes: Buffer): void {
    const rpc = this.codec.name;
    if (call.messages > 1) {
      call.fail(new InferenceError('INVALID_ARGUMENT', `${rpc} takes one request message; a second arrived`));
      return;
    }
    let request: Record<string, unknown>;
    try {
      request = this.codec.deserialize(bytes);
    } catch (err) {
      call.fail(failure(this.log, rpc, new InferenceError('INVALID_ARGUMENT', `malformed request message (not valid protobuf): ${(err as Error).message}`)));
      return;
    }
    void this.answer(call, request);
  }

  private async answer(call: GrpcCall, request: Record<string, unknown>): Promise<void> {
    try {
      call.reply(this.codec.serializeFramed(await this.fn(request, call)));
    } catch (err) {
      call.fail(failure(this.log, this.codec.name, err));
    }
  }

  halfClose(call: GrpcCall): void {
    if (call.messages === 0) call.fail(new InferenceError('INVALID_ARGUMENT', `${this.codec.name}: the call ended without a request message`));
  }
}

/** Paths no method has: every call fails at once. */
const NO_METHOD: CallHandler = { message() {}, halfClose() {} };

/**
 * The KServe v2 / Triton gRPC frontend: `inference.GRPCInferenceService` and `grpc.health.v1.Health` served over
 * HTTP/2 of its own on node:net sockets (http2/; the gRPC protocol is implemented in grpc-call.ts). grpc-js's server
 * cost 36 µs more main-thread CPU per request than the HTTP frontend and reached 0.65× its throughput; node:http2
 * cost twice this transport's CPU per call and wrote each answer in two syscalls (bench/README.md, "gRPC").
 * Protocol only, over an InferenceService, like HttpFrontend. What is and is not implemented: docs/grpc.md.
 */
export class GrpcFrontend {
  private closing: Promise<void> | undefined;
  private readonly connections = new Set<H2Connection>();
  private readonly host: CallHost;
  private readonly routes = new Map<string, CallHandler>();

  private constructor(private readonly server: Server, service: GrpcService, private readonly log: Logger,
    private readonly graceMs: number, private readonly h2: H2Limits) {
    this.host = { limits: service.limits, arriving: 0 };
    const methods = methodTable();
    const unary = (serviceName: string, handlers: Record<string, UnaryHandler>) => {
      for (const [name, fn] of Object.entries(handlers)) {
        const codec = methods.get(`/${serviceName}/${name}`);
        if (!codec) throw new Error(`/${serviceName}/${name} is not in the protos`);
        this.routes.set(codec.path, new UnaryRpc(codec, fn, log));
      }
    };
    unary(INFERENCE_SERVICE, inferenceHandlers(service));
    unary(HEALTH_SERVICE, healthHandlers(service));
    const infer = new InferRunner(service, log);
    this.routes.set(`/${INFERENCE_SERVICE}/ModelInfer`, infer.modelInfer);
    this.routes.set(`/${INFERENCE_SERVICE}/ModelStreamInfer`, infer.modelStreamInfer);
    for (const path of methods.keys()) if (!this.routes.has(path)) throw new Error(`no handler for ${path}`);
  }

  static async listen(service: GrpcService, options: GrpcFrontendOptions = {}): Promise<GrpcFrontend> {
    const log = options.logger ?? pino({ level: 'silent' });
    const server = createServer();
    server.maxConnections = options.maxConnections ?? service.limits.maxConnections;
    const h2: H2Limits = {
      maxConcurrentStreams: options.maxConcurrentStreams ?? 1024, streamWindow: STREAM_WINDOW, connectionWindow: SESSION_WINDOW,
      maxHeaderListSize: options.maxHeaderListBytes ?? 64 * 1024, maxQueuedBytes: MAX_QUEUED_BYTES,
    };
    const fe = new GrpcFrontend(server, service, log, options.closeGraceMs ?? 30_000, h2);
    server.on('connection', (socket: Socket) => fe.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8001, options.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return fe;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get address(): string {
    return (this.server.address() as AddressInfo).address;
  }

  private onConnection(socket: Socket): void {
    const conn = new H2Connection(socket, this.h2, (stream, headers) => this.onStream(stream, headers),
      (err) => this.log.debug({ err }, 'gRPC connection error'));
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
    if (this.closing) conn.close();
  }

  private onStream(stream: H2Stream, headers: RequestHeaders): void {
    const path = headers[':path'];
    const type = headers['content-type'];
    if (headers[':method'] !== 'POST' || type === undefined || !type.startsWith('application/grpc')) {
      stream.respond(UNSUPPORTED_MEDIA_TYPE, true);
      return;
    }
    const handler = this.routes.get(path);
    const call = new GrpcCall(stream, headers, this.host, handler ?? NO_METHOD);
    if (!handler) call.fail(new InferenceError('UNIMPLEMENTED', `unknown method ${path}`));
  }

  /** Stops accepting, lets calls in flight finish (up to the grace period), then closes every connection. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      // GOAWAY: no new calls on open connections; each closes once its calls are done.
      for (const c of this.connections) c.close();
      const timer = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, this.graceMs);
      timer.unref();
      void closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.closing;
  }
}
