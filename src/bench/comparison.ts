/**
 * Several runs of the same load steps side by side (a server and its baselines), as one markdown table: throughput
 * and p50/p99 per run, and each run's throughput as a ratio to the first run's at the same step.
 */
import type { BenchReport } from './report.js';
import { seriesName } from './html-report.js';

const f1 = (v: number) => v.toFixed(1);
const msOf = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);

export function formatComparisonTable(reports: readonly BenchReport[]): string {
  if (reports.length === 0) return '';
  const names = reports.map(seriesName);
  const levels = [...new Set(reports.flatMap((r) => r.steps.map((s) => s.level)))].sort((a, b) => a - b);
  const head = [reports[0].mode === 'concurrency' ? 'concurrency' : 'offered req/s'];
  for (const n of names) head.push(`${n} req/s`);
  for (const n of names.slice(1)) head.push(`${names[0]} ÷ ${n}`);
  for (const n of names) head.push(`${n} p50 / p99 ms`);
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const level of levels) {
    const steps = reports.map((r) => r.steps.find((s) => s.level === level));
    const row = [String(level)];
    for (const s of steps) row.push(s ? `${f1(s.throughput)}${s.errorCount ? ` (${s.errorCount} errors)` : ''}${s.stable ? '' : '*'}` : '-');
    const base = steps[0];
    for (const s of steps.slice(1)) row.push(base && s && s.throughput > 0 ? (base.throughput / s.throughput).toFixed(2) : '-');
    for (const s of steps) row.push(s ? `${msOf(s.latency.p50Us)} / ${msOf(s.latency.p99Us)}` : '-');
    lines.push(`| ${row.join(' | ')} |`);
  }
  const unstable = reports.some((r) => r.steps.some((s) => !s.stable));
  if (unstable) lines.push('', '\\* not stable: the last three windows did not agree within the stability percentage.');
  return lines.join('\n');
}
