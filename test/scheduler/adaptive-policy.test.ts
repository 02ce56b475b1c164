/** The adaptive policy's decisions on hand-made queue states (pure: no clock, no timers). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptivePolicy } from '../../src/scheduler/policies/adaptive-policy.js';
import { ServiceTimeModel } from '../../src/scheduler/service-time-model.js';
import { ArrivalRate } from '../../src/scheduler/arrival-rate.js';
import type { QueueState } from '../../src/scheduler/batch-policy.js';

const mlp = (b: number) => 5000 + 300 * b; // µs: a large fixed cost, cheap rows
const state = (over: Partial<QueueState>): QueueState => ({
  queuedRows: 1, backlogRows: over.queuedRows ?? 1, headRows: 1, oldestArrivalUs: 0, earliestDeadlineUs: Infinity, idleInstances: 1, instances: 1, ...over,
});
function trained(curve: (b: number) => number, max = 64): AdaptivePolicy {
  const p = new AdaptivePolicy({ maxBatchSize: max });
  for (let b = 1; b <= max; b *= 2) p.observeBatch(b, curve(b));
  return p;
}

test('no load, no delay: dispatch at once whatever the curve', () => {
  const p = trained(mlp);
  assert.deepEqual(p.decide(state({}), 10), { dispatch: 1 });
  const cold = new AdaptivePolicy({ maxBatchSize: 64 });
  cold.observeArrival(1, 0);
  assert.deepEqual(cold.decide(state({}), 0), { dispatch: 1 }, 'nothing known yet');
});

test('a burst: the lone first request waits (at most t(1)) for the rest, bounded by its deadline', () => {
  const p = trained(mlp);
  for (let i = 0; i < 64; i++) p.observeArrival(1, i * 20); // 64 requests in 1.3 ms: ~50 000/s
  const d = p.decide(state({ oldestArrivalUs: 1280 }), 1280);
  assert.ok('waitUntil' in d, JSON.stringify(d));
  assert.ok(d.waitUntil > 1280 && d.waitUntil <= 1280 + mlp(1));
  const tight = p.decide(state({ oldestArrivalUs: 1280, earliestDeadlineUs: 1280 + mlp(4) }), 1280);
  assert.deepEqual(tight, { dispatch: 1 }, 'waiting would carry the deadline past due');
});

test('the knee caps batches: a curve that loses past 16 is not pushed past it; one that gains nothing stays small', () => {
  const knee16 = (b: number) => (b <= 16 ? 1000 + 100 * b : 1000 + 100 * 16 + 400 * (b - 16));
  assert.deepEqual(trained(knee16).decide(state({ queuedRows: 64 }), 0), { dispatch: 16 });
  const flat = (b: number) => 200 * b;
  const d = trained(flat).decide(state({ queuedRows: 64 }), 0);
  assert.ok('dispatch' in d && d.dispatch <= 2, JSON.stringify(d));
  assert.deepEqual(trained(mlp).decide(state({ queuedRows: 64 }), 0), { dispatch: 64 });
});

test('max_queue_delay and preferred sizes bound the adaptive policy', () => {
  const p = new AdaptivePolicy({ maxBatchSize: 64, maxQueueDelayUs: 300, preferredBatchSizes: [8, 32] });
  for (let b = 1; b <= 64; b *= 2) p.observeBatch(b, mlp(b));
  assert.deepEqual(p.decide(state({ queuedRows: 64 }), 0), { dispatch: 32 });
  for (let i = 0; i < 64; i++) p.observeArrival(1, i * 20);
  const d = p.decide(state({ oldestArrivalUs: 1200 }), 1280);
  assert.ok('waitUntil' in d && d.waitUntil <= 1500, JSON.stringify(d));
});

test('service-time model: interpolates, extrapolates with the fitted slope, finds the knee', () => {
  const m = new ServiceTimeModel(128);
  for (const b of [1, 2, 4, 8, 16, 32, 64]) m.observe(b, mlp(b));
  assert.equal(m.predict(12), mlp(12));
  assert.ok(Math.abs(m.predict(128) - mlp(128)) < 1);
  assert.deepEqual(m.fit(), { alpha: 5000, beta: 300 });
  assert.equal(m.knee(), 128, 'still improving at the largest size seen: explore twice as far');
  m.observe(0, 5); m.observe(999, 5); m.observe(3, NaN); // ignored
  assert.deepEqual(m.observedSizes, [1, 2, 4, 8, 16, 32, 64]);
});

test('an observed size is predicted by its own mean, not by the line fit (a curved t(b) has a large α)', () => {
  // Not a line: small batches are cheap, larger ones pay a big step (seen live: sizes timed while other models
  // loaded). The fit's α then comes out far above t(1).
  const curve = (b: number) => (b <= 2 ? 100 * b : 3000 + 20 * b);
  const m = new ServiceTimeModel(64);
  for (const b of [1, 2, 4, 8, 16, 32, 64]) m.observe(b, curve(b));
  assert.ok(m.fit()!.alpha > 10 * curve(1), 'precondition: the fit alone would mispredict t(1)');
  assert.equal(m.predict(1), curve(1));
  assert.equal(m.predict(16), curve(16));
  assert.ok(m.predict(3) >= curve(2) && m.predict(3) <= curve(4), 'unseen sizes still interpolate');
  // A closed loop of one client then never makes the adaptive policy wait: λ·t(1) stays below one row per t(1).
  const p = new AdaptivePolicy({ maxBatchSize: 64 });
  for (const b of [1, 2, 4, 8, 16, 32, 64]) p.observeBatch(b, curve(b));
  for (let t = 0; t < 100_000; t += 150) p.observeArrival(1, t); // one request per 150 µs: latency ≥ t(1) = 110 µs
  assert.deepEqual(p.decide(state({ oldestArrivalUs: 100_000 }), 100_000), { dispatch: 1 });
});

test('waits that gather no rows (a closed-loop client) shrink until the policy stops waiting; waits that gather rows do not', () => {
  const curve = (b: number) => 1000 + 10 * b;
  const fresh = () => {
    const p = new AdaptivePolicy({ maxBatchSize: 64 });
    for (let b = 1; b <= 64; b *= 2) p.observeBatch(b, curve(b));
    return p;
  };
  // A closed loop: the estimated rate says more rows are coming, but none arrive while the policy waits.
  const closed = fresh();
  let now = 0;
  for (; now < 50_000; now += 200) closed.observeArrival(1, now); // 5 000/s: λ·t(1) ≈ 5
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = closed.decide(state({ oldestArrivalUs: now }), now);
    if ('dispatch' in d) break;
    waits.push(d.waitUntil - now);
    now = d.waitUntil; // the timer fires with the same single row queued
    closed.decide(state({ oldestArrivalUs: now - waits[waits.length - 1] }), now);
    now += 1000; // answered; the client's next request arrives
    closed.observeArrival(1, now);
  }
  assert.ok(waits.length >= 1 && waits.length < 8, `stops waiting after a few wasted waits (waited ${waits.length} times)`);
  for (let i = 1; i < waits.length; i++) assert.ok(waits[i] < waits[i - 1], 'each wasted wait is shorter than the last');

  // An open loop: rows arrive during each wait, so the policy keeps waiting its full amount.
  const open = fresh();
  now = 0;
  for (; now < 50_000; now += 200) open.observeArrival(1, now);
  const first = open.decide(state({ oldestArrivalUs: now }), now);
  assert.ok('waitUntil' in first);
  for (let i = 0; i < 5; i++) {
    now += 200;
    open.observeArrival(1, now);
    open.decide(state({ queuedRows: 2 + i, oldestArrivalUs: 50_000 }), now);
  }
  const later = open.decide(state({ oldestArrivalUs: now }), now);
  assert.ok('waitUntil' in later && later.waitUntil - now >= (first.waitUntil - 50_000) * 0.9, 'full waits kept');
});

test('arrival rate follows a steady rate and decays to zero in silence', () => {
  const r = new ArrivalRate(10_000);
  for (let t = 0; t <= 100_000; t += 100) r.observe(1, t); // 10 000/s
  assert.ok(Math.abs(r.rate(100_000) * 1e6 - 10_000) < 600, String(r.rate(100_000) * 1e6));
  assert.ok(r.rate(200_000) * 1e6 < 1);
});

test('a backlog is served at the far end of the flat region; a queue that one batch clears, at the knee', () => {
  const flatPast16 = (b: number) => Math.max(3200, 200 * b); // rows cost the same from 16 on
  const p = trained(flatPast16);
  assert.deepEqual(p.decide(state({ queuedRows: 64 }), 0), { dispatch: 16 }, 'the knee');
  assert.deepEqual(p.decide(state({ queuedRows: 64, backlogRows: 500 }), 0), { dispatch: 64 }, 'a backlog');
  assert.equal(p.backlogBatchRows(), 64);
});

test('service-time model: a size re-measured at under half its mean starts its average over', () => {
  const m = new ServiceTimeModel(64);
  for (let i = 0; i < 5; i++) m.observe(32, 30_000); // measured while the machine was busy
  m.observe(32, 10_000);
  assert.equal(m.predict(32), 10_000);
  m.observe(32, 12_000);
  assert.equal(m.predict(32), 11_000, 'then a plain average again');
});

test('cores shared with request handling: under load, queued rows wait for more while they keep arriving (at most t(far end))', () => {
  // Per-row cost falls until 128: the knee and the far end are 128 (twice the largest size seen, 64, is explored).
  const weightBound = (b: number) => 1500 + 170 * b;
  const make = (sharedCores: boolean, gapUs: number, count: number) => {
    const p = new AdaptivePolicy({ maxBatchSize: 128, sharedCores });
    for (let b = 1; b <= 128; b *= 2) p.observeBatch(b, weightBound(b));
    for (let i = 0; i < count; i++) p.observeArrival(1, i * gapUs);
    return p;
  };
  const now = 2_500_000;
  const full = state({ queuedRows: 128, backlogRows: 128, oldestArrivalUs: now - 30_000 });
  const q = state({ queuedRows: 64, backlogRows: 64, oldestArrivalUs: now - 20_000 });
  // 4 000 rows/s until now, the last batch full: wait, at most t(128) and no longer than a few gaps after the last row.
  const shared = make(true, 250, 10_000);
  assert.deepEqual(shared.decide(full, now), { dispatch: 128 });
  const d = shared.decide(q, now);
  assert.ok('waitUntil' in d && d.waitUntil > now && d.waitUntil <= now + weightBound(128), JSON.stringify(d));
  assert.ok(d.waitUntil <= now + 4 * 250 * 1.1, 'a few mean gaps after the last arrival or answered batch');
  // Rows stopped coming (all of a closed loop's clients queued): dispatch.
  assert.ok('dispatch' in shared.decide(q, now + 5000));
  // Not while a wait would miss a queued deadline.
  shared.decide(full, now);
  const due = shared.decide({ ...q, earliestDeadlineUs: now + weightBound(128) }, now);
  assert.ok('dispatch' in due, JSON.stringify(due));
  // Cores of its own: what waits is queueing, and a batch dispatched now overlaps the handling of the next rows.
  const alone = make(false, 250, 10_000);
  alone.decide(full, now);
  assert.ok('dispatch' in alone.decide(q, now));
  // Far from capacity (400 rows/s: batches of 128 would keep it 7 % busy) it does not wait; nor does a lone row.
  const quiet = make(true, 2500, 1000);
  assert.ok('dispatch' in quiet.decide(state({ queuedRows: 3, backlogRows: 3, oldestArrivalUs: 2_497_000 }), 2_500_000));
  const single = make(true, 1700, 20);
  assert.deepEqual(single.decide(state({ queuedRows: 1, oldestArrivalUs: 32_300 }), 32_300), { dispatch: 1 });
});
