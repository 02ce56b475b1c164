/**
 * A deterministic discrete-event simulation of one model's batching: arrivals, the server's own Dispatcher (admission,
 * deadline expiry, the BatchPolicy, batch forming — src/scheduler/dispatcher.ts) and `instances` servers whose batch
 * time is a synthetic curve t(b). The event loop does what BatchingScheduler does around the dispatcher: it asks after
 * every arrival, every finished batch and at the wake-up time the dispatcher returned, and teaches the policy t(b) when
 * a batch finishes. Virtual time in µs; no timers, no randomness beyond a seeded generator — the same inputs give the
 * same result, so tests on it cannot be timing-flaky.
 */
import { type BatchPolicy, isDispatch } from '../../src/scheduler/batch-policy.js';
import { Dispatcher } from '../../src/scheduler/dispatcher.js';
import type { BatchableEntry } from '../../src/scheduler/form-batch.js';
import type { LevelPolicy, QueueConfig } from '../../src/scheduler/queue-config.js';
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
  /** Priority levels and their policies (default: SIM_QUEUE, four unbounded REJECT levels honouring request timeouts). */
  readonly queue?: QueueConfig;
  /** Requests waiting in a level and the levels above it, at most (default: no bound). */
  readonly maxQueueSize?: number;
}

const OPEN_LEVEL: LevelPolicy = { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 };

/** Four priority levels, unbounded, each honouring the request's timeout (REJECT). */
export const SIM_QUEUE: QueueConfig = { levels: [OPEN_LEVEL, OPEN_LEVEL, OPEN_LEVEL, OPEN_LEVEL], defaultLevel: 0 };

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The policy as given, but a wait until now or earlier (a busy loop in the server) is a conformance failure here. */
function strict(p: BatchPolicy): BatchPolicy {
  return {
    name: p.name,
    decide: (q, nowUs) => {
      const d = p.decide(q, nowUs);
      if (!isDispatch(d) && !(d.waitUntil > nowUs)) throw new Error(`policy ${p.name} asked to wait until ${d.waitUntil} at ${nowUs}`);
      return d;
    },
    observeArrival: (rows, nowUs) => p.observeArrival(rows, nowUs),
    observeBatch: (rows, us) => p.observeBatch(rows, us),
    predictComputeUs: (rows) => p.predictComputeUs(rows),
    backlogBatchRows: () => p.backlogBatchRows(),
  };
}

interface Running {
  readonly endUs: number;
  readonly rows: number;
}

export function simulate(o: SimOptions): SimResult {
  const instances = o.instances ?? 1;
  for (const b of o.warmUp ?? []) o.policy.observeBatch(b, o.curve(b));
  const d = new Dispatcher<Entry>({
    policy: strict(o.policy), queue: o.queue ?? SIM_QUEUE, maxBatchSize: o.maxBatch, maxQueueSize: o.maxQueueSize, instances, model: 'sim',
  });
  const records: SimRecord[] = [];
  const batches: number[] = [];
  const running: Running[] = []; // few: ≤ instances
  let idle = instances;
  let wakeAt = Infinity;
  let next = 0;
  let now = 0;
  let rejected = 0;
  let refused = 0;
  const expired: Entry[] = [];

  /** What BatchingScheduler.pump does: answer the expired, run every batch the dispatcher forms, re-arm the timer. */
  const pump = (): void => {
    for (;;) {
      expired.length = 0;
      const step = d.next(now, idle, expired);
      for (const e of expired) { e.rec.endUs = now; rejected++; }
      if (typeof step === 'number') {
        // As BatchingScheduler.arm: one timer; an earlier pending wake-up is kept (it re-decides anyway).
        if (step === Infinity || d.size === 0) wakeAt = Infinity;
        else if (!(wakeAt <= step && wakeAt > now)) wakeAt = step;
        return;
      }
      const dur = o.curve(step.rows);
      for (const e of step.entries) { e.rec.startUs = now; e.rec.endUs = now + dur; e.rec.batchRows = step.rows; }
      batches.push(step.rows);
      running.push({ endUs: now + dur, rows: step.rows });
      idle--;
    }
  };

  for (;;) {
    const tArrival = next < o.arrivals.length ? o.arrivals[next].atUs : Infinity;
    let tDone = Infinity;
    for (const r of running) tDone = Math.min(tDone, r.endUs);
    const t = Math.min(tArrival, tDone, wakeAt);
    if (t === Infinity) break;
    now = Math.max(now, t);
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i].endUs > now) continue;
      // As the scheduler: the policy learns t(b) when the batch ends, then its instance is free and it decides again.
      d.observeBatch(running[i].rows, o.curve(running[i].rows));
      running.splice(i, 1);
      idle++;
      pump();
    }
    if (wakeAt <= now) {
      wakeAt = Infinity;
      pump();
    }
    while (next < o.arrivals.length && o.arrivals[next].atUs <= now) {
      const a = o.arrivals[next++];
      const rec: SimRecord = { arrival: a, startUs: -1, endUs: -1, batchRows: 0, refused: false };
      records.push(rec);
      const level = a.level ?? 0;
      const e: Entry = {
        rec, seq: -1, rows: a.rows, level, arrivalUs: now, deadlineUs: d.deadlineOf(level, a.timeoutUs, a.atUs, now),
        timeoutAction: (o.queue ?? SIM_QUEUE).levels[level].timeoutAction, heapIndex: -1, where: 'out', shapeKey: '',
      };
      if (d.admit(e, now)) {
        rec.refused = true;
        rec.endUs = now;
        refused++;
        continue;
      }
      pump(); // as enqueue
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
