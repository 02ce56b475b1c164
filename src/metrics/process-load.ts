import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { availableParallelism } from 'node:os';

/** The server process over one interval: what the dashboard shows server-wide. */
export interface ProcessLoad {
  /** CPU time of the whole process (every thread: model workers included) over wall time; 1 = one core busy. */
  readonly cpuCores: number;
  /** Cores this process may use. */
  readonly cores: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** This thread's event-loop lateness over the interval, ms (p99 and max): how late requests get read. */
  readonly loopLagP99Ms: number;
  readonly loopLagMaxMs: number;
}

/** Sampling resolution of the event-loop monitor, ms (its samples include it; subtracted below). */
const RESOLUTION_MS = 10;

/**
 * Measures the process between calls to `sample()`: CPU from process.cpuUsage (all threads), memory from
 * process.memoryUsage, loop lag from monitorEventLoopDelay (this thread's; the one that reads requests).
 */
export class ProcessLoadMeter {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastCpu = process.cpuUsage();
  private lastMs = performance.now();
  private readonly cores = availableParallelism();

  constructor() {
    this.loop.enable();
  }

  sample(): ProcessLoad {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const wallUs = Math.max(1, (now - this.lastMs) * 1000);
    const cpuUs = cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system;
    this.lastCpu = cpu;
    this.lastMs = now;
    const mem = process.memoryUsage();
    const lag = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    const has = this.loop.count > 0;
    const load: ProcessLoad = {
      cpuCores: cpuUs / wallUs,
      cores: this.cores,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      loopLagP99Ms: has ? lag(this.loop.percentile(99)) : 0,
      loopLagMaxMs: has ? lag(this.loop.max) : 0,
    };
    this.loop.reset();
    return load;
  }

  stop(): void {
    this.loop.disable();
  }
}
