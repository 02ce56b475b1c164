/**
 * The HTML report: one self-contained page (inline CSS and SVG, no scripts to fetch, no network) that a person can
 * open in a browser. For one run or several compared runs: throughput vs p99 latency, latency percentiles per step,
 * and the tables. The reports themselves are embedded as JSON (`<script type="application/json" id="bench-data">`)
 * so the page carries its own data.
 */
import { SPLIT_COLUMNS, describeRun, formatErrors, tableLegend } from './format-table.js';
import type { BenchReport } from './report.js';
import { escapeXml, renderChart, type ChartSeries } from './svg-chart.js';

export function seriesName(r: BenchReport): string {
  return r.label ?? `${r.target.model} @ ${r.target.url}`;
}

const ms = (us: number) => Number((us / 1000).toFixed(3));

function throughputLatencyChart(reports: readonly BenchReport[]): string {
  const series: ChartSeries[] = reports.map((r) => ({
    name: seriesName(r),
    points: r.steps.map((s) => ({
      x: Number(s.throughput.toFixed(1)),
      y: ms(s.latency.p99Us),
      tag: String(s.level),
      label: `${seriesName(r)} — ${s.mode} ${s.level}: ${s.throughput.toFixed(1)} req/s, p99 ${ms(s.latency.p99Us)} ms`,
      data: { level: s.level, throughput: s.throughput, 'p99-us': s.latency.p99Us },
    })),
  }));
  // Log axes once values span more than a decade (a floor server next to a model server; an open-loop blow-up).
  const spread = (vs: number[]) => { const p = vs.filter((v) => v > 0); return p.length > 0 && Math.max(...p) / Math.min(...p) > 10; };
  const pts = series.flatMap((s) => s.points);
  return renderChart({
    id: 'chart-throughput-latency', title: 'Throughput vs p99 latency', xLabel: 'throughput (requests/s)', yLabel: 'p99 latency (ms)', series,
    logX: spread(pts.map((p) => p.x)), logY: spread(pts.map((p) => p.y)),
  });
}

const PCTS = [['p50', 'p50Us'], ['p90', 'p90Us'], ['p95', 'p95Us'], ['p99', 'p99Us']] as const;

function percentileChart(r: BenchReport, index: number): string {
  const series: ChartSeries[] = PCTS.map(([name, key]) => ({
    name,
    points: r.steps.map((s, i) => ({
      x: i,
      y: ms(s.latency[key]),
      label: `${s.mode} ${s.level}: ${name} ${ms(s.latency[key])} ms`,
      data: { level: s.level, percentile: name, 'latency-us': s.latency[key] },
    })),
  }));
  return renderChart({
    id: `chart-percentiles-${index}`,
    title: `Latency percentiles per step — ${seriesName(r)}`,
    xLabel: r.mode === 'concurrency' ? 'concurrency' : 'offered rate (requests/s)',
    yLabel: 'latency (ms)',
    series,
    xCategories: r.steps.map((s) => String(s.level)),
  });
}

function table(r: BenchReport): string {
  const withServer = r.steps.some((s) => s.server);
  const head = [r.mode === 'concurrency' ? 'concurrency' : 'rate (req/s)', 'req/s', 'infer/s', 'p50 ms', 'p90 ms', 'p95 ms',
    'p99 ms', 'mean ms', ...(withServer ? [...SPLIT_COLUMNS.map(([title]) => title), 'server batch'] : []), 'requests', 'errors', 'stable'];
  const rows = r.steps.map((s) => [
    String(s.level), s.throughput.toFixed(1), s.inferencesPerSec.toFixed(1), ...[s.latency.p50Us, s.latency.p90Us,
      s.latency.p95Us, s.latency.p99Us, s.latency.meanUs].map((v) => (v / 1000).toFixed(2)),
    ...(withServer ? [...SPLIT_COLUMNS.map(([, us]) => { const v = us(s); return v === undefined ? '-' : (v / 1000).toFixed(3); }),
      s.server ? s.server.meanBatch.toFixed(1) : '-'] : []),
    String(s.ok), s.errorCount === 0 ? '0' : `${s.errorCount} (${formatErrors(s.errors)})`,
    s.stable ? 'yes' : `no (${s.windows})`,
  ]);
  const legend = tableLegend(r);
  return `<table class="steps"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((row) => `<tr>${row.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('') + '</tbody></table>' +
    (legend ? `\n<p class="legend">${escapeXml(legend)}</p>` : '');
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
pre.run { background: #f6f6f6; padding: 8px; white-space: pre-wrap; font-size: 12px; }
table.steps { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
table.steps th, table.steps td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
table.steps th { background: #eee; }
p.legend { font-size: 12px; color: #555; }
svg.chart { display: block; margin: 12px 0; background: #fff; border: 1px solid #ddd; }
svg .grid { stroke: #eee; } svg .axis { stroke: #555; }
svg .tick, svg .legend, svg .tag { font-size: 11px; fill: #444; } svg .axis-label { font-size: 12px; fill: #222; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #222; }
`;

export interface HtmlReportOptions {
  readonly title?: string;
  /** Extra HTML placed under the title (already escaped / trusted). */
  readonly introHtml?: string;
}

export function renderHtmlReport(reports: readonly BenchReport[], opts: HtmlReportOptions = {}): string {
  const title = opts.title ?? 'autoglm bench report';
  // JSON inside <script>: escape '<' so no '</script>' in a string can end the element.
  const data = JSON.stringify(reports).replace(/</g, '\\u003c');
  const sections = reports.map((r, i) => `
<section class="run" data-series="${escapeXml(seriesName(r))}">
<h2>${escapeXml(seriesName(r))}</h2>
<pre class="run">${escapeXml(describeRun(r))}${r.note ? `\n${escapeXml(r.note)}` : ''}\nstarted ${escapeXml(r.startedAt)}</pre>
${percentileChart(r, i)}
${table(r)}
</section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body>
<h1>${escapeXml(title)}</h1>
${opts.introHtml ?? ''}
${throughputLatencyChart(reports)}
${sections}
<script type="application/json" id="bench-data">${data}</script>
</body></html>
`;
}
