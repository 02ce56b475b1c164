/** The end-of-run table (terminal text or markdown), CSV and the live progress line. */
import type { StepProgress } from './measure-step.js';
import type { BenchReport, StepResult } from './report.js';
import { otherUs } from './server-metrics.js';

const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);

interface Column {
  readonly title: string;
  readonly value: (s: StepResult) => string;
}

/** The server's split per request, to the µs: its parts are often well under a millisecond. */
const fineMs = (us: number) => (us / 1000).toFixed(3);

/** The server's per-request split beside the client's mean: queue, compute input/infer/output, then 'other'. */
export const SPLIT_COLUMNS: readonly [string, (s: StepResult) => number | undefined][] = [
  ['server queue ms', (s) => s.server?.queueUs],
  ['server input ms', (s) => s.server?.computeInputUs],
  ['server infer ms', (s) => s.server?.computeInferUs],
  ['server output ms', (s) => s.server?.computeOutputUs],
  ['other ms', (s) => stepOtherUs(s)],
];

/** Mean latency minus the server's queue + compute (what the server's counters do not see); undefined without them. */
export function stepOtherUs(s: StepResult): number | undefined {
  return s.server ? otherUs(s.latency.meanUs, s.server) : undefined;
}

function columns(report: BenchReport): Column[] {
  const cols: Column[] = [
    { title: report.mode === 'concurrency' ? 'concurrency' : 'rate (req/s)', value: (s) => String(s.level) },
    { title: 'req/s', value: (s) => s.throughput.toFixed(1) },
  ];
  if (report.target.batchSize > 1) cols.push({ title: 'infer/s', value: (s) => s.inferencesPerSec.toFixed(1) });
  cols.push(
    { title: 'p50 ms', value: (s) => ms(s.latency.p50Us) },
    { title: 'p90 ms', value: (s) => ms(s.latency.p90Us) },
    { title: 'p95 ms', value: (s) => ms(s.latency.p95Us) },
    { title: 'p99 ms', value: (s) => ms(s.latency.p99Us) },
    { title: 'mean ms', value: (s) => ms(s.latency.meanUs) },
  );
  if (report.steps.some((s) => s.server)) {
    for (const [title, us] of SPLIT_COLUMNS) cols.push({ title, value: (s) => { const v = us(s); return v === undefined ? '-' : fineMs(v); } });
  }
  cols.push(
    { title: 'requests', value: (s) => String(s.ok) },
    { title: 'errors', value: (s) => (s.errorCount === 0 ? '0' : `${s.errorCount} (${formatErrors(s.errors)})`) },
    { title: 'stable', value: (s) => (s.stable ? 'yes' : `no (${s.windows} windows)`) },
  );
  return cols;
}

/** What the split columns mean; empty when the run has none. */
export function tableLegend(report: BenchReport): string {
  if (!report.steps.some((s) => s.server)) return '';
  return 'server queue/input/infer/output: the server\'s per-request means (Prometheus, same windows); ' +
    'other = mean - their sum (network, HTTP, decoding)';
}

export function formatErrors(errors: Readonly<Record<string, number>>): string {
  return Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** An aligned plain-text table. */
export function formatTable(report: BenchReport): string {
  const cols = columns(report);
  const rows = [cols.map((c) => c.title), ...report.steps.map((s) => cols.map((c) => c.value(s)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function formatMarkdownTable(report: BenchReport): string {
  const cols = columns(report);
  return [
    `| ${cols.map((c) => c.title).join(' | ')} |`,
    `| ${cols.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...report.steps.map((s) => `| ${cols.map((c) => c.value(s)).join(' | ')} |`),
  ].join('\n');
}

/** The run's header: what was measured and how. */
export function describeRun(report: BenchReport): string {
  const t = report.target;
  const shapes = Object.entries(t.inputShapes).map(([k, v]) => `${k}[${v.join(',')}]`).join(' ');
  const load = report.mode === 'concurrency' ? 'closed loop (concurrency)' : `open loop (${report.distribution} arrivals)`;
  return `${t.url}  model ${t.model}${t.version ? ` v${t.version}` : ''}  ${t.protocol === 'grpc' ? 'gRPC' : t.protocolFormat}  batch ${t.batchSize}  ` +
    `inputs ${shapes}  request ${t.requestBytes} B\n${load}, windows of ${report.measurementIntervalMs} ms, ` +
    `stable within ${report.stabilityPercentage} % over 3 windows (at most ${report.maxTrials})` +
    (report.client ? `\nclient ${report.client.pinned ? 'pinned to' : 'not pinned, on'} CPUs ${report.client.cpus}` : '');
}

const CSV_HEADER = [
  'mode', 'level', 'throughput_req_s', 'inferences_s', 'p50_us', 'p90_us', 'p95_us', 'p99_us', 'mean_us', 'min_us',
  'max_us', 'requests', 'errors', 'stable', 'windows', 'server_queue_us', 'server_compute_input_us',
  'server_compute_infer_us', 'server_compute_output_us', 'other_us',
];

export function formatCsv(report: BenchReport): string {
  const rows = report.steps.map((s) => [
    s.mode, s.level, s.throughput.toFixed(3), s.inferencesPerSec.toFixed(3), s.latency.p50Us, s.latency.p90Us,
    s.latency.p95Us, s.latency.p99Us, s.latency.meanUs.toFixed(1), s.latency.minUs, s.latency.maxUs, s.ok,
    s.errorCount, s.stable, s.windows, s.server?.queueUs.toFixed(1) ?? '', s.server?.computeInputUs.toFixed(1) ?? '',
    s.server?.computeInferUs.toFixed(1) ?? '', s.server?.computeOutputUs.toFixed(1) ?? '', stepOtherUs(s)?.toFixed(1) ?? '',
  ].join(','));
  return [CSV_HEADER.join(','), ...rows].join('\n') + '\n';
}

export function formatProgress(mode: 'concurrency' | 'rate', p: StepProgress): string {
  const what = mode === 'concurrency' ? `concurrency ${p.level}` : `rate ${p.level}/s`;
  const last = p.lastThroughput > 0 ? `  last window ${p.lastThroughput.toFixed(0)} req/s p99 ${ms(p.lastP99Us)} ms` : '';
  return `${what}  window ${p.trial}/${p.maxTrials}  in flight ${p.inFlight}${last}`;
}
