import type { HistogramChild } from './registry.js';

/** A histogram's bucket counts at one moment (copied, so later observations do not change it). */
export interface HistogramReading {
  readonly counts: Float64Array;
  readonly count: number;
  readonly sum: number;
}

export const readHistogram = (h: HistogramChild): HistogramReading => ({ counts: h.counts.slice(), count: h.count, sum: h.sum });

/** Bucket counts observed between two readings of the same histogram (per bucket, not cumulative). */
export function histogramDelta(newer: HistogramReading, older: HistogramReading | undefined): HistogramReading {
  if (!older) return newer;
  const counts = new Float64Array(newer.counts.length);
  for (let i = 0; i < counts.length; i++) counts[i] = newer.counts[i] - older.counts[i];
  return { counts, count: newer.count - older.count, sum: newer.sum - older.sum };
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram's observations, interpolated linearly inside the bucket it falls in, as
 * Prometheus' histogram_quantile does; past the last bound, the last bound (the true value is higher). Undefined
 * when the histogram holds no observation.
 */
export function histogramQuantile(bounds: Float64Array, h: HistogramReading, q: number): number | undefined {
  if (h.count <= 0) return undefined;
  const rank = q * h.count;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const n = h.counts[i];
    if (below + n >= rank && n > 0) {
      const lo = i === 0 ? 0 : bounds[i - 1];
      return lo + (bounds[i] - lo) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds[bounds.length - 1];
}
