/**
 * Online estimate of a model's batch compute time t(b), from observed batches.
 *
 * Keeps a smoothed mean per exact batch size (sizes are small integers ≤ max_batch_size) and a least-squares line
 * t(b) ≈ α + β·b over them. Prediction interpolates between observed sizes (a batching curve is not always a line:
 * a transformer block's per-row cost rises past 16 on 2 cores) and extrapolates past the largest observed size with
 * the fitted slope. `knee()` is the batch size past which rows stop getting cheaper — the adaptive policy's cap.
 */
export class ServiceTimeModel {
  private readonly mean: Float64Array;
  private readonly count: Uint32Array;
  /** Observed sizes in increasing order (kept sorted on insert; at most maxBatch entries). */
  private readonly sizes: number[] = [];

  constructor(readonly maxBatch: number, private readonly smoothing = 0.2, private readonly tolerance = 0.05) {
    this.mean = new Float64Array(maxBatch + 1);
    this.count = new Uint32Array(maxBatch + 1);
  }

  observe(rows: number, computeUs: number): void {
    if (!(rows >= 1 && rows <= this.maxBatch) || !(computeUs >= 0) || !Number.isFinite(computeUs)) return;
    const c = this.count[rows];
    if (c === 0) {
      let i = this.sizes.length;
      while (i > 0 && this.sizes[i - 1] > rows) i--;
      this.sizes.splice(i, 0, rows);
    }
    // A sample under half the size's mean means the mean is stale (taken on a busy machine, say, and not re-measured
    // since, as sizes past the cap are seen only when explored): start that size's average over.
    const stale = c > 0 && computeUs < this.mean[rows] / 2;
    this.count[rows] = stale ? 1 : c + 1;
    // Plain average for the first samples, then an exponentially weighted one that follows drift.
    const w = stale ? 1 : Math.max(1 / (c + 1), this.smoothing);
    this.mean[rows] += (computeUs - this.mean[rows]) * w;
  }

  get observedSizes(): readonly number[] {
    return this.sizes;
  }

  /** Weighted least squares over the per-size means: { alpha, beta } (beta ≥ 0), or undefined with < 2 sizes. */
  fit(): { alpha: number; beta: number } | undefined {
    if (this.sizes.length < 2) return undefined;
    let sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const b of this.sizes) {
      const w = Math.min(this.count[b], 10);
      const y = this.mean[b];
      sw += w; sx += w * b; sy += w * y; sxx += w * b * b; sxy += w * b * y;
    }
    const den = sw * sxx - sx * sx;
    if (den <= 0) return undefined;
    const beta = Math.max(0, (sw * sxy - sx * sy) / den);
    const alpha = Math.max(0, (sy - beta * sx) / sw);
    return { alpha, beta };
  }

  /** Predicted compute time of `rows` rows in µs; 0 when nothing was observed. */
  predict(rows: number): number {
    const s = this.sizes;
    if (s.length === 0) return 0;
    // A size seen before is predicted by its own mean: the line fit is for sizes not seen yet. (Using the fit here
    // made t(1) = α; a curve that is not a line gave α of milliseconds for a 100 µs batch, and the adaptive policy
    // then waited milliseconds for arrivals a closed-loop client could not send.)
    if (rows >= 1 && rows <= this.maxBatch && this.count[rows] > 0) return this.mean[rows];
    // Below the smallest observed size a batch costs at least the fixed part; with one size known, assume it all is.
    if (rows <= s[0]) return s.length === 1 ? this.mean[s[0]] : this.scaleDown(rows);
    const last = s[s.length - 1];
    if (rows >= last) {
      const slope = this.fit()?.beta ?? this.mean[last] / last;
      return this.mean[last] + slope * (rows - last);
    }
    // Interpolate between the observed sizes around `rows` (binary search: the list is sorted).
    let lo = 0, hi = s.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= rows) lo = mid; else hi = mid;
    }
    const a = s[lo], b = s[hi];
    return this.mean[a] + ((this.mean[b] - this.mean[a]) * (rows - a)) / (b - a);
  }

  /** Below the smallest observed size: never predict less than the fitted fixed cost α. */
  private scaleDown(rows: number): number {
    const first = this.sizes[0];
    const f = this.fit();
    if (!f) return this.mean[first];
    return Math.max(f.alpha + f.beta * rows, Math.min(this.mean[first], f.alpha));
  }

  /**
   * The smallest batch size whose per-row cost is within `tolerance` of the best per-row cost observed. When the
   * largest observed size is still the cheapest per row, the curve may keep improving: allow twice that size (so the
   * policy explores upward until the gain stops). 0 when nothing was observed.
   */
  knee(): number {
    return this.flatRegion()?.first ?? 0;
  }

  /**
   * The sizes whose per-row cost is within `tolerance` of the best: `first` is the knee, `last` the far end — past
   * the knee rows cost no less in compute, but fewer, larger batches cost the server less per row around the compute
   * (assembly, messages, the event loop), which is what a backlog needs. Both are twice the best size when the
   * largest size seen is still the cheapest. Undefined when nothing was observed.
   */
  flatRegion(): { first: number; last: number } | undefined {
    const s = this.sizes;
    if (s.length === 0) return undefined;
    let best = s[0];
    let bestCost = this.mean[best] / best;
    for (const b of s) {
      const c = this.mean[b] / b;
      if (c < bestCost) { best = b; bestCost = c; }
    }
    if (best === s[s.length - 1]) {
      const explore = Math.min(this.maxBatch, best * 2);
      return { first: explore, last: explore };
    }
    let first = best, last = best;
    for (const b of s) {
      if (this.mean[b] / b > bestCost * (1 + this.tolerance)) continue;
      first = Math.min(first, b);
      last = Math.max(last, b);
    }
    return { first, last };
  }
}
