/**
 * Latency of every request, in microseconds, in an HDR histogram (3 significant digits: a recorded value is
 * within 0.1 % of the true one), so percentiles come from all samples, never from averages.
 */
import * as hdr from 'hdr-histogram-js';

/** The percentiles reported for each step, in microseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly minUs: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p95Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** One hour: anything slower is clamped (and still counted), so a stalled server cannot crash the recorder. */
const HIGHEST_US = 3_600_000_000;

export class LatencyHistogram {
  private readonly h: hdr.Histogram;

  constructor() {
    this.h = hdr.build({
      bitBucketSize: 32,
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: 3,
      autoResize: false,
      useWebAssembly: false,
    });
  }

  /** Records one latency in microseconds (fractions rounded; below 1 µs counts as 1 µs). */
  record(us: number): void {
    const v = us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : Math.round(us);
    this.h.recordValue(v);
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Adds all of `other`'s samples to this histogram. */
  add(other: LatencyHistogram): void {
    this.h.add(other.h);
  }

  reset(): void {
    this.h.reset();
  }

  /** Value at percentile p (0 < p ≤ 100): the smallest recorded value that p % of samples are at or below. */
  percentile(p: number): number {
    return this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p);
  }

  summary(): LatencySummary {
    const h = this.h;
    if (h.totalCount === 0) return { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p95Us: 0, p99Us: 0, maxUs: 0 };
    return {
      count: h.totalCount,
      minUs: h.minNonZeroValue,
      meanUs: h.mean,
      p50Us: h.getValueAtPercentile(50),
      p90Us: h.getValueAtPercentile(90),
      p95Us: h.getValueAtPercentile(95),
      p99Us: h.getValueAtPercentile(99),
      maxUs: h.maxValue,
    };
  }

  /** Frees the histogram (a no-op for the JS implementation; kept so a WebAssembly one can be swapped in). */
  destroy(): void {
    this.h.destroy();
  }
}
