/**
 * A deterministic discrete-event simulation of one model's batching: arrivals, a RequestQueue, a BatchPolicy and
 * `instances` servers whose batch time is a synthetic curve t(b). Virtual time in µs; no timers, no randomness
 * beyond a seeded generator — the same inputs give the same result, so tests on it cannot be timing-flaky.
 */
import type { BatchPolicy } from '../../src/scheduler/batch-policy.js';
import { isDispatch } from '../../src/scheduler/batch-policy.js';
import { RequestQueue } from '../../src/scheduler/request-queue.js';
import { type BatchableEntry, formBatch, queueState } from '../../src/scheduler/form-batch.js';
import { LevelTraffic } from '../../src/scheduler/level-traffic.js';
import { seededRandom } from '../fixtures/random.js';

export type ServiceCurve = (rows: number) => number;

/** Synthetic t(b) shaped like the curves measured with onnxruntime-node on 2 cores (see the issue). */
export const CURVES = {
  /** Weight-bound MLP: 5.5× more rows per second at batch 64 than at 1. */
  mlp: ((b: number) => 1000 + 203 * b) as ServiceCurve,
  /** Small CNN: per-row cost nearly flat, 1.47× gain at 64. */
  cnn: ((b: number) => 100 + 207 * b) as ServiceCurve,
  /** Transformer block: ≤ 1.1× gain up to 16 rows, then per-row cost 25 % above that (−20 % throughput). */
  transformer: ((b: number) => (b <= 16 ? 200 * b / (1 + 0.1 * Math.log2(b) / 4) : 200 * b * 1.25 / 1.1)) as ServiceCurve,
} as const;

export interface Arrival {
  readonly atUs: number;
  readonly rows: number;
  /** Relative deadline (µs after arrival); absent = none. */
  readonly timeoutUs?: number;
  /** 0-based priority level. */
  readonly level?: number;
}

export const rng = seededRandom;

/** Poisson arrivals of single-row requests at `ratePerSec`, `count` of them. */
export function poisson(ratePerSec: number, count: number, seed = 1, extra: Partial<Arrival> = {}): Arrival[] {
  const r = rng(seed);
  const out: Arrival[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += (-Math.log(1 - r()) / ratePerSec) * 1e6;
    out.push({ atUs: t, rows: 1, ...extra });
  }
  return out;
}

/** Bursts of `burst` simultaneous requests, bursts Poisson at ratePerSec / burst (same mean rate). */
export function bursty(ratePerSec: number, count: number, burst: number, seed = 1): Arrival[] {
  const r = rng(seed);
  const out: Arrival[] = [];
  let t = 0;
  while (out.length < count) {
    t += (-Math.log(1 - r()) / (ratePerSec / burst)) * 1e6;
    for (let j = 0; j < burst && out.length < count; j++) out.push({ atUs: t, rows: 1 });
  }
  return out;
}

export interface SimRecord {
  readonly arrival: Arrival;
  /** Dispatch time, or -1 when rejected for its deadline (at admission or later). */
  startUs: number;
  /** Refused at admission (its predicted wait passed its deadline). */
  refused: boolean;
  endUs: number;
  batchRows: number;
}

export interface SimResult {
  readonly records: SimRecord[];
  /** Rows of every batch, in dispatch order. */
  readonly batches: number[];
  readonly completed: number;
  /** Answered DEADLINE_EXCEEDED after admission. */
  readonly rejected: number;
  /** Refused at admission. */
  readonly refused: number;
  readonly throughputPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

interface Entry extends BatchableEntry {
  readonly rec: SimRecord;
}

export interface SimOptions {
  readonly policy: BatchPolicy;
  readonly curve: ServiceCurve;
  readonly arrivals: readonly Arrival[];
  readonly maxBatch: number;
  readonly instances?: number;
  /** Batch sizes run once before the arrivals (as the scheduler's warm-up does), to seed the policy. */
  readonly warmUp?: readonly number[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** As the scheduler: predicted compute times are stretched by this much where a deadline depends on them. */
const MARGIN = 1.25;

export function simulate(o: SimOptions): SimResult {
  const instances = o.instances ?? 1;
  for (const b of o.warmUp ?? []) o.policy.observeBatch(b, o.curve(b));
  const queue = new RequestQueue<Entry>([0, 0, 0, 0]);
  // As the scheduler: priority levels' traffic limits lower-level batches and drives admission control.
  const traffic = new LevelTraffic(4, o.maxBatch, (rows) => o.policy.predictComputeUs(rows));
  const rowsAtOrAbove = (level: number) => queue.rowsAtOrAbove(level);
  const records: SimRecord[] = [];
  const batches: number[] = [];
  const completions: number[] = []; // end times of running batches (few: ≤ instances)
  let idle = instances;
  let wakeAt = Infinity;
  let next = 0;
  let now = 0;
  let seq = 0;
  let rejected = 0;
  let refused = 0;
  const taken: Entry[] = [];
  const dead: Entry[] = [];

  for (;;) {
    const tArrival = next < o.arrivals.length ? o.arrivals[next].atUs : Infinity;
    const tDone = completions.length ? Math.min(...completions) : Infinity;
    const t = Math.min(tArrival, tDone, wakeAt);
    if (t === Infinity) break;
    now = Math.max(now, t);
    if (wakeAt <= now) wakeAt = Infinity;
    for (let i = completions.length - 1; i >= 0; i--) {
      if (completions[i] <= now) { completions.splice(i, 1); idle++; }
    }
    while (next < o.arrivals.length && o.arrivals[next].atUs <= now) {
      const a = o.arrivals[next++];
      const rec: SimRecord = { arrival: a, startUs: -1, endUs: -1, batchRows: 0, refused: false };
      records.push(rec);
      const level = a.level ?? 0;
      const deadlineUs = a.timeoutUs === undefined ? Infinity : a.atUs + a.timeoutUs;
      const { rowsPerUs, batchRows } = traffic.drain(level, queue.peek()?.level ?? 4, o.policy.backlogBatchRows(), instances, now, (deadlineUs - now) / MARGIN);
      traffic.observe(level, a.rows, now);
      const ahead = queue.rowsAtOrAbove(level);
      if (deadlineUs !== Infinity && rowsPerUs > 0 &&
        now + MARGIN * (ahead / rowsPerUs + o.policy.predictComputeUs(Math.max(a.rows, Math.min(batchRows, ahead + a.rows)))) > deadlineUs) {
        rec.refused = true;
        rec.endUs = now;
        refused++;
        continue;
      }
      o.policy.observeArrival(a.rows, a.atUs);
      queue.push({
        rec, seq: seq++, rows: a.rows, level, arrivalUs: a.atUs, timeoutAction: 'REJECT',
        deadlineUs, heapIndex: -1, where: 'out', shapeKey: '',
      });
    }
    // Requests that can no longer finish by their deadline are answered at once, as the scheduler does.
    dead.length = 0;
    queue.expire(now + MARGIN * o.policy.predictComputeUs(1), dead);
    for (const e of dead) { e.rec.endUs = now; rejected++; }
    while (idle > 0 && queue.size > 0) {
      const d = o.policy.decide(queueState(queue, o.maxBatch, idle, instances), now);
      if (!isDispatch(d)) {
        if (!(d.waitUntil > now)) throw new Error(`policy ${o.policy.name} asked to wait until ${d.waitUntil} at ${now}`);
        wakeAt = d.waitUntil;
        break;
      }
      let limit = traffic.batchRows(d.dispatch, queue.peek()!, rowsAtOrAbove, now);
      if (limit > 1) {
        // As the scheduler: requests that cannot finish in time in this batch are answered now.
        dead.length = 0;
        queue.expire(now + MARGIN * o.policy.predictComputeUs(limit), dead);
        for (const e of dead) { e.rec.endUs = now; rejected++; }
        if (queue.size === 0) break;
        limit = traffic.batchRows(d.dispatch, queue.peek()!, rowsAtOrAbove, now);
      }
      taken.length = 0;
      const rows = formBatch(queue, limit, taken, (r, earliest) => now + MARGIN * o.policy.predictComputeUs(r) <= earliest);
      const dur = o.curve(rows);
      for (const e of taken) { e.rec.startUs = now; e.rec.endUs = now + dur; e.rec.batchRows = rows; }
      batches.push(rows);
      completions.push(now + dur);
      o.policy.observeBatch(rows, dur);
      idle--;
    }
  }
  const done = records.filter((r) => r.startUs >= 0);
  const lat = done.map((r) => r.endUs - r.arrival.atUs).sort((a, b) => a - b);
  const first = o.arrivals[0]?.atUs ?? 0;
  const last = done.reduce((m, r) => Math.max(m, r.endUs), first);
  return {
    records, batches, completed: done.length, rejected, refused,
    throughputPerSec: done.length / ((last - first) / 1e6),
    p50Us: percentile(lat, 50), p99Us: percentile(lat, 99),
  };
}

/** Rows per second the curve sustains at batch b with n instances. */
export const capacityAt = (curve: ServiceCurve, b: number, instances = 1): number => (instances * b * 1e6) / curve(b);
