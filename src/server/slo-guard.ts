import type { ModelConfig } from '../core/index.js';
import { queueConfigOf } from '../scheduler/queue-config.js';
import { PARAM_SLO_TARGET } from '../scheduler/create-scheduler.js';
import type { SloMetrics } from '../metrics/inference-metrics.js';


/** How often the observed p99 is compared with the target (µs), given enough answers. */
const EVALUATE_US = 250_000;
/** Answers needed for a p99 worth acting on; past 4 × EVALUATE_US a quieter model is judged on at least MIN_QUIET. */
const MIN_ANSWERS = 100;
const MIN_QUIET = 20;
/** The latest answers kept for the p99 (a ring: the window is the last EVALUATE_US or these many, whichever is less). */
const KEEP = 4096;
/**
 * Shedding grows by SHED_STEP levels per evaluation while the p99 is over the target, and shrinks by RECOVER_STEP
 * once it is below RECOVER_BELOW × target: out of trouble fast, back into it slowly. Whole levels on and off made
 * the p99 swing (1.5× overload, two levels, 80 % of the traffic in the lower one: p99 1.44–1.81 × target, as the
 * lower level came back in full and was shed again, bench/overload.ts).
 */
const SHED_STEP = 0.25;
const RECOVER_STEP = 0.125;
const RECOVER_BELOW = 0.75;

/** What the guard exports, read by the metrics collector. */
export interface SloState {
  readonly targetUs: number;
  /** p99 of the answers of the last evaluation (0 before the first). */
  readonly observedP99Us: number;
  /**
   * How much of the lowest priority levels is shed: 1.5 = the lowest level entirely and half of the next one's
   * requests (0 = none; at most levels − 1).
   */
  readonly sheddingLevels: number;
  /** Requests refused by shedding, per level (0 = highest priority). */
  readonly shed: readonly number[];
}

/**
 * A model's latency SLO: while the p99 of its answers (from when the frontend received each request to the answer)
 * stays above the target, the lowest priority levels are shed — a fraction of a level at a time (SHED_STEP per
 * evaluation), lowest first; the highest level is never shed (admission still refuses its requests that are predicted
 * to miss the target). Once the p99 is below RECOVER_BELOW × target, shedding shrinks by RECOVER_STEP per evaluation.
 * A partly shed level refuses that fraction of its requests, evenly spread (error diffusion: deterministic, no
 * randomness). Pure state: the caller passes the time.
 */
export class SloGuard {
  private readonly ring = new Float64Array(KEEP);
  private count = 0;
  private windowStartUs = -Infinity;
  /** In [0, levels − 1]: whole levels shed from the lowest up, then the fraction of the next. */
  private shedding = 0;
  /** The partly shed level's error-diffusion accumulator. */
  private owed = 0;
  private p99Us = 0;
  private readonly shedCounts: number[];
  private readonly scratch = new Float64Array(KEEP);

  constructor(readonly targetUs: number, readonly levels: number, private readonly metrics?: SloMetrics) {
    this.shedCounts = new Array<number>(levels).fill(0);
    if (metrics) {
      metrics.targetUs.set(targetUs);
      metrics.sheddingLevels.collect = () => this.shedding;
      metrics.observedP99Us.collect = () => this.p99Us;
    }
  }

  /** Whether a request of `level` (0 = highest priority) is shed now (and counts it). */
  sheds(level: number, nowUs: number): boolean {
    if (this.shedding === 0) return false;
    this.recoverIfQuiet(nowUs);
    const depth = this.levels - 1 - level; // 0 for the lowest level
    const whole = Math.floor(this.shedding);
    if (depth > whole) return false;
    if (depth === whole) {
      // The partly shed level: refuse its share of requests, spread evenly.
      this.owed += this.shedding - whole;
      if (this.owed < 1) return false;
      this.owed -= 1;
    }
    this.shedCounts[level]++;
    this.metrics?.shed[level].inc();
    return true;
  }

  /** One answer's latency, µs. */
  observe(latencyUs: number, nowUs: number): void {
    if (this.windowStartUs === -Infinity) this.windowStartUs = nowUs;
    this.ring[this.count % KEEP] = latencyUs;
    this.count++;
    const age = nowUs - this.windowStartUs;
    if (age >= EVALUATE_US && (this.count >= MIN_ANSWERS || (age >= 4 * EVALUATE_US && this.count >= MIN_QUIET))) this.evaluate(nowUs);
  }

  /**
   * Without answers nothing is evaluated: a model shedding the levels all its traffic comes in would stay so. After 4
   * evaluation periods with too few answers to judge, shedding shrinks by one step.
   */
  private recoverIfQuiet(nowUs: number): void {
    if (nowUs - this.windowStartUs >= 4 * EVALUATE_US && this.count < MIN_QUIET) {
      this.setShedding(this.shedding - RECOVER_STEP);
      this.windowStartUs = nowUs;
      this.count = 0;
    }
  }

  private evaluate(nowUs: number): void {
    const n = Math.min(this.count, KEEP);
    const xs = this.scratch.subarray(0, n);
    xs.set(this.ring.subarray(0, n));
    xs.sort();
    this.p99Us = xs[Math.min(n - 1, Math.ceil(0.99 * n) - 1)];
    if (this.p99Us > this.targetUs) this.setShedding(this.shedding + SHED_STEP);
    else if (this.p99Us < RECOVER_BELOW * this.targetUs) this.setShedding(this.shedding - RECOVER_STEP);
    this.count = 0;
    this.windowStartUs = nowUs;
  }

  private setShedding(x: number): void {
    const next = Math.max(0, Math.min(this.levels - 1, x));
    if (Math.floor(next) !== Math.floor(this.shedding)) this.owed = 0;
    this.shedding = next;
  }

  get state(): SloState {
    return { targetUs: this.targetUs, observedP99Us: this.p99Us, sheddingLevels: this.shedding, shed: [...this.shedCounts] };
  }
}

/** The guard a config asks for (none without latency_target_us); throws, naming the parameter, on a bad value. */
export function sloGuardOf(config: Readonly<ModelConfig>, metrics?: (levels: number) => SloMetrics): SloGuard | undefined {
  const raw = config.parameters?.[PARAM_SLO_TARGET]?.string_value;
  if (raw === undefined) return undefined;
  const targetUs = Number(raw);
  if (!(Number.isFinite(targetUs) && targetUs > 0)) {
    throw new Error(`parameter ${PARAM_SLO_TARGET} must be a positive number of microseconds (got '${raw}')`);
  }
  const levels = queueConfigOf(config.dynamic_batching).levels.length;
  return new SloGuard(targetUs, levels, metrics?.(levels));
}
