/**
 * A frontend thread of ThreadedHttpFrontend: an HttpFrontend over a RemoteService, on the shared listening socket
 * (or, for the first thread, on the port, whose socket the others then share).
 */
import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { pino, type Level } from 'pino';
import type { RequestLimits } from '../../core/index.js';
import { HttpFrontend } from './http-server.js';
import { RemoteService } from './remote-service.js';
import { LogSink } from '../../core/log-sink.js';

export interface FrontendWorkerData {
  readonly servicePort: MessagePort;
  readonly limits: RequestLimits;
  /** Share this listening socket; else listen on port/host. */
  readonly fd?: number;
  readonly port?: number;
  readonly host?: string;
  readonly logLevel: Level | 'silent';
  readonly closeGraceMs?: number;
  /** Shared counter of dropped log lines (LogSink). */
  readonly logDropped?: Int32Array;
}

/** Control messages on parentPort. */
export type ToFrontendThread = { readonly type: 'close' };
export type FromFrontendThread =
  | { readonly type: 'listening'; readonly fd: number | undefined; readonly port: number; readonly address: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'closed' };

const data = workerData as FrontendWorkerData;
const post = (m: FromFrontendThread) => parentPort!.postMessage(m);
const service = new RemoteService(data.servicePort, data.limits);
// Straight to stdout through a LogSink, as the main thread's logger: a failing stdout never blocks this thread.
const logger = pino({ level: data.logLevel, base: { frontend: 'http', thread: threadId } }, new LogSink({ dropped: data.logDropped }));

HttpFrontend.listen(service, {
  ...(data.fd !== undefined ? { fd: data.fd } : { port: data.port, host: data.host }), logger, closeGraceMs: data.closeGraceMs,
}).then((fe) => {
  parentPort!.on('message', (m: ToFrontendThread) => {
    if (m.type === 'close') void fe.close().then(() => post({ type: 'closed' }));
  });
  post({ type: 'listening', fd: fe.listeningFd, port: fe.port, address: fe.address });
}, (err: unknown) => post({ type: 'failed', message: (err as Error).message }));
