import { ArrivalRate } from './arrival-rate.js';

/** A priority level "has live traffic" while its latest arrival is at most this old (µs). */
const LIVE_WINDOW_US = 100_000;

/**
 * While a higher priority level has live traffic, lower-level rows go into a batch only while its predicted time
 * stays within this factor of the time of a batch of the higher level's own (typical) size.
 * Batches are not preemptible: a high-priority request waits for the batch running when it arrives, then runs in a
 * batch of its own; bounding both by this factor of its own compute time bounds its latency at about twice that,
 * at the cost of smaller, less efficient batches for the lower levels meanwhile (bench/batching-priority.ts).
 */
const PRIORITY_STRETCH = 1.5;

/** Time constant of the per-level arrival rates (µs). */
const RATE_TAU_US = 200_000;

/** How long a computed budget stands (µs): the curve and the typical size drift slowly. */
const BUDGET_TTL_US = 50_000;

/** Predicted compute time of a batch of `rows` rows, µs (0 when unknown): the batch policy's. */
export type PredictUs = (rows: number) => number;

/** How a level's queue drains (LevelTraffic.drain). */
export interface Drain {
  /** Rows per µs (0 while t(b) is unknown). */
  rowsPerUs: number;
  /** Rows of the batches it drains in. */
  batchRows: number;
}

/**
 * What the scheduler knows of each priority level's traffic (when it last arrived, its rows per request, its rate),
 * and the two limits that traffic puts on lower levels: the size of their batches (batchRows) and how fast their
 * queue drains, which admission control uses to predict a request's wait (drain). Pure decision code: the
 * caller passes the time, the queue's figures and the policy's predictions.
 */
export class LevelTraffic {
  private readonly lastUs: Float64Array;
  private readonly meanRows: Float64Array;
  private readonly rates: ArrivalRate[];
  private budget = { top: -1, rows: 0, untilUs: -Infinity };

  constructor(readonly levels: number, private readonly maxRows: number, private readonly predict: PredictUs) {
    this.lastUs = new Float64Array(levels).fill(-Infinity);
    this.meanRows = new Float64Array(levels);
    this.rates = Array.from({ length: levels }, () => new ArrivalRate(RATE_TAU_US));
  }

  observe(level: number, rows: number, nowUs: number): void {
    this.lastUs[level] = nowUs;
    const m = this.meanRows[level];
    this.meanRows[level] = m === 0 ? rows : m + (rows - m) / 16;
    this.rates[level].observe(rows, nowUs);
  }

  /**
   * The highest priority level with live traffic — a recent arrival, or requests queued (`headLevel`, the level of
   * the queue's head) — or `levels` when none has.
   */
  topLive(nowUs: number, headLevel: number): number {
    let top = 0;
    while (top < headLevel && nowUs - this.lastUs[top] >= LIVE_WINDOW_US) top++;
    return top;
  }

  /**
   * The rows of a batch the policy decided to be `decided` rows: unchanged, less the lower-level rows that would make
   * it too long for the highest level with live traffic. That level's queued rows (`rowsAtOrAbove(top)`) and the
   * head request are always taken.
   */
  batchRows(decided: number, head: { readonly level: number; readonly rows: number }, rowsAtOrAbove: (level: number) => number, nowUs: number): number {
    const top = this.topLive(nowUs, head.level);
    if (top >= this.levels - 1) return decided; // no live level has a lower one below it
    const own = head.level <= top ? rowsAtOrAbove(top) : head.rows;
    if (own >= decided) return decided;
    return Math.min(decided, Math.max(own, this.budgetRows(top, nowUs)));
  }

  /**
   * How the queue ahead of a new request of `level` drains (`headLevel`: the level of the queue's head, `levels` when
   * empty): in batches of `batchRows` at `rowsPerUs` (0 when t(b) is unknown). The batches are the policy's batches
   * under backlog (`backlogBatch` rows), no larger than the priority budget while a higher level has live traffic
   * (whole requests of the level's typical size), nor than fits in `maxBatchUs` (the request's deadline). The rate
   * is what such batches sustain in the time the higher levels' arrivals leave: their rows cost what rows of these
   * batches cost when one of their requests and one of this level's fit in one batch, a batch of their own otherwise.
   * Written into `out` (no allocation when the caller passes one). With `remember` false it changes nothing, not even
   * the cached priority budget (an admission probe must leave later decisions as they would have been).
   */
  drain(
    level: number, headLevel: number, backlogBatch: number, instances: number, nowUs: number, maxBatchUs = Infinity,
    out: Drain = { rowsPerUs: 0, batchRows: 0 }, remember = true,
  ): Drain {
    const per = Math.max(1, Math.round(this.meanRows[level]));
    let b = Math.max(1, Math.min(this.maxRows, backlogBatch));
    const top = this.topLive(nowUs, headLevel);
    if (top < level) b = Math.min(b, Math.max(per, Math.floor(this.budgetRows(top, nowUs, remember) / per) * per));
    while (b > per && this.predict(b) > maxBatchUs) b = Math.max(per, b - per);
    const t = this.predict(b);
    out.batchRows = b;
    if (!(t > 0)) {
      out.rowsPerUs = 0;
      return out;
    }
    let busy = 0; // fraction of the instances' time the higher levels take
    for (let l = 0; l < level; l++) {
      const rows = Math.max(1, Math.round(this.meanRows[l]));
      const rate = this.rates[l].rate(nowUs);
      busy += (rows + per <= b ? rate * (t / b) : (rate / rows) * this.predict(rows)) / instances;
    }
    out.rowsPerUs = ((instances * b) / t) * Math.max(1 - busy, 0.1);
    return out;
  }

  /**
   * The largest batch predicted to take at most PRIORITY_STRETCH × the time of the batches the `top` level forms on its
   * own: its requests' typical rows, or — when it arrives fast enough to batch by itself — the size whose batches keep
   * up with its arrival rate (the greedy fixed point b = λ·t(b)). Its requests wait about one such batch and run in
   * the next whatever lower levels do, so that is the latency they have anyway; a budget tied to one request's time
   * instead held lower levels to batches of a few rows under steady high-priority traffic (goodput 0.51× capacity
   * at 1.5× overload, bench/overload.ts). Half of max_batch_size while t is unknown. Cached for BUDGET_TTL_US (unless
   * `remember` is false).
   */
  private budgetRows(top: number, nowUs: number, remember = true): number {
    if (this.budget.top === top && nowUs < this.budget.untilUs) return this.budget.rows;
    let h = Math.max(1, Math.min(this.maxRows, Math.round(this.meanRows[top])));
    const lambda = this.rates[top].rate(nowUs); // rows per µs
    while (h < this.maxRows && lambda * this.predict(h) > h) h++;
    const limit = PRIORITY_STRETCH * this.predict(h);
    let rows = Math.max(1, this.maxRows >> 1);
    if (limit > 0) {
      rows = h;
      for (let b = this.maxRows; b > h; b--) if (this.predict(b) <= limit) { rows = b; break; }
    }
    if (remember) this.budget = { top, rows, untilUs: nowUs + BUDGET_TTL_US };
    return rows;
  }
}
