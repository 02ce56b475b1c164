/**
 * The dashboard's live feed: once a second, each model version's recent numbers (req/s, p50/p99, queue/compute
 * split, batch sizes, queue depth, refusals, SLO, cache) read from the server's own counters and histograms on its
 * registry, and the process's CPU, memory and loop lag; the last few minutes kept for the charts. Readers only
 * peek at metric children, so watching never creates a series. Shape of the JSON: docs/dashboard.md.
 */
import type { CounterChild, GaugeChild, Histogram, HistogramChild, MetricsRegistry, Counter, Gauge } from './registry.js';
import { valueOf } from './registry.js';
import { type HistogramReading, histogramDelta, histogramQuantile, readHistogram } from './histogram-window.js';
import { type ProcessLoad, ProcessLoadMeter } from './process-load.js';

/** A row of the server's repository index (InferenceService.repositoryIndex): what the feed lists. */
export interface ListedModel {
  readonly name: string;
  readonly version?: string;
  readonly state: string;
  readonly reason?: string;
}

export interface LiveFeedOptions {
  readonly registry: MetricsRegistry;
  /** The models and their states now (the server's repository index). */
  readonly models: () => readonly ListedModel[];
  /** Default 1000. */
  readonly intervalMs?: number;
  /** Ticks kept for the charts. Default 300 (5 minutes at 1 s). */
  readonly historyTicks?: number;
  /** Ticks the rates and percentiles are taken over. Default 5. */
  readonly windowTicks?: number;
}

/** One model version now (numbers over the feed's window unless said otherwise). */
export interface VersionLive {
  readonly model: string;
  /** Absent for a model that has no version loaded (it failed before one was found). */
  readonly version?: string;
  readonly state: string;
  readonly reason?: string;
  readonly reqPerSec: number;
  readonly failPerSec: number;
  /** Latency from enqueue to answer, µs; null without answers in the window. */
  readonly p50Us: number | null;
  readonly p99Us: number | null;
  /** Mean per successful request over the window, µs: waiting in the queue, and its batch's compute. */
  readonly queueUs: number | null;
  readonly computeUs: number | null;
  /** Executions per batch size bucket over the window: `le` is the bucket's upper bound (1, 2, 4, …). */
  readonly batches: readonly { readonly le: number; readonly count: number }[];
  readonly meanBatch: number | null;
  /** Requests waiting now. */
  readonly queueDepth: number;
  /** Since load: refused at admission (queue full, predicted late), shed by the SLO, late, failed in all. */
  readonly rejected: number;
  readonly shed: number;
  readonly deadlineExceeded: number;
  readonly failed: number;
  readonly slo: { readonly targetUs: number; readonly observedP99Us: number; readonly sheddingLevels: number } | null;
  /** Since load; null for versions without a response cache. */
  readonly cache: { readonly hits: number; readonly misses: number } | null;
}

/** One tick of the charts: per version key (`model/version`), req/s and p99 µs (null: no answers). */
export interface LiveTick {
  readonly seq: number;
  /** ms since the epoch. */
  readonly t: number;
  readonly cpuCores: number;
  readonly loopLagP99Ms: number;
  readonly versions: Readonly<Record<string, readonly [number, number | null]>>;
}

export interface LiveSnapshot {
  /** The latest tick's seq (0 before the first): ask `since` it next time. */
  readonly seq: number;
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly process: ProcessLoad | null;
  readonly models: readonly VersionLive[];
  /** Ticks after `since`, oldest first. */
  readonly history: readonly LiveTick[];
}

/** What one version's numbers were at a tick (cumulative counts, as the metrics hold them). */
interface Reading {
  readonly ms: number;
  readonly success: number;
  readonly failed: number;
  readonly queueUs: number;
  readonly computeUs: number;
  readonly latency: HistogramReading | undefined;
  readonly batch: HistogramReading | undefined;
}

const NAMES = {
  success: 'nv_inference_request_success', failure: 'nv_inference_request_failure', queueUs: 'nv_inference_queue_duration_us',
  inputUs: 'nv_inference_compute_input_duration_us', inferUs: 'nv_inference_compute_infer_duration_us',
  outputUs: 'nv_inference_compute_output_duration_us', pending: 'nv_inference_pending_request_count',
  latency: 'autoglm_request_duration_us', batch: 'autoglm_batch_size', rejected: 'autoglm_rejected_requests',
  deadline: 'autoglm_deadline_exceeded', sloTarget: 'autoglm_slo_target_us', sloObserved: 'autoglm_slo_observed_p99_us',
  sloShedding: 'autoglm_slo_shedding_levels', sloShed: 'autoglm_slo_shed_requests',
  cacheHits: 'nv_cache_num_hits_per_model', cacheMisses: 'nv_cache_num_misses_per_model',
} as const;

export class LiveFeed {
  readonly intervalMs: number;
  private readonly historyTicks: number;
  private readonly windowTicks: number;
  private readonly meter = new ProcessLoadMeter();
  private readonly timer: NodeJS.Timeout;
  /** Per version key, its latest readings (at most windowTicks + 1), oldest first. */
  private readonly readings = new Map<string, Reading[]>();
  private readonly history: LiveTick[] = [];
  private current: { process: ProcessLoad | null; models: VersionLive[] } = { process: null, models: [] };
  private seq = 0;

  constructor(private readonly options: LiveFeedOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.historyTicks = options.historyTicks ?? 300;
    this.windowTicks = options.windowTicks ?? 5;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** The numbers now, and the chart ticks after `since` (all kept ones when absent or unknown). */
  snapshot(since?: number): LiveSnapshot {
    const first = this.history.length > 0 ? this.history[0].seq : 0;
    const from = since === undefined || since < first - 1 || since > this.seq ? 0 : since - first + 1;
    return {
      seq: this.seq, intervalMs: this.intervalMs, windowMs: this.intervalMs * this.windowTicks,
      process: this.current.process, models: this.current.models, history: this.history.slice(from),
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.meter.stop();
  }

  /** Reads every version's numbers now (the timer calls it each interval; tests call it to step time themselves). */
  tick(): void {
    const ms = Date.now();
    // The first tick only starts the meter's interval.
    const load = this.seq === 0 ? (this.meter.sample(), null) : this.meter.sample();
    const models: VersionLive[] = [];
    const seen = new Set<string>();
    const points: Record<string, readonly [number, number | null]> = {};
    for (const row of this.options.models()) {
      if (row.version === undefined) {
        models.push(idle(row));
        continue;
      }
      const key = `${row.name}/${row.version}`;
      seen.add(key);
      const live = this.versionNow(row, key, ms);
      models.push(live);
      if (row.state === 'READY') points[key] = [live.reqPerSec, live.p99Us];
    }
    for (const key of this.readings.keys()) if (!seen.has(key)) this.readings.delete(key);
    this.current = { process: load, models };
    this.seq++;
    this.history.push({ seq: this.seq, t: ms, cpuCores: load?.cpuCores ?? 0, loopLagP99Ms: load?.loopLagP99Ms ?? 0, versions: points });
    if (this.history.length > this.historyTicks) this.history.shift();
  }

  private versionNow(row: ListedModel, key: string, ms: number): VersionLive {
    const r = this.options.registry;
    const mv = [row.name, row.version!];
    const counter = (name: string) => { const c = (r.get(name) as Counter | undefined)?.peek(...mv); return c ? valueOf(c) : 0; };
    const gauge = (name: string): GaugeChild | undefined => (r.get(name) as Gauge | undefined)?.peek(...mv);
    const histogram = (name: string): HistogramChild | undefined => (r.get(name) as Histogram | undefined)?.peek(...mv);
    const sumOf = (name: string) => ((r.get(name) as Counter | undefined)?.peekWhere(...mv) ?? []).reduce((s, c: CounterChild) => s + valueOf(c), 0);

    const latencyH = histogram(NAMES.latency);
    const batchH = histogram(NAMES.batch);
    const failed = sumOf(NAMES.failure);
    const now: Reading = {
      ms, success: counter(NAMES.success), failed, queueUs: counter(NAMES.queueUs),
      computeUs: counter(NAMES.inputUs) + counter(NAMES.inferUs) + counter(NAMES.outputUs),
      latency: latencyH && readHistogram(latencyH), batch: batchH && readHistogram(batchH),
    };
    let kept = this.readings.get(key);
    if (!kept) this.readings.set(key, (kept = []));
    kept.push(now);
    if (kept.length > this.windowTicks + 1) kept.shift();
    const old = kept.length > 1 ? kept[0] : undefined;
    const secs = old ? Math.max(0.001, (ms - old.ms) / 1000) : 1;
    const ok = now.success - (old?.success ?? now.success);
    const latency = latencyH && now.latency && old?.latency ? histogramDelta(now.latency, old.latency) : undefined;
    const batch = batchH && now.batch && old?.batch ? histogramDelta(now.batch, old.batch) : undefined;
    const split = ok > 0 && now.computeUs > old!.computeUs;
    const batches: { le: number; count: number }[] = [];
    if (batchH && batch) batchH.bounds.forEach((le, i) => { if (batch.counts[i] > 0) batches.push({ le, count: batch.counts[i] }); });

    const target = gauge(NAMES.sloTarget);
    const hits = (r.get(NAMES.cacheHits) as Counter | undefined)?.peek(...mv);
    const misses = (r.get(NAMES.cacheMisses) as Counter | undefined)?.peek(...mv);
    const pending = gauge(NAMES.pending);
    return {
      model: row.name, version: row.version, state: row.state, ...(row.reason ? { reason: row.reason } : {}),
      reqPerSec: ok / secs,
      failPerSec: old ? (failed - old.failed) / secs : 0,
      p50Us: latencyH && latency ? round(histogramQuantile(latencyH.bounds, latency, 0.5)) : null,
      p99Us: latencyH && latency ? round(histogramQuantile(latencyH.bounds, latency, 0.99)) : null,
      // No compute recorded (a pipeline: its steps record theirs): no split to show.
      queueUs: split ? round((now.queueUs - old!.queueUs) / ok) : null,
      computeUs: split ? round((now.computeUs - old!.computeUs) / ok) : null,
      batches,
      meanBatch: batch && batch.count > 0 ? batch.sum / batch.count : null,
      queueDepth: pending ? valueOf(pending) : 0,
      rejected: counter(NAMES.rejected),
      shed: sumOf(NAMES.sloShed),
      deadlineExceeded: counter(NAMES.deadline),
      failed,
      slo: target ? { targetUs: valueOf(target), observedP99Us: valueOf(gauge(NAMES.sloObserved)!), sheddingLevels: valueOf(gauge(NAMES.sloShedding)!) } : null,
      cache: hits && misses ? { hits: valueOf(hits), misses: valueOf(misses) } : null,
    };
  }
}

const round = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : Math.round(x));

/** A model listed without a version (it failed before any was found): no numbers. */
function idle(row: ListedModel): VersionLive {
  return {
    model: row.name, state: row.state, ...(row.reason ? { reason: row.reason } : {}), reqPerSec: 0, failPerSec: 0,
    p50Us: null, p99Us: null, queueUs: null, computeUs: null, batches: [], meanBatch: null, queueDepth: 0,
    rejected: 0, shed: 0, deadlineExceeded: 0, failed: 0, slo: null, cache: null,
  };
}
