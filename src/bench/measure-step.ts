/**
 * Measures one load step as perf_analyzer does: after a warm-up, back-to-back windows of `intervalMs` until the
 * last three agree (each window's throughput and mean latency within ±stability % of the three's mean), or
 * `maxTrials` windows have run. The step reports the last three windows merged. The load runs without pause across
 * windows; only the sink that completions land in changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadDriver } from './load-driver.js';
import { DISCARD, MeasurementWindow } from './measurement-window.js';
import type { StepResult } from './report.js';
import type { ResponseChecker } from './response-check.js';
import { otherUs, splitBetween, type ServerCounters } from './server-metrics.js';

export interface StepPlan {
  readonly mode: 'concurrency' | 'rate';
  readonly level: number;
  readonly batchSize: number;
  readonly warmupMs: number;
  readonly intervalMs: number;
  readonly stabilityPercentage: number;
  readonly maxTrials: number;
}

/** Live view of a running step, for the progress line. */
export interface StepProgress {
  readonly level: number;
  readonly trial: number;
  readonly maxTrials: number;
  readonly lastThroughput: number;
  readonly lastP99Us: number;
  readonly inFlight: number;
}

export interface StepHooks {
  /** Server counters now (undefined: no metrics). Called at each window boundary. */
  readonly scrape?: () => Promise<ServerCounters | undefined>;
  readonly onProgress?: (p: StepProgress) => void;
  readonly checker?: ResponseChecker;
}

/** Windows agree when every value is within ±pct % of their mean. */
export function agreeWithin(values: readonly number[], pct: number): boolean {
  if (values.length === 0) return false;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return values.every((v) => v === 0);
  return values.every((v) => Math.abs(v - mean) <= (pct / 100) * mean);
}

export function windowsStable(windows: readonly MeasurementWindow[], pct: number): boolean {
  if (windows.length < 3) return false;
  const last = windows.slice(-3);
  if (last.some((w) => w.ok === 0)) return false;
  return agreeWithin(last.map((w) => w.throughput), pct) && agreeWithin(last.map((w) => w.latency.summary().meanUs), pct);
}

export async function measureStep(driver: LoadDriver, plan: StepPlan, hooks: StepHooks = {}): Promise<StepResult> {
  const progressTimer = hooks.onProgress ? setInterval(() => report(), 250) : undefined;
  const windows: MeasurementWindow[] = [];
  const checkedAtStart = hooks.checker?.checked ?? 0;
  const counters: (ServerCounters | undefined)[] = [];
  let current: MeasurementWindow | undefined;
  const report = () => hooks.onProgress?.({
    level: plan.level,
    trial: windows.length + (current ? 1 : 0),
    maxTrials: plan.maxTrials,
    lastThroughput: windows.at(-1)?.throughput ?? 0,
    lastP99Us: windows.at(-1)?.latency.percentile(99) ?? 0,
    inFlight: driver.inFlight,
  });
  try {
    driver.sink = DISCARD;
    await sleep(plan.warmupMs);
    counters.push(await hooks.scrape?.());
    while (windows.length < plan.maxTrials) {
      current = new MeasurementWindow(hooks.checker);
      driver.sink = current;
      await sleep(plan.intervalMs);
      current.close();
      driver.sink = DISCARD;
      windows.push(current);
      current = undefined;
      // Scraping happens between windows (load continues, unmeasured) so its cost never lands inside a window.
      counters.push(await hooks.scrape?.());
      if (windowsStable(windows, plan.stabilityPercentage)) break;
    }
  } finally {
    if (progressTimer) clearInterval(progressTimer);
  }

  const reported = windows.slice(-3);
  const merged = new LatencyHistogram();
  let ok = 0;
  let seconds = 0;
  const errors: Record<string, number> = {};
  for (const w of reported) {
    merged.add(w.latency);
    ok += w.ok;
    seconds += w.seconds;
    for (const [k, v] of w.errors) errors[k] = (errors[k] ?? 0) + v;
  }
  const throughput = seconds > 0 ? ok / seconds : 0;
  // Server split over the reported windows: counters at the start of the first and at the end of the last.
  const first = windows.length - reported.length;
  const before = counters[first];
  const after = counters[windows.length];
  const server = before && after ? splitBetween(before, after) : undefined;
  const latency = merged.summary();
  merged.destroy();
  return {
    mode: plan.mode,
    level: plan.level,
    throughput,
    inferencesPerSec: throughput * plan.batchSize,
    latency,
    ok,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    errors,
    windows: windows.length,
    windowThroughputs: windows.map((w) => w.throughput),
    windowMeanLatenciesUs: windows.map((w) => w.latency.summary().meanUs),
    stable: windowsStable(windows, plan.stabilityPercentage),
    measuredSeconds: seconds,
    waitedForConnection: 'waitedForConnection' in driver ? Number(driver.waitedForConnection) : 0,
    answersChecked: (hooks.checker?.checked ?? 0) - checkedAtStart,
    ...(server ? { server, otherUs: otherUs(latency.meanUs, server) } : {}),
  };
}
