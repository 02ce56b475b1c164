import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LatencyHistogram } from '../../src/bench/latency-histogram.js';
import { agreeWithin } from '../../src/bench/measure-step.js';

/** Reference: the nearest-rank percentile of the sorted samples (the smallest value with ≥ p % at or below it). */
function nearestRank(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

test('percentiles agree with the nearest-rank reference within HDR precision (3 significant digits)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 50_000_000 }), { minLength: 1, maxLength: 2000 }),
      fc.constantFrom(50, 90, 95, 99, 100),
      (values, p) => {
        const h = new LatencyHistogram();
        for (const v of values) h.record(v);
        const want = nearestRank([...values].sort((a, b) => a - b), p);
        const got = h.percentile(p);
        // HDR with 3 significant digits: a value's bucket spans at most 0.1 % of it (reported at the bucket top).
        assert.ok(Math.abs(got - want) <= want * 0.001 + 1, `p${p}: got ${got}, want ${want}`);
        assert.equal(h.count, values.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('summary: known distribution 1..10000 µs', () => {
  const h = new LatencyHistogram();
  for (let v = 1; v <= 10_000; v++) h.record(v);
  const s = h.summary();
  assert.equal(s.count, 10_000);
  assert.equal(s.minUs, 1);
  assert.ok(Math.abs(s.p50Us - 5000) <= 5, `p50 ${s.p50Us}`);
  assert.ok(Math.abs(s.p90Us - 9000) <= 9, `p90 ${s.p90Us}`);
  assert.ok(Math.abs(s.p95Us - 9500) <= 10, `p95 ${s.p95Us}`);
  assert.ok(Math.abs(s.p99Us - 9900) <= 10, `p99 ${s.p99Us}`);
  assert.ok(Math.abs(s.meanUs - 5000.5) <= 5, `mean ${s.meanUs}`);
  assert.ok(Math.abs(s.maxUs - 10_000) <= 10, `max ${s.maxUs}`);
});

test('merging windows equals recording everything in one histogram', () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 0; i < 3000; i++) {
    const v = (i * 7919) % 100_000 + 1;
    (i % 3 === 0 ? a : b).record(v);
    all.record(v);
  }
  a.add(b);
  assert.deepEqual(a.summary(), all.summary());
});

test('sub-microsecond and huge values are clamped, not thrown', () => {
  const h = new LatencyHistogram();
  h.record(0.2);
  h.record(1e13);
  assert.equal(h.count, 2);
  assert.equal(h.summary().minUs, 1);
});

test('empty histogram reports zeros', () => {
  assert.deepEqual(new LatencyHistogram().summary(), { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p95Us: 0, p99Us: 0, maxUs: 0 });
});

test('stability: values agree when each is within ±pct of their mean', () => {
  assert.equal(agreeWithin([100, 105, 95], 10), true);
  assert.equal(agreeWithin([100, 100, 125], 10), false);
  assert.equal(agreeWithin([0, 0, 0], 10), true);
  assert.equal(agreeWithin([], 10), false);
});
