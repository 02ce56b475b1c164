import type { ModelConfig } from '../core/index.js';
import { queueConfigOf } from '../scheduler/queue-config.js';
import type { SloMetrics } from '../metrics/inference-metrics.js';

/** The model's latency target, µs: Triton-style `parameters { key: "latency_target_us" value { string_value: "…" } }`. */
export const PARAM_SLO_TARGET = 'latency_target_us';

/** How often the observed p99 is compared with the target (µs), given enough answers. */
const EVALUATE_US = 250_000;
/** Answers needed for a p99 worth acting on; past 4 × EVALUATE_US a quieter model is judged on at least MIN_QUIET. */
const MIN_ANSWERS = 100;
const MIN_QUIET = 20;
/** The latest answers kept for the p99 (a ring: the window is the last EVALUATE_US or these many, whichever is less). */
const KEEP = 4096;
/** Shedding steps back one level once the p99 is below this fraction of the target (hysteresis: no flapping). */
const RECOVER_BELOW = 0.75;

/** What the guard exports, read by the metrics collector. */
export interface SloState {
  readonly targetUs: number;
  /** p99 of the answers of the last evaluation (0 before the first). */
  readonly observedP99Us: number;
  /** How many of the lowest priority levels are shed (0 = none). */
  readonly sheddingLevels: number;
  /** Requests refused by shedding, per level (0 = highest priority). */
  readonly shed: readonly number[];
}

/**
 * A model's latency SLO: while the p99 of its answers (from when the frontend received each request to the answer)
 * stays above the target, priority levels are shed one at a time, lowest first, one step per evaluation; the highest
 * level is never shed (admission still refuses its requests that are predicted to miss the target). Once the p99
 * falls below RECOVER_BELOW × target, levels come back one per evaluation. Pure state: the caller passes the time.
 */
export class SloGuard {
  private readonly ring = new Float64Array(KEEP);
  private count = 0;
  private windowStartUs = -Infinity;
  /** Levels ≥ this are shed. */
  private shedFrom: number;
  private p99Us = 0;
  private readonly shedCounts: number[];
  private readonly scratch = new Float64Array(KEEP);

  constructor(readonly targetUs: number, readonly levels: number, private readonly metrics?: SloMetrics) {
    this.shedFrom = levels;
    this.shedCounts = new Array<number>(levels).fill(0);
    if (metrics) {
      metrics.targetUs.set(targetUs);
      metrics.sheddingLevels.collect = () => this.levels - this.shedFrom;
      metrics.observedP99Us.collect = () => this.p99Us;
    }
  }

  /** Whether a request of `level` is shed now (and counts it). */
  sheds(level: number, nowUs: number): boolean {
    if (level < this.shedFrom) return false;
    this.recoverIfQuiet(nowUs);
    if (level < this.shedFrom) return false;
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
   * Without answers nothing is evaluated: a model shedding every level its traffic comes in would stay so. After 4
   * evaluation periods with too few answers to judge, one level comes back.
   */
  private recoverIfQuiet(nowUs: number): void {
    if (this.shedFrom < this.levels && nowUs - this.windowStartUs >= 4 * EVALUATE_US && this.count < MIN_QUIET) {
      this.shedFrom++;
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
    if (this.p99Us > this.targetUs) this.shedFrom = Math.max(1, this.shedFrom - 1);
    else if (this.p99Us < RECOVER_BELOW * this.targetUs) this.shedFrom = Math.min(this.levels, this.shedFrom + 1);
    this.count = 0;
    this.windowStartUs = nowUs;
  }

  get state(): SloState {
    return { targetUs: this.targetUs, observedP99Us: this.p99Us, sheddingLevels: this.levels - this.shedFrom, shed: [...this.shedCounts] };
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
