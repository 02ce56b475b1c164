import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** How often the loop's lateness is sampled (ms), and over how long a window the estimate is taken. */
const RESOLUTION_MS = 10;
const WINDOW_MS = 1000;

/**
 * How late this thread's event loop has lately been getting to its callbacks (the p99 of the last complete window).
 * A request's bytes may wait about that long in its socket before a frontend sees them, so frontends date a request
 * back by it: its timeout counts from when it probably arrived, not from when the busy loop got to it.
 */
export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly timer: NodeJS.Timeout;
  private estimateUs = 0;

  constructor() {
    this.histogram.enable();
    this.timer = setInterval(() => {
      // Samples are the time between wake-ups in nanoseconds, the resolution included.
      this.estimateUs = this.histogram.count > 0 ? Math.max(0, this.histogram.percentile(99) / 1000 - RESOLUTION_MS * 1000) : 0;
      this.histogram.reset();
    }, WINDOW_MS);
    this.timer.unref();
  }

  /** Recent lateness of the loop, µs (0 until the first window is complete). */
  get us(): number {
    return this.estimateUs;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
