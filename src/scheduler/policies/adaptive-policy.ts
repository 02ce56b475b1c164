import type { BatchDecision, BatchPolicy, QueueState } from '../batch-policy.js';
import { ServiceTimeModel } from '../service-time-model.js';
import { ArrivalRate } from '../arrival-rate.js';

export interface AdaptivePolicyOptions {
  readonly maxBatchSize: number;
  /** No request waits (for batching) past arrival + this, less its predicted compute time. Default: no target. */
  readonly latencyTargetUs?: number;
  /** Triton's max_queue_delay_microseconds as an upper bound on waiting (absent or 0 = no extra bound). */
  readonly maxQueueDelayUs?: number;
  /** Triton's preferred_batch_size: the largest one caps the batch. */
  readonly preferredBatchSizes?: readonly number[];
  /** Arrival-rate time constant (µs). */
  readonly rateTauUs?: number;
  /** Per-row costs within this fraction of the best count as "no better" when finding the knee. */
  readonly kneeTolerance?: number;
  /**
   * The instances compute on the core that also runs the server's request handling (a one-core server): then
   * filling batches to the far end of the flat region pays even below a backlog (see fillWait).
   */
  readonly sharedCores?: boolean;
}

/** One in this many batches that the knee caps while more rows wait is dispatched at twice the knee instead. */
const EXPLORE_EVERY = 16;

/** Wait only when batches of the current size could serve less than 1/WAIT_THRESHOLD of the arrivals. */
const WAIT_THRESHOLD = 1.5;

/** Filling a batch (sharedCores) stops when no row came for this many mean inter-arrival gaps. */
const FILL_GAPS = 4;

/**
 * Batches are filled (sharedCores) only while arrivals would keep the instances this busy even in batches at the
 * far end: near capacity, where fewer batches raise throughput. Below it waiting only adds latency (2 cores, Poisson
 * at 50 % load: p50 20–24 ms against 6–11 ms for static batching when every busy moment filled).
 */
const FILL_LOAD = 0.6;

/**
 * The load FILL_LOAD is judged on is the arrival rate over this time constant, not λ's 50 ms: a closed loop arrives
 * in waves a batch apart, and over 50 ms its rate swung between 0.14 and 0.6 of the far end's capacity while the
 * server ran at ~0.7 (one core, c=128), so batches were sent at 22–79 rows.
 */
const LOAD_TAU_US = 500_000;

/** Waits shorter than this (µs) are not worth a timer (setTimeout has 1 ms resolution). */
const MIN_WAIT_US = 50;

/**
 * Adaptive batching (docs/scheduling.md). Learns t(b) from observed batches and the arrival rate λ online, then:
 * - dispatch at once when nothing is known, when arrivals are slow, or when the batch already reaches the knee (the
 *   size past which rows stop getting cheaper — a model that gains nothing from batching has its knee at 1);
 * - otherwise, when batches of the current size cannot keep up with arrivals (utilization λ·t(n)/n / instances ≥ 1),
 *   wait for the smallest size k that can, but never longer than t(n) counted from the oldest request's arrival
 *   (what dispatching now would make the next arrivals wait anyway), never so long that a queued request's deadline
 *   or the latency target would be missed, and never past max_queue_delay_microseconds when configured;
 * - a backlog is served at the far end of the flat region instead of the knee (see decide);
 * - on cores shared with request handling, that far end is the aim at any load, and a busy server waits for rows
 *   while they keep arriving (fillWait).
 */
export class AdaptivePolicy implements BatchPolicy {
  readonly name = 'adaptive';
  private readonly times: ServiceTimeModel;
  private readonly rate: ArrivalRate;
  private readonly load: ArrivalRate;
  private readonly maxBatch: number;
  private readonly latencyTargetUs: number;
  private readonly delayBoundUs: number;
  private readonly sharedCores: boolean;
  private cappedDispatches = 0;
  /**
   * How much of a computed wait to spend, in [0, 1], learned from what past waits brought (AIMD, as Clipper does for
   * batch sizes): a wait that ended with no new rows (a closed-loop client that cannot send more until it is
   * answered) halves it; a wait that gathered rows raises it. The arrival-rate estimate cannot tell these apart.
   */
  private waitCredit = 1;
  /** The wait in progress: rows queued when it began, and when it ends. */
  private pendingWait: { readonly rows: number; readonly untilUs: number } | undefined;
  /** The latest arrival or answered batch, and when the current fill began (sharedCores). */
  private lastEventUs = -Infinity;
  private batchAnswered = false;
  private fillStartUs: number | undefined;

  constructor(o: AdaptivePolicyOptions) {
    const preferred = (o.preferredBatchSizes ?? []).filter((s) => s >= 1 && s <= o.maxBatchSize);
    this.maxBatch = preferred.length > 0 ? Math.max(...preferred) : o.maxBatchSize;
    this.times = new ServiceTimeModel(o.maxBatchSize, 0.2, o.kneeTolerance ?? 0.05);
    this.rate = new ArrivalRate(o.rateTauUs ?? 50_000);
    this.load = new ArrivalRate(LOAD_TAU_US);
    this.latencyTargetUs = o.latencyTargetUs && o.latencyTargetUs > 0 ? o.latencyTargetUs : Infinity;
    this.delayBoundUs = o.maxQueueDelayUs && o.maxQueueDelayUs > 0 ? o.maxQueueDelayUs : Infinity;
    this.sharedCores = o.sharedCores ?? false;
  }

  /** The batch size the policy will not exceed now (knee of the observed curve, bounded by the config). */
  cap(): number {
    return this.bound(this.times.flatRegion()?.first);
  }

  /** A size from the curve (undefined: nothing observed yet), bounded by the config. */
  private bound(size: number | undefined): number {
    return size === undefined ? this.maxBatch : Math.min(this.maxBatch, size);
  }

  decide(q: QueueState, nowUs: number): BatchDecision {
    const d = this.choose(q, nowUs);
    if ('dispatch' in d) this.fillStartUs = undefined;
    return d;
  }

  private choose(q: QueueState, nowUs: number): BatchDecision {
    this.learnFromWait(q.queuedRows, nowUs);
    if (this.batchAnswered) {
      // A closed loop's clients send again once answered: a wave of rows starts now.
      this.batchAnswered = false;
      this.lastEventUs = nowUs;
    }
    const n = Math.min(q.queuedRows, this.maxBatch);
    // A backlog that fills the largest flat-region batches on every instance twice over is served in those: its wait
    // is queueing, which only throughput shortens, and fewer batches cost the server less per row than knee ones.
    // On cores shared with request handling those batches are the aim at any load (fillWait).
    const region = this.times.flatRegion();
    const end = this.bound(region?.last);
    const large = this.sharedCores || q.backlogRows >= 2 * end * Math.max(1, q.instances);
    const cap = Math.max(large ? end : this.bound(region?.first), q.headRows);
    if (n >= cap) {
      // Re-measure a larger size now and then: a noisy sample (a busy machine during warm-up) must not pin the
      // knee low forever, since sizes above the cap are otherwise never observed again.
      if (n > cap && ++this.cappedDispatches % EXPLORE_EVERY === 0) return { dispatch: Math.min(n, 2 * cap) };
      return { dispatch: cap };
    }
    const lambda = this.rate.rate(nowUs);
    const tn = this.times.predict(n);
    if (lambda <= 0 || tn <= 0) return { dispatch: n };
    if (this.sharedCores) {
      const fill = this.fillWait(q, n, end, lambda, nowUs);
      if (fill !== undefined) return fill;
    }
    const instances = Math.max(1, q.instances);
    // Near the greedy fixed point (ρ ≈ 1) batches grow by themselves while the instance is busy; intervene only when
    // batches of this size are clearly too small (the lone first request of a burst, a closed loop's straggler).
    if ((lambda * tn) / n / instances < WAIT_THRESHOLD) return { dispatch: n };
    // Smallest k in (n, cap] whose batches keep up with arrivals; cap when none does.
    let k = cap;
    for (let b = n + 1; b < cap; b++) {
      if ((lambda * this.times.predict(b)) / b / instances < 1) { k = b; break; }
    }
    const tk = this.times.predict(k);
    const until = Math.min(
      nowUs + (k - n) / lambda,
      q.oldestArrivalUs + tn,
      q.oldestArrivalUs + this.delayBoundUs,
      q.oldestArrivalUs + this.latencyTargetUs - tk,
      q.earliestDeadlineUs - tk,
    );
    const waitUs = (until - nowUs) * this.waitCredit;
    if (waitUs < MIN_WAIT_US) {
      // Not waiting now; let the credit creep back so a load that would fill batches gets found again.
      this.waitCredit = Math.min(1, this.waitCredit + 1 / 16);
      return { dispatch: n };
    }
    this.pendingWait = { rows: q.queuedRows, untilUs: nowUs + waitUs };
    return { waitUntil: nowUs + waitUs };
  }

  /**
   * On cores shared with request handling a batch computes only as fast as the handling leaves it the CPU, and every
   * request read while it runs preempts it: under load, compute and handling take turns whatever the policy does, so
   * waiting for rows costs no throughput, while a larger batch costs fewer CPU-µs per row and is interrupted less
   * (one core, MLP 1024→8192→1024, c=128: batches of 128 served 4.4–4.7k rows/s against 3.3–4.1k for the 64 that
   * dispatching at once yields; bench/request-path.ts). So near capacity (FILL_LOAD), queued rows (n ≥ 2: concurrent
   * clients, not one at a time) wait for more while they keep arriving — until no row came for a few mean gaps since the last
   * arrival or answered batch (a closed loop whose clients are all queued sends no more; one whose batch was just
   * answered is about to send a wave), at most t(far end) in all, within the deadlines and bounds. The average rate
   * alone would split such waves into small batches.
   */
  private fillWait(q: QueueState, n: number, end: number, lambda: number, nowUs: number): BatchDecision | undefined {
    const tEnd = this.times.predict(end);
    if (n < 2 || (this.load.rate(nowUs) * tEnd) / end / Math.max(1, q.instances) < FILL_LOAD) return undefined;
    this.fillStartUs ??= nowUs;
    const until = Math.min(
      this.fillStartUs + tEnd,
      this.lastEventUs + Math.min(FILL_GAPS / lambda, tEnd / FILL_GAPS),
      q.oldestArrivalUs + this.delayBoundUs,
      q.oldestArrivalUs + this.latencyTargetUs - tEnd,
      q.earliestDeadlineUs - tEnd,
    );
    return until - nowUs < MIN_WAIT_US ? undefined : { waitUntil: until };
  }

  private learnFromWait(queuedRows: number, nowUs: number): void {
    const w = this.pendingWait;
    if (!w) return;
    if (queuedRows > w.rows) {
      this.waitCredit = Math.min(1, this.waitCredit + 0.25);
      this.pendingWait = undefined;
    } else if (nowUs >= w.untilUs) {
      this.waitCredit /= 2;
      this.pendingWait = undefined;
    }
  }

  observeArrival(rows: number, nowUs: number): void {
    this.rate.observe(rows, nowUs);
    this.load.observe(rows, nowUs);
    this.lastEventUs = nowUs;
  }

  observeBatch(rows: number, computeUs: number): void {
    this.times.observe(rows, computeUs);
    this.batchAnswered = true;
  }

  predictComputeUs(rows: number): number {
    return this.times.predict(rows);
  }

  backlogBatchRows(): number {
    return this.bound(this.times.flatRegion()?.last);
  }

  /** Current estimates, for logs and docs. */
  snapshot(nowUs: number): { lambdaPerSec: number; cap: number; fit: { alpha: number; beta: number } | undefined } {
    return { lambdaPerSec: this.rate.rate(nowUs) * 1e6, cap: this.cap(), fit: this.times.fit() };
  }
}
