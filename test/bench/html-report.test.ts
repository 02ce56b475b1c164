/**
 * The HTML report in a real browser (Debian's chromium driven by playwright-core): it renders, and every chart point
 * sits where the embedded JSON says. The report comes from a real (short) run against the floor server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { startFloorServer } from '../../bench/baselines/floor-server.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run-bench.js';
import { renderHtmlReport } from '../../src/bench/html-report.js';
import type { BenchReport } from '../../src/bench/report.js';

const CHROMIUM = '/usr/bin/chromium';

test('the HTML report renders in Chromium and its charts carry the measured data', {
  skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (install Debian's chromium; .ci/run does)`,
}, async (t) => {
  const server = await startFloorServer({ serviceTimeMs: 1 });
  t.after(() => server.close());
  const fast = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--concurrency-range', '1:4:x2', '-p', '150', '--warmup', '50', '-r', '1']));
  const json = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--concurrency-range', '1:2', '--protocol-format', 'json', '-p', '150', '--warmup', '50', '-r', '1']));
  const reports: BenchReport[] = [{ ...fast, label: 'binary <&> "quoted"' }, { ...json, label: 'json' }];

  const dir = mkdtempSync(join(tmpdir(), 'bench-html-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtmlReport(reports, { title: 'test report' }));

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`network request: ${r.url()}`); });
  await page.goto(pathToFileURL(file).href);

  assert.equal(await page.title(), 'test report');
  // The embedded data is the reports, intact (labels with markup characters included).
  const embedded = JSON.parse(await page.locator('#bench-data').textContent() ?? 'null');
  assert.deepEqual(embedded, JSON.parse(JSON.stringify(reports)));

  // Throughput–latency chart: one point per step per run, at the JSON's values.
  const points = await page.$$eval('#chart-throughput-latency circle.point', (cs) => cs.map((c) => {
    const box = c.getBoundingClientRect();
    const svg = (c as SVGGraphicsElement).ownerSVGElement!.getBoundingClientRect();
    return {
      series: c.parentElement!.getAttribute('data-series'),
      level: Number(c.getAttribute('data-level')),
      throughput: Number(c.getAttribute('data-throughput')),
      p99: Number(c.getAttribute('data-p99-us')),
      inside: box.width > 0 && box.left >= svg.left && box.right <= svg.right && box.top >= svg.top && box.bottom <= svg.bottom,
      cy: box.top,
    };
  }));
  const want = reports.flatMap((r) => r.steps.map((s) => ({ series: r.label, level: s.level, throughput: s.throughput, p99: s.latency.p99Us })));
  assert.deepEqual(points.map(({ series, level, throughput, p99 }) => ({ series, level, throughput, p99 })), want);
  assert.ok(points.every((p) => p.inside), 'every point is drawn inside its chart');
  // Higher p99 is drawn higher up (smaller y on screen).
  const [a, b] = [points[0], points[2]];
  if (a.p99 !== b.p99) assert.equal(a.p99 > b.p99, a.cy < b.cy);

  // Percentile charts: one per run, 4 percentiles × steps points, each with its latency.
  for (const [i, r] of reports.entries()) {
    const pts = await page.$$eval(`#chart-percentiles-${i} circle.point`, (cs) => cs.map((c) => [c.getAttribute('data-percentile'), Number(c.getAttribute('data-latency-us'))]));
    const expected = (['p50', 'p90', 'p95', 'p99'] as const).flatMap((p) => r.steps.map((s) => [p, s.latency[`${p}Us`]]));
    assert.deepEqual(pts, expected);
  }
  // The tables show every step.
  assert.equal(await page.locator('table.steps tbody tr').count(), reports.reduce((n, r) => n + r.steps.length, 0));
  const shot = await page.screenshot({ fullPage: true });
  assert.ok(shot.length > 10_000, 'a blank page would compress to almost nothing');
  assert.deepEqual(problems, []);
});
