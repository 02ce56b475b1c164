/** The load generator behind `autoglm bench`, usable as a library (bench/ scripts use it). */
export { runBench, prepareBench, targetOf, type BenchHooks, type PreparedBench } from './run-bench.js';
export { parseBenchArgs, parseRange, parseShape, USAGE, DEFAULTS, HelpRequested } from './options.js';
export type { BenchOptions, LoadPlan, Protocol, ProtocolFormat, RequestDistribution } from './options.js';
export type { BenchReport, BenchTarget, StepResult } from './report.js';
export type { LatencySummary } from './latency-histogram.js';
export type { ServerSplit } from './server-metrics.js';
export { formatTable, formatMarkdownTable, formatCsv, describeRun, tableLegend, stepOtherUs } from './format-table.js';
export { pinClientTo, currentCpuList, checkCpuList } from './cpu-affinity.js';
export { otherUs, serverSumUs } from './server-metrics.js';
export { formatComparisonTable } from './comparison.js';
export { renderHtmlReport, type HtmlReportOptions } from './html-report.js';
