/**
 * Two priority levels under overload, in the deterministic simulation (test/scheduler/simulation.ts): the issue's
 * third benchmark, with synthetic service curves instead of a real model, so it checks the decision code alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptivePolicy } from '../../src/scheduler/policies/adaptive-policy.js';
import { CURVES, type Arrival, type ServiceCurve, capacityAt, percentile, poisson, simulate } from './simulation.js';

const MAX = 128;
const WARM = [1, 2, 4, 8, 16, 32, 64, 128];
const HIGH_ROWS = 8;

/** High-priority requests of HIGH_ROWS rows at 20 % of capacity, alone or with low-priority ones at 130 %. */
function run(curve: ServiceCurve, withLow: boolean, timeoutUs: number) {
  const cap = capacityAt(curve, MAX) / HIGH_ROWS; // requests of HIGH_ROWS rows per second
  const high = poisson(0.2 * cap, 600, 31, { level: 0, rows: HIGH_ROWS, timeoutUs });
  const span = high[high.length - 1].atUs;
  const low = withLow ? poisson(1.3 * cap, Math.round(1.3 * cap * span / 1e6), 32, { level: 1, rows: HIGH_ROWS, timeoutUs }) : [];
  const arrivals: Arrival[] = [...high, ...low].sort((a, b) => a.atUs - b.atUs);
  const r = simulate({ policy: new AdaptivePolicy({ maxBatchSize: MAX }), curve, arrivals, maxBatch: MAX, warmUp: WARM });
  const lat = (level: number) => r.records.filter((x) => x.arrival.level === level && x.startUs >= 0)
    .map((x) => x.endUs - x.arrival.atUs).sort((a, b) => a - b);
  const of = (level: number) => r.records.filter((x) => x.arrival.level === level);
  return { r, highP99: percentile(lat(0), 99), high: of(0), low: of(1), span };
}

for (const [name, curve] of Object.entries(CURVES) as Array<[string, ServiceCurve]>) {
  test(`${name}: in 1.5× overload, high-priority p99 stays within 2× of its p99 alone, and no answer is late`, () => {
    const timeoutUs = 40 * curve(HIGH_ROWS);
    const alone = run(curve, false, timeoutUs);
    const mixed = run(curve, true, timeoutUs);
    assert.ok(mixed.highP99 <= 2 * alone.highP99,
      `high p99 ${(mixed.highP99 / 1000).toFixed(2)} ms in overload, ${(alone.highP99 / 1000).toFixed(2)} ms alone`);
    assert.ok(mixed.high.every((x) => x.startUs >= 0), 'every high-priority request ran');
    for (const x of mixed.r.records) {
      if (x.startUs >= 0) assert.ok(x.endUs <= x.arrival.atUs + timeoutUs, `finished ${x.endUs - x.arrival.atUs} µs after arrival`);
    }
    // Low-priority requests the server cannot serve in time are refused at admission (fast), not admitted and failed.
    const lowFailedLate = mixed.low.filter((x) => x.startUs < 0 && !x.refused).length;
    const lowRefused = mixed.low.filter((x) => x.refused).length;
    assert.ok(lowRefused > 0, 'the overload is refused at admission');
    assert.ok(lowFailedLate <= 0.05 * mixed.low.length, `${lowFailedLate} of ${mixed.low.length} low requests admitted, then timed out`);
    // The lower level still gets a fair share of the machine: the capacity left over, in smaller batches.
    const lowRowsPerSec = mixed.low.filter((x) => x.startUs >= 0).length * HIGH_ROWS / (mixed.span / 1e6);
    assert.ok(lowRowsPerSec >= 0.4 * capacityAt(curve, MAX), `low priority served ${lowRowsPerSec.toFixed(0)} rows/s`);
  });
}

test('per-level queue bounds hold in the simulation: a bounded low level refuses past its bound, the high level runs', () => {
  const curve = CURVES.mlp;
  const cap = capacityAt(curve, MAX) / HIGH_ROWS;
  const high = poisson(0.2 * cap, 300, 41, { level: 0, rows: HIGH_ROWS });
  const low = poisson(1.3 * cap, 1950, 42, { level: 1, rows: HIGH_ROWS });
  const arrivals = [...high, ...low].sort((a, b) => a.atUs - b.atUs);
  const open = { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 } as const;
  const run = (lowBound: number) => {
    const r = simulate({
      policy: new AdaptivePolicy({ maxBatchSize: MAX }), curve, arrivals, maxBatch: MAX, warmUp: WARM,
      queue: { levels: [open, { ...open, maxQueueSize: lowBound }], defaultLevel: 1 },
    });
    const of = (level: number) => r.records.filter((x) => x.arrival.level === level);
    const lowWait = Math.max(...of(1).filter((x) => x.startUs >= 0).map((x) => x.startUs - x.arrival.atUs));
    return { r, of, lowWait };
  };
  // No timeouts: unbounded, the low level's queue (and its wait) grows for as long as the overload lasts.
  const unbounded = run(0);
  assert.equal(unbounded.r.refused, 0);
  assert.ok(unbounded.lowWait > 20 * curve(MAX), `unbounded: low requests waited up to ${unbounded.lowWait} µs`);
  // Bounded at 32 requests (256 rows, two batches): the rest is refused at once, and what is admitted waits little.
  const bounded = run(32);
  assert.ok(bounded.of(0).every((x) => x.startUs >= 0), 'every high-priority request ran');
  assert.ok(bounded.of(1).some((x) => x.refused), 'the overload is refused at the low level\'s bound');
  assert.ok(bounded.of(0).every((x) => !x.refused), 'the high level is not refused for the low level\'s bound');
  assert.equal(bounded.r.completed + bounded.r.refused, arrivals.length);
  assert.ok(bounded.lowWait <= 8 * curve(MAX), `bounded: low requests waited up to ${bounded.lowWait} µs`);
});
