/**
 * Shared by the gRPC tests: a server with its gRPC (and HTTP) frontends on free ports, and a client built from the
 * vendored protos with @grpc/proto-loader — protobufjs encodes and decodes every message, an implementation
 * independent of the frontend's hand-written ModelInfer codec.
 */
import type { ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { InferenceServer, type InferenceServerOptions } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { GrpcFrontend, type GrpcFrontendOptions } from '../../src/frontends/grpc/index.js';
import { packageDefinition } from '../../src/frontends/grpc/service-definition.js';

export interface GrpcRunning {
  readonly server: InferenceServer;
  readonly grpc: GrpcFrontend;
  readonly http: HttpFrontend;
  /** host:port of the gRPC frontend. */
  readonly target: string;
  readonly base: string;
  close(): Promise<void>;
}

export async function startGrpcServer(options: InferenceServerOptions, grpcOptions: GrpcFrontendOptions = {}): Promise<GrpcRunning> {
  const server = await InferenceServer.create(options);
  const g = await GrpcFrontend.listen(server, { port: 0, host: '127.0.0.1', ...grpcOptions });
  const http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  return {
    server,
    grpc: g,
    http,
    target: `127.0.0.1:${g.port}`,
    base: `http://127.0.0.1:${http.port}`,
    async close() {
      await Promise.all([g.close(), http.close()]);
      await server.close();
    },
  };
}

type Obj = Record<string, any>;

/** The outcome of a unary call: the reply, or the status it failed with. */
export type Outcome = { ok: true; value: Obj } | { ok: false; code: number; details: string; metadata: grpc.Metadata };

export interface Client {
  call(rpc: string, request: Obj, options?: { deadlineMs?: number }): Promise<Outcome>;
  /** ModelStreamInfer: sends every request, half-closes, collects every response until the stream ends. */
  stream(requests: readonly Obj[]): Promise<{ responses: Obj[]; status: grpc.StatusObject }>;
  readonly raw: grpc.Client;
  close(): void;
}

export const CLIENT_OPTIONS = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

export function grpcClient(target: string, service: 'inference.GRPCInferenceService' | 'grpc.health.v1.Health' = 'inference.GRPCInferenceService'): Client {
  const pkg = grpc.loadPackageDefinition(packageDefinition()) as any;
  const Ctor = service === 'grpc.health.v1.Health' ? pkg.grpc.health.v1.Health : pkg.inference.GRPCInferenceService;
  const client = new Ctor(target, grpc.credentials.createInsecure(), CLIENT_OPTIONS) as grpc.Client & Record<string, any>;
  return {
    raw: client,
    call(rpc, request, options = {}) {
      return new Promise((resolve) => {
        const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
        client[rpc](request, callOptions, (err: grpc.ServiceError | null, value: Obj) => {
          if (err) resolve({ ok: false, code: err.code, details: err.details, metadata: err.metadata });
          else resolve({ ok: true, value });
        });
      });
    },
    stream(requests) {
      return new Promise((resolve, reject) => {
        const call = client.ModelStreamInfer();
        const responses: Obj[] = [];
        call.on('data', (r: Obj) => responses.push(r));
        call.on('error', (e: grpc.ServiceError) => resolve({ responses, status: { code: e.code, details: e.details, metadata: e.metadata } }));
        call.on('status', (status: grpc.StatusObject) => { if (status.code === grpc.status.OK) resolve({ responses, status }); });
        call.on('end', () => {});
        for (const r of requests) call.write(r);
        call.end();
        void reject;
      });
    },
    close: () => client.close(),
  };
}

/** The status code's name, for assertion messages. */
export const codeName = (code: number): string => grpc.status[code] ?? String(code);

/** A unary call that must fail: its code and details. */
export function expectFailure(o: Outcome): { code: number; details: string; metadata: grpc.Metadata } {
  if (o.ok) throw new Error(`expected the call to fail, it answered ${JSON.stringify(o.value).slice(0, 300)}`);
  return o;
}

export function expectOk(o: Outcome): Obj {
  if (!o.ok) throw new Error(`expected success, got ${codeName(o.code)}: ${o.details}`);
  return o.value;
}

/** What a raw HTTP/2 gRPC call got back. */
export interface RawAnswer {
  readonly httpStatus: number;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly body: Buffer;
}

export const INFER_PATH = '/inference.GRPCInferenceService/ModelInfer';

/**
 * One hand-made gRPC call on an open HTTP/2 session: exactly these DATA bytes, then END_STREAM unless `open`, with
 * these headers — what grpc-js would never send. Rejects after `timeoutMs` (a hang) unless the stream closed.
 */
export function rawGrpcCall(session: ClientHttp2Session, data: Buffer,
  o: { headers?: Record<string, string>; path?: string; open?: boolean; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': o.path ?? INFER_PATH, 'content-type': 'application/grpc', te: 'trailers', ...o.headers });
    let httpStatus = 0;
    let grpcStatus: number | undefined;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    const take = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) {
        grpcStatus = Number(h['grpc-status']);
        grpcMessage = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    const timer = setTimeout(() => reject(new Error(`no answer within ${o.timeoutMs ?? 20_000} ms (a hang) to ${data.subarray(0, 60).toString('hex')}`)), o.timeoutMs ?? 20_000);
    req.on('response', (h) => { httpStatus = Number(h[':status']); take(h); });
    req.on('trailers', take);
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      resolve({ httpStatus, grpcStatus, grpcMessage, body: Buffer.concat(chunks) });
    });
    if (o.open) req.write(data);
    else req.end(data);
  });
}
