/**
 * The inference service across threads, for HTTP frontends running in worker threads (ThreadedHttpFrontend): the
 * models and their schedulers stay in the main thread, so batching still sees every request; the frontend threads
 * do the HTTP work (parsing, decoding, encoding), which is what one event loop cannot keep up with on many cores.
 *
 * Wire: a MessagePort per frontend thread. Frontend → main: `{ id, method, args }` calls, `{ id, infer }` requests,
 * `{ id, stream }` streaming requests (InferenceService.inferStream), `{ cancel: id }` when a client went away.
 * Main → frontend: `{ id, item, final }` per response of a stream (before its settling reply: a port keeps order),
 * then `{ id, ok: true, value }` or `{ id, ok: false, error }`. Flow control of a stream (ResponseSink): when the frontend
 * thread's sink says its client is not reading, it sends `{ pause: id }`, and `{ resume: id }` once it has room; the
 * main thread's sink then returns a promise until the resume (the model is paused; a few responses already on their
 * way still arrive).
 * Tensors are copied by structured clone (no transfer: a small Buffer may share Node's pool with others); answers'
 * tensors are compacted first, since a view into a batch's output buffer would clone the whole buffer.
 */
import type { MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import {
  CancelSource, InferenceError, type ErrorCode, type InferenceRequest, type InferenceResponse, type RequestLimits,
  type Tensor, type TensorData, toInferenceError,
} from '../../core/index.js';
import type { InferenceService, ResponseSink } from '../../server/service.js';
import type { FrontendService } from './http-server.js';

type Method = Exclude<keyof FrontendService, 'limits' | 'infer' | 'inferStream'>;

interface WireError { readonly code: ErrorCode; readonly message: string; readonly retryAfterSec?: number }
type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: WireError }
  | { readonly id: number; readonly item: InferenceResponse; readonly final: boolean };
type Call =
  | { readonly id: number; readonly method: Method; readonly args: unknown[] }
  | { readonly id: number; readonly infer: InferenceRequest; readonly receivedAtUs?: number }
  | { readonly id: number; readonly stream: InferenceRequest; readonly receivedAtUs?: number }
  | { readonly cancel: number }
  | { readonly pause: number }
  | { readonly resume: number };

/** performance.now() differs per thread (each has its own time origin): times cross as absolute µs. */
const absoluteUs = (localUs: number): number => (performance.timeOrigin + localUs / 1000) * 1000;
const localUs = (absUs: number): number => (absUs / 1000 - performance.timeOrigin) * 1000;

/** The frontend thread's side: a FrontendService whose every answer comes from the main thread. */
export class RemoteService implements FrontendService {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly sinks = new Map<number, ResponseSink>();

  constructor(private readonly port: MessagePort, readonly limits: RequestLimits) {
    port.on('message', (r: Reply) => {
      if ('item' in r) {
        this.sinks.get(r.id)?.(r.item, r.final);
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(new InferenceError(r.error.code, r.error.message, { retryAfterSec: r.error.retryAfterSec }));
    });
  }

  infer(request: InferenceRequest): Promise<InferenceResponse> {
    const id = this.nextId++;
    const { signal, receivedUs, ...plain } = request;
    signal?.addEventListener('abort', () => this.port.postMessage({ cancel: id } satisfies Call), { once: true });
    return this.send({ id, infer: plain, receivedAtUs: receivedUs === undefined ? undefined : absoluteUs(receivedUs) }) as Promise<InferenceResponse>;
  }

  inferStream(request: InferenceRequest, sink: ResponseSink): Promise<void> {
    const id = this.nextId++;
    const { signal, receivedUs, ...plain } = request;
    signal?.addEventListener('abort', () => this.port.postMessage({ cancel: id } satisfies Call), { once: true });
    let paused = false;
    this.sinks.set(id, (res, final) => {
      const wait = sink(res, final);
      if (wait && !paused) {
        paused = true;
        this.port.postMessage({ pause: id } satisfies Call);
        void wait.then(() => {
          paused = false;
          this.port.postMessage({ resume: id } satisfies Call);
        });
      }
    });
    const done = this.send({ id, stream: plain, receivedAtUs: receivedUs === undefined ? undefined : absoluteUs(receivedUs) }) as Promise<void>;
    return done.finally(() => this.sinks.delete(id));
  }

  /**
   * A frontend thread cannot ask the main thread synchronously, so it refuses nothing early: the main thread's
   * `infer` applies the same admission before queueing (after this thread decoded the request).
   */
  admit = (): InferenceError | undefined => undefined;

  isLive = () => this.call('isLive') as Promise<boolean>;
  isReady = () => this.call('isReady') as Promise<boolean>;
  serverMetadata = () => this.call('serverMetadata') as ReturnType<FrontendService['serverMetadata']>;
  modelMetadata = (name: string, version?: string) => this.call('modelMetadata', name, version) as ReturnType<FrontendService['modelMetadata']>;
  modelConfig = (name: string, version?: string) => this.call('modelConfig', name, version) as ReturnType<FrontendService['modelConfig']>;
  isModelReady = (name: string, version?: string) => this.call('isModelReady', name, version) as Promise<boolean>;
  repositoryIndex = (options?: { readyOnly?: boolean }) => this.call('repositoryIndex', options) as ReturnType<FrontendService['repositoryIndex']>;
  modelStatistics = (name?: string, version?: string) => this.call('modelStatistics', name, version) as ReturnType<FrontendService['modelStatistics']>;
  loadModel = (name: string, authorization?: string) => this.call('loadModel', name, authorization) as Promise<void>;
  unloadModel = (name: string, authorization?: string) => this.call('unloadModel', name, authorization) as Promise<void>;

  private call(method: Method, ...args: unknown[]): Promise<unknown> {
    return this.send({ id: this.nextId++, method, args });
  }

  private send(call: Call & { id: number }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.set(call.id, { resolve, reject });
      this.port.postMessage(call);
    });
  }
}

/** The main thread's side: answers one frontend thread's calls from `service`. */
export function serveRemote(service: InferenceService, port: MessagePort): void {
  const cancels = new Map<number, CancelSource>();
  const reply = (id: number, settle: () => unknown): void => {
    Promise.resolve().then(settle).then(
      (value) => port.postMessage({ id, ok: true, value } satisfies Reply),
      (err: unknown) => {
        const e = toInferenceError(err);
        port.postMessage({ id, ok: false, error: { code: e.code, message: e.message, retryAfterSec: e.retryAfterSec } } satisfies Reply);
      },
    );
  };
  /** Streams whose frontend thread's client is not reading: the promise (and its resolve) until it resumes. */
  const paused = new Map<number, { readonly wait: Promise<void>; readonly resume: () => void }>();
  port.on('message', (m: Call) => {
    if ('cancel' in m) {
      cancels.get(m.cancel)?.abort();
      paused.get(m.cancel)?.resume();
      return;
    }
    if ('pause' in m) {
      if (!paused.has(m.pause)) {
        let resume!: () => void;
        const wait = new Promise<void>((r) => { resume = r; });
        paused.set(m.pause, { wait, resume });
      }
      return;
    }
    if ('resume' in m) {
      paused.get(m.resume)?.resume();
      paused.delete(m.resume);
      return;
    }
    if ('infer' in m) {
      const gone = new CancelSource();
      cancels.set(m.id, gone);
      const request: InferenceRequest = {
        ...m.infer, signal: gone, receivedUs: m.receivedAtUs === undefined ? undefined : localUs(m.receivedAtUs),
      };
      reply(m.id, () => service.infer(request).then(compact).finally(() => cancels.delete(m.id)));
      return;
    }
    if ('stream' in m) {
      const gone = new CancelSource();
      cancels.set(m.id, gone);
      const request: InferenceRequest = {
        ...m.stream, signal: gone, receivedUs: m.receivedAtUs === undefined ? undefined : localUs(m.receivedAtUs),
      };
      const sink: ResponseSink = (res, final) => {
        port.postMessage({ id: m.id, item: compact(res), final } satisfies Reply);
        return paused.get(m.id)?.wait;
      };
      reply(m.id, () => service.inferStream(request, sink).finally(() => {
        cancels.delete(m.id);
        paused.delete(m.id);
      }));
      return;
    }
    reply(m.id, () => (service[m.method] as (...a: unknown[]) => unknown)(...m.args));
  });
}

/** The response with each tensor in storage of its own (a view into a batch's output would clone the whole batch). */
function compact(r: InferenceResponse): InferenceResponse {
  return { ...r, outputs: r.outputs.map((t): Tensor => ({ ...t, data: compactData(t.data) })) };
}

function compactData(d: TensorData): TensorData {
  if (Array.isArray(d)) return d.map((el) => el.slice());
  const v = d as Exclude<TensorData, Uint8Array[]>;
  return v.byteLength === v.buffer.byteLength ? v : v.slice();
}
