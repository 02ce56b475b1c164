import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';
import { CacheMetrics } from '../../src/metrics/cache-metrics.js';
import { LiveFeed, type ListedModel } from '../../src/metrics/live-feed.js';
import { histogramQuantile } from '../../src/metrics/histogram-window.js';
import { exponentialBuckets } from '../../src/metrics/registry.js';

test('histogramQuantile agrees with the exact quantile of the observations up to its bucket width', () => {
  const bounds = Float64Array.from(exponentialBuckets(1, 2, 16));
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 30_000 }), { minLength: 1, maxLength: 300 }), fc.constantFrom(0.5, 0.9, 0.99, 1), (xs, q) => {
    const counts = new Float64Array(bounds.length);
    for (const x of xs) counts[bounds.findIndex((b) => x <= b)]++;
    const got = histogramQuantile(bounds, { counts, count: xs.length, sum: 0 }, q)!;
    const sorted = [...xs].sort((a, b) => a - b);
    const exact = sorted[Math.max(0, Math.ceil(q * xs.length) - 1)];
    const i = bounds.findIndex((b) => exact <= b);
    // The estimate lies in the bucket that holds the exact quantile.
    assert.ok(got <= bounds[i] && got >= (i === 0 ? 0 : bounds[i - 1]), `q ${q}: ${got} vs exact ${exact}`);
  }), { numRuns: 300 });
  assert.equal(histogramQuantile(bounds, { counts: new Float64Array(bounds.length), count: 0, sum: 0 }, 0.99), undefined);
});

test('the feed reads each version\'s window from its counters and histograms, and keeps chart ticks for `since`', () => {
  const metrics = new InferenceMetrics();
  const cache = new CacheMetrics(metrics.registry);
  const m = metrics.forModel('mlp', '1');
  const slo = metrics.forSlo('mlp', '1', 2);
  const hits = cache.forModel('mlp', '1');
  const listed: ListedModel[] = [
    { name: 'mlp', version: '1', state: 'READY' },
    { name: 'broken', state: 'UNAVAILABLE', reason: 'no model file' },
  ];
  const feed = new LiveFeed({ registry: metrics.registry, models: () => listed, intervalMs: 3_600_000, windowTicks: 2 });
  try {
    // 10 requests: 4 batches (sizes 1, 2, 3, 4), each request 800 µs end to end, 300 queued and 200 computing.
    for (const b of [1, 2, 3, 4]) m.batchSize.observe(b);
    for (let i = 0; i < 10; i++) {
      m.success.inc();
      m.requestLatencyUs.observe(800);
      m.queueDurationUs.inc(300);
      m.computeInputUs.inc(20);
      m.computeInferUs.inc(170);
      m.computeOutputUs.inc(10);
    }
    m.failure.REJECTED.inc(2);
    m.rejectedQueueFull.inc(2);
    m.pending.set(5);
    slo.targetUs.set(50_000);
    slo.observedP99Us.set(61_000);
    slo.sheddingLevels.set(1);
    slo.shed[1].inc(3);
    hits.hits.inc(6);
    hits.misses.inc(4);
    feed.tick();

    const snap = feed.snapshot();
    assert.equal(snap.seq, 2);
    const v = snap.models.find((x) => x.model === 'mlp')!;
    assert.ok(v.reqPerSec > 0);
    assert.equal(v.queueUs, 300);
    assert.equal(v.computeUs, 200);
    // 800 µs falls in the (512, 1024] bucket: both percentiles are inside it.
    assert.ok(v.p50Us! > 512 && v.p50Us! <= 1024 && v.p99Us! >= v.p50Us!, `${v.p50Us} ${v.p99Us}`);
    assert.deepEqual(v.batches, [{ le: 1, count: 1 }, { le: 2, count: 1 }, { le: 4, count: 2 }]);
    assert.equal(v.meanBatch, 2.5);
    assert.equal(v.queueDepth, 5);
    assert.equal(v.rejected, 2);
    assert.equal(v.failed, 2);
    assert.equal(v.shed, 3);
    assert.deepEqual(v.slo, { targetUs: 50_000, observedP99Us: 61_000, sheddingLevels: 1 });
    assert.deepEqual(v.cache, { hits: 6, misses: 4 });
    const broken = snap.models.find((x) => x.model === 'broken')!;
    assert.equal(broken.state, 'UNAVAILABLE');
    assert.equal(broken.reason, 'no model file');
    assert.ok(snap.process && snap.process.rssBytes > 0 && snap.process.cores >= 1);

    // Chart ticks: all kept without `since`, only newer ones with it.
    assert.deepEqual(snap.history.map((t) => t.seq), [1, 2]);
    assert.equal(snap.history[1].versions['mlp/1'][0], v.reqPerSec);
    assert.deepEqual(feed.snapshot(2).history, []);
    assert.deepEqual(feed.snapshot(1).history.map((t) => t.seq), [2]);

    // No new requests for a whole window: the rates and percentiles go back to nothing.
    feed.tick();
    feed.tick();
    const idle = feed.snapshot(3).models.find((x) => x.model === 'mlp')!;
    assert.equal(idle.reqPerSec, 0);
    assert.equal(idle.p99Us, null);
    assert.equal(idle.queueUs, null);
    assert.deepEqual(idle.batches, []);
    assert.equal(idle.rejected, 2, 'counts since load stay');

    // A version that is no longer listed is dropped; reading it created no series.
    listed.splice(0, 1);
    feed.tick();
    assert.deepEqual(feed.snapshot().models.map((x) => x.model), ['broken']);
    assert.doesNotMatch(metrics.render(), /broken/);
  } finally {
    feed.stop();
  }
});
