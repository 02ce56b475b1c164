/**
 * `autoglm serve` (the real CLI code, runServeCommand) with a reporter for bench/soak.ts: when asked (IPC message
 * `sample-now`), and every `SOAK_SAMPLE_MS` if set (> 0), it sends its parent the process's RSS, V8 heap, active handles and requests by kind, open file descriptors,
 * threads, and the event loop's delay since the previous sample (p50/p99/max of monitorEventLoopDelay, 1 ms timer).
 *
 *   node --import tsx bench/soak-server.ts serve --model-repository DIR …   (started by bench/soak.ts, with IPC)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runServeCommand } from '../src/cli/serve-command.js';

export interface SoakSample {
  readonly t: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** process.getActiveResourcesInfo(), counted by kind (sockets, timers, …). */
  readonly resources: Record<string, number>;
  /** Active handles and requests but client connections (TCPSocketWrap), timers and immediates. */
  readonly handles: number;
  /** Open client connections (TCPSocketWrap): the client's connection pool decides how many. */
  readonly connections: number;
  readonly fds: number;
  readonly threads: number;
  /** Threads by name (/proc/self/task/<tid>/comm): node's own, libuv's pool, workers, ONNX Runtime's. */
  readonly threadNames: Record<string, number>;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
}

const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS ?? 10_000);
const t0 = Date.now();
/** The histogram records the time between its timer's runs: the delay is that minus the resolution. */
const RESOLUTION_MS = 1;
const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
lag.enable();

const delay = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);

function sample(): SoakSample {
  const m = process.memoryUsage();
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const threads = Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const threadNames: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      threadNames[name] = (threadNames[name] ?? 0) + 1;
    } catch { /* ended meanwhile */ }
  }
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  const s: SoakSample = {
    t: Date.now() - t0,
    rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers),
    resources,
    handles: Object.entries(resources).filter(([k]) => !['Timeout', 'Immediate', 'TCPSocketWrap'].includes(k)).reduce((n, [, v]) => n + v, 0),
    connections: resources.TCPSocketWrap ?? 0,
    fds: readdirSync('/proc/self/fd').length,
    threads,
    threadNames,
    lagP50Ms: delay(lag.percentile(50)), lagP99Ms: delay(lag.percentile(99)), lagMaxMs: delay(lag.max),
  };
  lag.reset();
  return s;
}

if (process.send) {
  if (SAMPLE_MS > 0) setInterval(() => process.send!({ kind: 'sample', sample: sample() }), SAMPLE_MS).unref();
  process.on('message', (m: { kind?: string }) => {
    if (m.kind === 'sample-now') process.send!({ kind: 'sample', sample: sample() });
  });
  process.channel?.unref();
}

runServeCommand(process.argv.slice(3)).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak-server: ${String(err)}\n`);
  process.exit(1);
});
