/**
 * The KServe v2 HTTP frontend on several threads (`autoglm serve --http-thread-count N`): N worker threads accept
 * connections on one listening socket and do the HTTP work; inference calls cross to the main thread, where the
 * models and their schedulers are (RemoteService), so batching still sees every request. One event loop spends
 * ~77 µs per small request (bench/README.md): on many cores it, not the model, limits throughput.
 */
import { MessageChannel, type Worker } from 'node:worker_threads';
import type { Level } from 'pino';
import { startWorker } from '../../core/start-worker.js';
import type { InferenceService } from '../../server/service.js';
import type { FrontendWorkerData, FromFrontendThread, ToFrontendThread } from './frontend-worker.js';
import { serveRemote } from './remote-service.js';

export interface ThreadedHttpFrontendOptions {
  /** Frontend threads, ≥ 1. */
  readonly threads: number;
  /** 0 = any free port. Default 8000. */
  readonly port?: number;
  readonly host?: string;
  /** The frontend threads' log level (they log to stdout as JSON). Default 'warn'. */
  readonly logLevel?: Level | 'silent';
  readonly closeGraceMs?: number;
  /** Where the threads count log lines they drop when stdout fails (a LogSink counter, src/core/log-sink.ts). */
  readonly logDropped?: Int32Array;
}

interface Thread {
  readonly worker: Worker;
  readonly channel: MessageChannel;
}

export class ThreadedHttpFrontend {
  private closing: Promise<void> | undefined;

  private constructor(private readonly threads: Thread[], readonly port: number, readonly address: string) {}

  static async listen(service: InferenceService, o: ThreadedHttpFrontendOptions): Promise<ThreadedHttpFrontend> {
    if (!(Number.isInteger(o.threads) && o.threads >= 1)) throw new Error(`HTTP frontend threads must be ≥ 1, got ${o.threads}`);
    const started: Thread[] = [];
    const start = (where: { fd: number } | { port: number; host: string }) => {
      const channel = new MessageChannel();
      serveRemote(service, channel.port1);
      const data: FrontendWorkerData = {
        servicePort: channel.port2, limits: service.limits, logLevel: o.logLevel ?? 'warn', closeGraceMs: o.closeGraceMs,
        logDropped: o.logDropped, ...where,
      };
      const worker = startWorker('./frontend-worker', import.meta.url, { workerData: data, transferList: [channel.port2] });
      const t = { worker, channel };
      started.push(t);
      return new Promise<Extract<FromFrontendThread, { type: 'listening' }>>((resolve, reject) => {
        const onMessage = (m: FromFrontendThread) => {
          if (m.type === 'listening') resolve(m);
          else if (m.type === 'failed') reject(new Error(m.message));
        };
        worker.on('message', onMessage);
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`HTTP frontend thread exited (${code}) before listening`)));
      });
    };
    try {
      // The first thread binds the port; the others accept on its socket.
      const first = await start({ port: o.port ?? 8000, host: o.host ?? '0.0.0.0' });
      if (first.fd === undefined && o.threads > 1) throw new Error('cannot share the HTTP listening socket between threads');
      for (let i = 1; i < o.threads; i++) await start({ fd: first.fd! });
      return new ThreadedHttpFrontend(started, first.port, first.address);
    } catch (err) {
      await Promise.all(started.map((t) => t.worker.terminate()));
      for (const t of started) t.channel.port1.close();
      throw err;
    }
  }

  /** Stops accepting, lets every thread finish its requests in flight, then ends the threads. */
  close(): Promise<void> {
    this.closing ??= Promise.all(this.threads.map(async (t) => {
      await new Promise<void>((resolve) => {
        t.worker.on('message', (m: FromFrontendThread) => { if (m.type === 'closed') resolve(); });
        t.worker.once('exit', () => resolve());
        t.worker.postMessage({ type: 'close' } satisfies ToFrontendThread);
      });
      await t.worker.terminate();
      t.channel.port1.close();
    })).then(() => undefined);
    return this.closing;
  }
}
