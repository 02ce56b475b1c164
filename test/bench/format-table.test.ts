/**
 * The table, CSV and HTML from a synthetic report: the server's per-request split beside the client's latency,
 * the derived 'other' (mean minus the server's queue + compute), and the header's client CPU line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRun, formatCsv, formatTable, stepOtherUs, tableLegend } from '../../src/bench/format-table.js';
import { renderHtmlReport } from '../../src/bench/html-report.js';
import type { BenchReport, StepResult } from '../../src/bench/report.js';
import { otherUs } from '../../src/bench/server-metrics.js';

function step(level: number, meanUs: number, server?: StepResult['server']): StepResult {
  return {
    mode: 'concurrency', level, throughput: 1000 * level, inferencesPerSec: 1000 * level,
    latency: { count: 3000, minUs: 100, meanUs, p50Us: meanUs - 50, p90Us: meanUs + 100, p95Us: meanUs + 200, p99Us: meanUs + 900, maxUs: 9000 },
    ok: 3000, errorCount: 0, errors: {}, windows: 3, windowThroughputs: [1000, 1000, 1000], windowMeanLatenciesUs: [meanUs, meanUs, meanUs],
    stable: true, measuredSeconds: 3, waitedForConnection: 0, answersChecked: 40,
    ...(server ? { server, otherUs: otherUs(meanUs, server) } : {}),
  };
}

const split = { requests: 3000, queueUs: 120, computeInputUs: 8, computeInferUs: 65, computeOutputUs: 7, requestUs: 215, meanBatch: 1.5 };

function report(steps: StepResult[]): BenchReport {
  return {
    tool: 'autoglm bench', startedAt: '2026-01-01T00:00:00.000Z',
    target: { url: 'http://127.0.0.1:8000', model: 'mlp', version: '', protocolFormat: 'binary', batchSize: 1, inputShapes: { x: [1, 4] }, requestBytes: 300 },
    mode: 'concurrency', measurementIntervalMs: 1000, stabilityPercentage: 10, maxTrials: 10, steps,
    client: { cpus: '1', pinned: true },
  };
}

test('other = client mean latency minus the server\'s queue + compute per request', () => {
  const s = step(1, 480, split);
  assert.equal(stepOtherUs(s), 480 - (120 + 8 + 65 + 7));
  assert.equal(s.otherUs, 280);
  assert.equal(stepOtherUs(step(1, 480)), undefined, 'no server split: no other');
});

test('the table shows the split per request beside the mean, µs-resolved in ms, and - for steps without it', () => {
  const r = report([step(1, 480, split), step(4, 2450)]);
  const lines = formatTable(r).split('\n');
  assert.match(lines[0], /^concurrency +req\/s +p50 ms +p90 ms +p95 ms +p99 ms +mean ms +server queue ms +server input ms +server infer ms +server output ms +other ms +requests +errors +stable$/);
  const row = lines[2].trim().split(/ {2,}/);
  assert.deepEqual(row.slice(6, 12), ['0.48', '0.120', '0.008', '0.065', '0.007', '0.280']);
  assert.deepEqual(lines[3].trim().split(/ {2,}/).slice(6, 12), ['2.45', '-', '-', '-', '-', '-']);
  assert.match(tableLegend(r), /other = mean - their sum/);
  assert.equal(tableLegend(report([step(1, 480)])), '');
  assert.doesNotMatch(formatTable(report([step(1, 480)])), /server|other/);
});

test('CSV carries the four server fields and other_us; the header names the client\'s CPUs', () => {
  const csv = formatCsv(report([step(1, 480, split), step(4, 2450)])).trim().split('\n').map((l) => l.split(','));
  const at = (name: string) => csv[0].indexOf(name);
  assert.deepEqual(['server_queue_us', 'server_compute_input_us', 'server_compute_infer_us', 'server_compute_output_us', 'other_us'].map((n) => csv[1][at(n)]),
    ['120.0', '8.0', '65.0', '7.0', '280.0']);
  assert.equal(csv[2][at('other_us')], '');
  assert.match(describeRun(report([step(1, 480)])), /\nclient pinned to CPUs 1$/);
  assert.match(describeRun({ ...report([]), client: { cpus: '0-1', pinned: false } }), /\nclient not pinned, on CPUs 0-1$/);
  assert.doesNotMatch(describeRun({ ...report([]), client: undefined }), /client/);
});

test('the HTML table has the same split columns and the legend', () => {
  const html = renderHtmlReport([report([step(1, 480, split)])]);
  assert.match(html, /<th>mean ms<\/th><th>server queue ms<\/th><th>server input ms<\/th><th>server infer ms<\/th><th>server output ms<\/th><th>other ms<\/th><th>server batch<\/th>/);
  assert.match(html, /<td>0\.48<\/td><td>0\.120<\/td><td>0\.008<\/td><td>0\.065<\/td><td>0\.007<\/td><td>0\.280<\/td><td>1\.5<\/td>/);
  assert.match(html, /<p class="legend">/);
});
