import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SloGuard, sloGuardOf } from '../../src/server/slo-guard.js';
import { Admission } from '../../src/server/admission.js';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';
import { queueConfigOf } from '../../src/scheduler/queue-config.js';
import type { ModelConfig } from '../../src/core/index.js';

const MS = 1000;

/** One evaluation period of the guard (its window), µs. */
const PERIOD = 250 * MS;

/**
 * Feeds `n` answers of `latencyUs` over one evaluation period after `fromUs` (and one at `fromUs` itself for a new
 * guard, whose window opens with its first answer), so that the last one closes the window: exactly one evaluation
 * per call. Returns the time of the last.
 */
function feed(g: SloGuard, n: number, latencyUs: number | ((i: number) => number), fromUs: number, fresh = fromUs === 0): number {
  const lat = typeof latencyUs === 'number' ? () => latencyUs : latencyUs;
  if (fresh) g.observe(lat(0), fromUs);
  for (let i = 1; i <= n; i++) g.observe(lat(i), fromUs + (PERIOD * i) / n);
  return fromUs + PERIOD;
}

test('p99 over the target sheds the lowest level first, a quarter level per evaluation, never the highest', () => {
  const g = new SloGuard(50 * MS, 3);
  assert.equal(g.state.sheddingLevels, 0);
  let t = 0;
  for (let k = 1; k <= 4; k++) {
    t = feed(g, 200, 80 * MS, t, k === 1);
    assert.equal(g.state.sheddingLevels, k / 4);
  }
  assert.equal(g.sheds(2, t), true, 'the lowest level, wholly shed');
  assert.equal(g.sheds(1, t), false);
  for (let k = 5; k <= 12; k++) t = feed(g, 200, 80 * MS, t);
  assert.equal(g.state.sheddingLevels, 2, 'two levels at most: the highest is never shed');
  assert.equal(g.sheds(1, t), true);
  assert.equal(g.sheds(0, t), false);
  assert.deepEqual(g.state.shed, [0, 1, 1]);
  assert.equal(g.state.observedP99Us, 80 * MS);
});

test('a partly shed level refuses that share of its requests, evenly spread', () => {
  const g = new SloGuard(50 * MS, 2);
  let t = feed(g, 200, 80 * MS, 0);
  t = feed(g, 200, 80 * MS, t);
  t = feed(g, 200, 80 * MS, t);
  assert.equal(g.state.sheddingLevels, 0.75);
  const refused = Array.from({ length: 16 }, () => g.sheds(1, t));
  assert.deepEqual(refused.map((r) => (r ? 'x' : '.')).join(''), '.xxx'.repeat(4));
  assert.equal(g.sheds(0, t), false);
});

test('one slow answer in a hundred is the p99; below it nothing is shed', () => {
  const g = new SloGuard(50 * MS, 2);
  const t = feed(g, 199, (i) => (i === 7 ? 90 * MS : 10 * MS), 0);
  assert.equal(g.state.sheddingLevels, 0, '1 of 200 over the target: the p99 (the 198th of 200) is not');
  assert.equal(g.state.observedP99Us, 10 * MS);
  feed(g, 200, (i) => (i % 50 < 3 ? 90 * MS : 10 * MS), t);
  assert.equal(g.state.sheddingLevels, 0.25, '3 in 50 over the target: the p99 is over it');
});

test('shedding shrinks by an eighth of a level per evaluation below 3/4 of the target; in between it holds', () => {
  const g = new SloGuard(50 * MS, 2);
  let t = 0;
  for (let k = 0; k < 4; k++) t = feed(g, 200, 80 * MS, t, k === 0);
  assert.equal(g.state.sheddingLevels, 1);
  t = feed(g, 200, 45 * MS, t);
  assert.equal(g.state.sheddingLevels, 1, 'between 3/4 of the target and the target: unchanged');
  t = feed(g, 200, 20 * MS, t);
  assert.equal(g.state.sheddingLevels, 0.875);
  for (let k = 0; k < 7; k++) t = feed(g, 200, 20 * MS, t);
  assert.equal(g.state.sheddingLevels, 0);
  assert.equal(g.sheds(1, t), false);
});

test('a model with too few answers to judge sheds less, a step per quiet second', () => {
  const g = new SloGuard(50 * MS, 2);
  let t = 0;
  for (let k = 0; k < 4; k++) t = feed(g, 200, 80 * MS, t, k === 0);
  assert.equal(g.state.sheddingLevels, 1);
  assert.equal(g.sheds(1, t + 100 * MS), true);
  assert.equal(g.sheds(1, t + 1100 * MS), false, 'after a quiet second: 7/8 of the level, and this one passes');
  assert.equal(g.state.sheddingLevels, 0.875);
  assert.equal(g.sheds(1, t + 1101 * MS), true);
});

test('too few answers are not judged: 99 answers in a quarter second change nothing', () => {
  const g = new SloGuard(50 * MS, 2);
  feed(g, 98, 80 * MS, 0);
  assert.equal(g.state.sheddingLevels, 0, '99 answers');
  g.observe(80 * MS, PERIOD + 1);
  assert.equal(g.state.sheddingLevels, 0.25, 'the 100th');
});

test('the metrics follow the state', () => {
  const metrics = new InferenceMetrics();
  const g = new SloGuard(50 * MS, 2, metrics.forSlo('m', '1', 2));
  let t = 0;
  for (let k = 0; k < 4; k++) t = feed(g, 200, 80 * MS, t, k === 0);
  g.sheds(1, t);
  const text = metrics.render();
  assert.match(text, /^autoglm_slo_target_us\{model="m",version="1"\} 50000$/m);
  assert.match(text, /^autoglm_slo_observed_p99_us\{model="m",version="1"\} 80000$/m);
  assert.match(text, /^autoglm_slo_shedding_levels\{model="m",version="1"\} 1$/m);
  assert.match(text, /^autoglm_slo_shed_requests\{model="m",version="1",priority="2"\} 1$/m);
  assert.match(text, /^autoglm_slo_shed_requests\{model="m",version="1",priority="1"\} 0$/m);
  metrics.removeModel('m', '1');
  assert.doesNotMatch(metrics.render(), /model="m"/);
});

test('latency_target_us: levels from dynamic_batching; absent = no guard; a bad value names the parameter', () => {
  const config = (target: string | undefined, levels: number) => ({
    parameters: target === undefined ? {} : { latency_target_us: { string_value: target } },
    dynamic_batching: levels > 0 ? { priority_levels: levels, default_priority_level: levels, priority_queue_policy: {}, default_queue_policy: undefined } : undefined,
  }) as unknown as ModelConfig;
  assert.equal(sloGuardOf(config(undefined, 2)), undefined);
  const g = sloGuardOf(config('40000', 3))!;
  assert.equal(g.targetUs, 40000);
  assert.equal(g.levels, 3);
  assert.equal(sloGuardOf(config('40000', 0))!.levels, 1);
  assert.throws(() => sloGuardOf(config('-1', 2)), /latency_target_us must be a positive number of microseconds \(got '-1'\)/);
  assert.throws(() => sloGuardOf(config('soon', 2)), /latency_target_us/);
});

test('admission: a shed priority is refused QUEUE_FULL with Retry-After; the server-wide bound is UNAVAILABLE', () => {
  const slo = new SloGuard(50 * MS, 2);
  let t = 0;
  for (let k = 0; k < 4; k++) t = feed(slo, 200, 80 * MS, t, k === 0);
  const queue = queueConfigOf({ priority_levels: 2, default_priority_level: 2, priority_queue_policy: {} } as never);
  const admission = new Admission({ maxInflightRequests: 2 });
  const v = { model: 'm', scheduler: undefined, queue, slo };
  const low = admission.versionRefusal(v, { model: 'm', priority: 2, receivedUs: t }, t);
  assert.equal(low?.code, 'QUEUE_FULL');
  assert.equal(low?.retryAfterSec, 1);
  assert.match(low!.message, /model 'm' is shedding priority 2 requests: its p99 80\.0 ms is over its latency target 50\.0 ms/);
  assert.equal(admission.versionRefusal(v, { model: 'm', receivedUs: t }, t)?.code, 'QUEUE_FULL', 'no priority = the default level, the lowest here');
  assert.equal(admission.versionRefusal(v, { model: 'm', priority: 1, receivedUs: t }, t), undefined);
  assert.equal(admission.serverRefusal(), undefined);
  admission.inProgress = 2;
  const busy = admission.serverRefusal();
  assert.equal(busy?.code, 'UNAVAILABLE');
  assert.equal(busy?.retryAfterSec, 1);
  assert.match(busy!.message, /--max-inflight-requests 2/);
});
