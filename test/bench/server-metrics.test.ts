/**
 * The server-side queue/compute split: Prometheus text parsed as the project's own metrics registry renders it,
 * and a whole run against a server of known queueing whose metrics come from the project's InferenceMetrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFloorServer } from '../../bench/baselines/floor-server.js';
import { InferenceMetrics, startMetricsServer } from '../../src/metrics/index.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run-bench.js';
import { countersFor, parsePrometheusText, splitBetween } from '../../src/bench/server-metrics.js';
import { formatTable } from '../../src/bench/format-table.js';

test('Prometheus text: labels (escaped quotes too), comments, exponents; counters summed over versions', () => {
  const text = [
    '# HELP nv_inference_request_success Number of successful inference requests',
    '# TYPE nv_inference_request_success counter',
    'nv_inference_request_success{model="m",version="1"} 10',
    'nv_inference_request_success{model="m",version="2"} 5',
    'nv_inference_request_success{model="other",version="1"} 99',
    'nv_inference_queue_duration_us{model="m",version="1"} 1.5e3',
    'nv_inference_queue_duration_us{model="m",version="2"} 500 1700000000000',
    'nv_inference_compute_infer_duration_us{version="1",model="m"} 3000',
    'weird{model="a \\"quoted\\" name"} 1',
  ].join('\n');
  const samples = parsePrometheusText(text);
  assert.equal(samples.length, 7);
  assert.equal(samples[6].labels.model, 'a "quoted" name');
  const all = countersFor(samples, 'm', '')!;
  assert.equal(all.requestSuccess, 15);
  assert.equal(all.queueUs, 2000);
  const v1 = countersFor(samples, 'm', '1')!;
  assert.equal(v1.requestSuccess, 10);
  assert.equal(v1.computeInferUs, 3000);
  assert.equal(countersFor(samples, 'absent', ''), undefined);
  const split = splitBetween(v1, { ...v1, requestSuccess: 20, queueUs: 1500 + 10 * 200, computeInferUs: 3000 + 10 * 700 })!;
  assert.equal(split.requests, 10);
  assert.equal(split.queueUs, 200);
  assert.equal(split.computeInferUs, 700);
  assert.equal(splitBetween(v1, v1), undefined, 'no requests in between: no split');
});

test('a run with --metrics-url reports the server\'s queue and compute time per request', async (t) => {
  const metrics = new InferenceMetrics();
  const m = metrics.forModel('floor', '1');
  const serviceMs = 5;
  const server = await startFloorServer({
    serviceTimeMs: serviceMs,
    onServed: (queueUs, serviceUs) => {
      m.success.inc();
      m.queueDurationUs.inc(queueUs);
      m.computeInferUs.inc(serviceUs);
    },
  });
  const metricsServer = await startMetricsServer(() => metrics.render(), { port: 0, address: '127.0.0.1' });
  t.after(async () => { await server.close(); await metricsServer.close(); });
  const report = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--concurrency-range', '1:4:x4',
    '--metrics-url', `http://127.0.0.1:${metricsServer.port}/metrics`, '-p', '300', '--warmup', '100', '-r', '3']));
  const [one, four] = report.steps.map((s) => s.server!);
  assert.ok(one && four, 'both steps have a server split');
  // Compute: the service time (a timer may fire late on a busy machine, never early by more than its 1 ms grain).
  for (const s of [one, four]) {
    assert.ok(s.computeInferUs >= (serviceMs - 1) * 1000 && s.computeInferUs < serviceMs * 1000 * 3, `compute ${s.computeInferUs} µs`);
  }
  // Queue: nothing waits at concurrency 1; at 4, each request waits for about three others.
  assert.ok(one.queueUs < serviceMs * 1000 * 0.5, `queue at 1: ${one.queueUs} µs`);
  assert.ok(four.queueUs > serviceMs * 1000 * 1.5, `queue at 4: ${four.queueUs} µs`);
  // The server counted about what the client did over the same windows (scrapes sit between windows).
  const s4 = report.steps[1];
  assert.ok(Math.abs(four.requests - s4.ok) <= s4.ok * 0.2 + 10, `server ${four.requests} vs client ${s4.ok}`);
  assert.match(formatTable(report), /mean ms +server queue ms +server input ms +server infer ms +server output ms +other ms/);
  // other = what the client saw beyond the server's own queue + compute: never much below zero.
  for (const s of report.steps) assert.ok(s.otherUs! > -0.2 * s.latency.meanUs, `other ${s.otherUs} µs`);
});
