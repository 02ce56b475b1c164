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

test('p99 over the target sheds the lowest level first, one per evaluation, never the highest', () => {
  const g = new SloGuard(50 * MS, 3);
  assert.equal(g.state.sheddingLevels, 0);
  let t = feed(g, 200, 80 * MS, 0);
  assert.equal(g.state.sheddingLevels, 1);
  assert.equal(g.sheds(2, t), true);
  assert.equal(g.sheds(1, t), false);
  t = feed(g, 200, 80 * MS, t);
  assert.equal(g.state.sheddingLevels, 2);
  assert.equal(g.sheds(1, t), true);
  t = feed(g, 200, 80 * MS, t);
  assert.equal(g.state.sheddingLevels, 2, 'the highest level is never shed');
  assert.equal(g.sheds(0, t), false);
  assert.deepEqual(g.state.shed, [0, 1, 1]);
  assert.equal(g.state.observedP99Us, 80 * MS);
});

test('one slow answer in a hundred is the p99; below it nothing is shed', () => {
  const g = new SloGuard(50 * MS, 2);
  const t = feed(g, 199, (i) => (i === 7 ? 90 * MS : 10 * MS), 0);
  assert.equal(g.state.sheddingLevels, 0, '1 of 200 over the target: the p99 (the 198th of 200) is not');
  assert.equal(g.state.observedP99Us, 10 * MS);
  feed(g, 200, (i) => (i % 50 < 3 ? 90 * MS : 10 * MS), t);
  assert.equal(g.state.sheddingLevels, 1, '3 in 50 over the target: the p99 is over it');
});

test('levels come back once the p99 is below 3/4 of the target, and with hysteresis in between', () => {
  const g = new SloGuard(50 * MS, 3);
  let t = feed(g, 200, 80 * MS, 0);
  t = feed(g, 200, 80 * MS, t);
  assert.equal(g.state.sheddingLevels, 2);
  t = feed(g, 200, 45 * MS, t);
  assert.equal(g.state.sheddingLevels, 2, 'between 3/4 of the target and the target: unchanged');
  t = feed(g, 200, 20 * MS, t);
  assert.equal(g.state.sheddingLevels, 1);
  feed(g, 200, 20 * MS, t);
  assert.equal(g.state.sheddingLevels, 0);
});

test('a model with too few answers to judge gets its levels back, one per quiet second', () => {
  const g = new SloGuard(50 * MS, 2);
  const t = feed(g, 200, 80 * MS, 0);
  assert.equal(g.state.sheddingLevels, 1);
  assert.equal(g.sheds(1, t + 100 * MS), true);
  assert.equal(g.sheds(1, t + 1100 * MS), false, 'no answers for a second: the level comes back');
  assert.equal(g.state.sheddingLevels, 0);
});

test('too few answers are not judged: 99 answers in a quarter second change nothing', () => {
  const g = new SloGuard(50 * MS, 2);
  feed(g, 98, 80 * MS, 0);
  assert.equal(g.state.sheddingLevels, 0, '99 answers');
  g.observe(80 * MS, PERIOD + 1);
  assert.equal(g.state.sheddingLevels, 1, 'the 100th');
});

test('the metrics follow the state', () => {
  const metrics = new InferenceMetrics();
  const g = new SloGuard(50 * MS, 2, metrics.forSlo('m', '1', 2));
  const t = feed(g, 200, 80 * MS, 0);
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
  const t = feed(slo, 200, 80 * MS, 0);
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
