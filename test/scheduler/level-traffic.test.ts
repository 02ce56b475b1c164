import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LevelTraffic } from '../../src/scheduler/level-traffic.js';

/** t(b) = 1000 + 100·b µs: a batch of 8 takes 1.8 ms; 1.5 × that = 2.7 ms is a batch of 17. */
const linear = (b: number) => 1000 + 100 * b;
const MAX = 64;
const queued = (perLevel: number[]) => (level: number) => perLevel.slice(0, level + 1).reduce((a, b) => a + b, 0);

test('with one level, or no higher level live, the decided size stands', () => {
  const one = new LevelTraffic(1, MAX, linear);
  one.observe(0, 8, 0);
  assert.equal(one.batchRows(64, { level: 0, rows: 8 }, queued([64]), 10), 64);
  const two = new LevelTraffic(2, MAX, linear);
  two.observe(1, 8, 0);
  assert.equal(two.batchRows(64, { level: 1, rows: 8 }, queued([0, 64]), 10), 64, 'only the lowest level has traffic');
  two.observe(0, 8, 0);
  assert.equal(two.batchRows(64, { level: 1, rows: 8 }, queued([0, 64]), 200_000), 64, 'the higher level went quiet 200 ms ago');
});

test('while a higher level is live, lower-level rows fill a batch only up to 1.5 × t(its typical size)', () => {
  const t = new LevelTraffic(2, MAX, linear);
  t.observe(0, 8, 0);
  // Head is low priority: the batch takes the head whole, then rows up to the budget (17).
  assert.equal(t.batchRows(64, { level: 1, rows: 8 }, queued([0, 64]), 1000), 17);
  assert.equal(t.batchRows(64, { level: 1, rows: 40 }, queued([0, 64]), 1000), 40, 'the head request is taken whole');
  // Head is high priority: all high rows, then low rows up to the budget.
  assert.equal(t.batchRows(64, { level: 0, rows: 8 }, queued([8, 56]), 1000), 17);
  assert.equal(t.batchRows(64, { level: 0, rows: 8 }, queued([24, 40]), 1000), 24, 'high rows are never held back');
  assert.equal(t.batchRows(12, { level: 0, rows: 8 }, queued([8, 56]), 1000), 12, 'never more than decided');
  // A queued higher-level request counts as live traffic however old its arrival.
  assert.equal(t.batchRows(64, { level: 0, rows: 8 }, queued([8, 56]), 10_000_000), 17);
});

test('until t(b) is known the budget is half of max_batch_size', () => {
  const t = new LevelTraffic(2, MAX, () => 0);
  t.observe(0, 8, 0);
  assert.equal(t.batchRows(64, { level: 1, rows: 8 }, queued([0, 64]), 1000), 32);
});

test('a lower level drains in budget-sized batches, at their rate less the time the higher level takes', () => {
  const t = new LevelTraffic(2, MAX, linear);
  const full = MAX / linear(MAX); // rows per µs at max batch
  assert.deepEqual(t.drain(1, 2, MAX, 1, 0), { rowsPerUs: full, batchRows: MAX }, 'no higher traffic: full batches');
  assert.deepEqual(new LevelTraffic(2, MAX, () => 0).drain(1, 2, MAX, 1, 0), { rowsPerUs: 0, batchRows: MAX }, 'unknown t(b)');
  // High: 8-row requests every 10 ms. Low requests of 8 rows: budget 17 holds two of them, so low batches are 16
  // rows (2.6 ms); a high request fits in one with a low one, so its rows cost what low rows cost (13 % of the time).
  for (let at = 0; at <= 2_000_000; at += 10_000) { t.observe(0, 8, at); t.observe(1, 8, at); }
  const d = t.drain(1, 2, MAX, 1, 2_000_000);
  assert.equal(d.batchRows, 16);
  const expected = (16 / linear(16)) * (1 - (8 / 10_000) * (linear(16) / 16));
  assert.ok(Math.abs(d.rowsPerUs - expected) / expected < 0.05, `drain ${d.rowsPerUs} rows/µs, expected about ${expected}`);
  assert.deepEqual(t.drain(0, 2, MAX, 1, 2_000_000), { rowsPerUs: full, batchRows: MAX }, 'the highest level: full batches');
  // Low requests of 12 rows do not fit beside a high one in the budget (17): each high request is a batch of its own.
  const u = new LevelTraffic(2, MAX, linear);
  for (let at = 0; at <= 2_000_000; at += 10_000) { u.observe(0, 8, at); u.observe(1, 12, at); }
  const e = u.drain(1, 2, MAX, 1, 2_000_000);
  assert.equal(e.batchRows, 12);
  const alone = (12 / linear(12)) * (1 - (1 / 10_000) * linear(8));
  assert.ok(Math.abs(e.rowsPerUs - alone) / alone < 0.05, `drain ${e.rowsPerUs} rows/µs, expected about ${alone}`);
  // A batch must fit the request's deadline: at most 3 ms here, so 20 rows (3 ms), not 64.
  assert.equal(new LevelTraffic(2, MAX, linear).drain(1, 2, MAX, 1, 0, 3000).batchRows, 20);
});
