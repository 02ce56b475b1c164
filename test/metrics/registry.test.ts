import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../../src/metrics/registry.js';
import { InferenceMetrics } from '../../src/metrics/inference-metrics.js';

test('registry renders counters, gauges and cumulative histogram buckets in the text format', () => {
  const r = new MetricsRegistry();
  const c = r.counter('requests_total', 'Requests\nserved', ['model']);
  c.labels('a"b').inc(3);
  const g = r.gauge('pending', 'Pending', ['model']);
  const child = g.labels('m');
  child.collect = () => 7;
  const h = r.histogram('lat_us', 'Latency', ['model'], [10, 100]);
  const hc = h.labels('m');
  for (const v of [5, 50, 500, 10]) hc.observe(v);
  const text = r.render();
  assert.match(text, /# HELP requests_total Requests\\nserved\n# TYPE requests_total counter\nrequests_total\{model="a\\"b"\} 3\n/);
  assert.match(text, /pending\{model="m"\} 7\n/);
  assert.match(text, /lat_us_bucket\{model="m",le="10"\} 2\n/);
  assert.match(text, /lat_us_bucket\{model="m",le="100"\} 3\n/);
  assert.match(text, /lat_us_bucket\{model="m",le="\+Inf"\} 4\n/);
  assert.match(text, /lat_us_sum\{model="m"\} 565\n/);
  assert.match(text, /lat_us_count\{model="m"\} 4\n/);
  assert.throws(() => c.labels('x', 'y'), /takes labels model/);
  assert.throws(() => r.counter('requests_total', 'again'), /already registered/);
});

test('InferenceMetrics exposes Triton\'s names with model and version labels from load time', () => {
  const m = new InferenceMetrics();
  const mm = m.forModel('mlp', '1');
  mm.success.inc();
  mm.inferenceCount.inc(8);
  mm.execCount.inc();
  mm.failure.REJECTED.inc();
  const text = m.render();
  for (const name of ['nv_inference_request_success', 'nv_inference_request_failure', 'nv_inference_count', 'nv_inference_exec_count',
    'nv_inference_request_duration_us', 'nv_inference_queue_duration_us', 'nv_inference_compute_input_duration_us',
    'nv_inference_compute_infer_duration_us', 'nv_inference_compute_output_duration_us', 'nv_inference_pending_request_count']) {
    assert.match(text, new RegExp(`# TYPE ${name} (counter|gauge)`), name);
  }
  assert.match(text, /nv_inference_count\{model="mlp",version="1"\} 8\n/);
  assert.match(text, /nv_inference_request_failure\{model="mlp",version="1",reason="REJECTED"\} 1\n/);
  assert.match(text, /nv_inference_request_success\{model="mlp",version="1"\} 1\n/, 'series exist from load, before any request');
  m.removeModel('mlp', '1');
  assert.doesNotMatch(m.render(), /model="mlp"/);
});

test('the metrics server answers GET /metrics with the text format, 404 elsewhere, and closes', async () => {
  const { startMetricsServer } = await import('../../src/metrics/metrics-server.js');
  const m = new InferenceMetrics();
  m.forModel('mlp', '2').success.inc(5);
  const srv = await startMetricsServer(() => m.render(), { port: 0, address: '127.0.0.1' });
  try {
    const res = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /nv_inference_request_success\{model="mlp",version="2"\} 5\n/);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/other`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await srv.close();
  }
});
