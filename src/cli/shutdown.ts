import type { Logger } from 'pino';

export interface ShutdownOptions {
  /** tritonserver's --exit-timeout-secs: how long `stop` may take before the process ends anyway. */
  readonly exitTimeoutMs: number;
  readonly log: Logger;
  /** Stops accepting, finishes what is in flight, unloads the models (frontends first, then the server). */
  readonly stop: () => Promise<void>;
  /** Ends the process at once (default: forceExit). Tests replace it. */
  readonly forceExit?: (signal: NodeJS.Signals) => void;
  /** Called just before a forced exit, e.g. to flush what the log sink holds; must not block. */
  readonly beforeForcedExit?: () => void;
}

/** The signals that start a graceful shutdown; a second one ends the process at once. */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Waits for SIGTERM or SIGINT, then runs `stop` and resolves the exit code: 0 when it completed, 1 when it failed.
 * Two ways out do not wait for `stop`:
 * - `exitTimeoutMs` passed since the first signal (a model stuck in a run, a client that never reads its answer);
 * - a second signal.
 * Both end the process at once with forceExit: the first signal is raised again with its default action, so the
 * kernel ends every thread without running exit handlers or joining worker threads (a worker inside
 * onnxruntime's session.run cannot be joined, and ending it aborts the process: see onnx-instance.ts). The exit
 * status is then the signal's (143 for SIGTERM, 130 for SIGINT in a shell), as for a process that never handled it.
 *
 * The timer keeps the process alive: a `stop` that hangs on a promise nothing will settle cannot let the event loop
 * run dry and exit 0 as if all went well.
 */
export function untilShutdown(o: ShutdownOptions): Promise<number> {
  const force = o.forceExit ?? forceExit;
  return new Promise<number>((resolve) => {
    let first: NodeJS.Signals | undefined;
    let timer: NodeJS.Timeout | undefined;
    const exitNow = (signal: NodeJS.Signals, why: string) => {
      o.log.error({ signal }, why);
      o.beforeForcedExit?.();
      for (const s of SHUTDOWN_SIGNALS) process.off(s, onSignal);
      force(signal);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (first !== undefined) {
        exitNow(first, `second signal (${signal}): exiting now, without waiting for in-flight work`);
        return;
      }
      first = signal;
      o.log.info({ signal, exitTimeoutSecs: o.exitTimeoutMs / 1000 }, 'shutting down: finishing in-flight requests');
      timer = setTimeout(() => exitNow(signal, `shutdown took longer than --exit-timeout-secs ${o.exitTimeoutMs / 1000}: exiting now`), o.exitTimeoutMs);
      o.stop().then(() => {
        clearTimeout(timer);
        o.log.info('shut down');
        resolve(0);
      }, (err: unknown) => {
        clearTimeout(timer);
        o.log.error({ err }, 'error while shutting down');
        resolve(1);
      });
    };
    for (const s of SHUTDOWN_SIGNALS) process.on(s, onSignal);
  });
}

/**
 * Ends the process now: raises `signal` again with its default action (our listeners are off by then, so Node
 * restores the default disposition), then SIGKILL if something else still caught it.
 */
export function forceExit(signal: NodeJS.Signals): void {
  for (const s of SHUTDOWN_SIGNALS) if (process.listenerCount(s) > 0) process.removeAllListeners(s);
  process.kill(process.pid, signal);
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
}
