import { CounterChild, type GaugeChild, type HistogramChild, MetricsRegistry, exponentialBuckets } from './registry.js';
import { BatchStatsTable, type ModelStatistics, ResponseStatsTable, modelStatisticsOf } from './model-statistics.js';

/** Why a request failed, as Triton's nv_inference_request_failure `reason` label says it. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';
const REASONS: readonly FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

/** One model version's metric children, created at load; the scheduler records into these fields directly. */
export interface ModelMetrics {
  readonly success: CounterChild;
  readonly failure: Readonly<Record<FailureReason, CounterChild>>;
  /** Inferences (rows along the batch dimension), as Triton counts them. */
  readonly inferenceCount: CounterChild;
  /** Model executions (batches); remembers when it last counted (the statistics' last_inference). */
  readonly execCount: ExecutionCounter;
  readonly requestDurationUs: CounterChild;
  /** Cumulative µs from arrival to answer of failed requests (the statistics' fail ns; no Prometheus series). */
  readonly failureDurationUs: CounterChild;
  readonly queueDurationUs: CounterChild;
  readonly computeInputUs: CounterChild;
  readonly computeInferUs: CounterChild;
  readonly computeOutputUs: CounterChild;
  readonly pending: GaugeChild;
  readonly requestLatencyUs: HistogramChild;
  readonly queueLatencyUs: HistogramChild;
  readonly batchSize: HistogramChild;
  readonly rejectedQueueFull: CounterChild;
  readonly deadlineExceeded: CounterChild;
  readonly deadlineExceededRunning: CounterChild;
  readonly batchRetries: CounterChild;
  /** Per batch size, executions and their compute µs (the statistics' batch_stats; no Prometheus series). */
  readonly batchStats: BatchStatsTable;
  /** Decoupled models' responses by index (response_stats). */
  readonly responseStats: ResponseStatsTable;
}

/**
 * nv_inference_exec_count's child that also remembers when it last counted, in ms since the epoch: Triton stamps
 * last_inference where it counts an execution (InferenceStatsAggregator::UpdateInferBatchStatsWithDuration), so every
 * scheduler that counts executions (batching, ensemble) stamps it too — once per batch, one Date.now().
 */
export class ExecutionCounter {
  lastMs = 0;
  constructor(private readonly child: CounterChild) {}

  inc(by = 1): void {
    this.child.inc(by);
    this.lastMs = Date.now();
  }

  get value(): number {
    return this.child.value;
  }
}

/** A model version's latency-SLO series (models that declare latency_target_us). */
export interface SloMetrics {
  readonly targetUs: GaugeChild;
  readonly observedP99Us: GaugeChild;
  /** How many of the lowest priority levels are shed. */
  readonly sheddingLevels: GaugeChild;
  /** Requests refused by shedding, per level (index 0 = priority 1). */
  readonly shed: readonly CounterChild[];
}

/**
 * The server's metrics: Triton's names (nv_inference_*, labels model and version) where Triton has one, and
 * autoglm_* for histograms and scheduler events Triton does not export. One instance per server.
 */
export class InferenceMetrics {
  readonly registry: MetricsRegistry;
  private readonly m;
  /** Each model version's children, as forModel made them (the statistics read them). */
  private readonly versions = new Map<string, ModelMetrics>();

  constructor(registry = new MetricsRegistry()) {
    this.registry = registry;
    const r = registry;
    const mv = ['model', 'version'];
    this.m = {
      success: r.counter('nv_inference_request_success', 'Number of successful inference requests, all batch sizes', mv),
      failure: r.counter('nv_inference_request_failure', 'Number of failed inference requests, all batch sizes', [...mv, 'reason']),
      count: r.counter('nv_inference_count', 'Number of inferences performed (a batch of n counts n)', mv),
      exec: r.counter('nv_inference_exec_count', 'Number of model executions performed (batches)', mv),
      reqDur: r.counter('nv_inference_request_duration_us', 'Cumulative inference request duration in microseconds', mv),
      queueDur: r.counter('nv_inference_queue_duration_us', 'Cumulative inference queuing duration in microseconds', mv),
      inDur: r.counter('nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds', mv),
      inferDur: r.counter('nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds', mv),
      outDur: r.counter('nv_inference_compute_output_duration_us', 'Cumulative inference compute output duration in microseconds', mv),
      pending: r.gauge('nv_inference_pending_request_count', 'Instantaneous number of pending requests awaiting execution per-model', mv),
      latency: r.histogram('autoglm_request_duration_us', 'Request duration from enqueue to response, microseconds', mv,
        exponentialBuckets(100, 2, 18)),
      queueLat: r.histogram('autoglm_queue_duration_us', 'Time a request waited in the queue, microseconds', mv,
        exponentialBuckets(10, 2, 20)),
      batch: r.histogram('autoglm_batch_size', 'Rows per model execution', mv, exponentialBuckets(1, 2, 14)),
      rejected: r.counter('autoglm_rejected_requests', 'Requests refused at admission (queue full or predicted wait past deadline)', mv),
      deadline: r.counter('autoglm_deadline_exceeded', 'Requests answered DEADLINE_EXCEEDED without running', mv),
      deadlineRunning: r.counter('autoglm_deadline_exceeded_running',
        'Requests answered DEADLINE_EXCEEDED at their deadline while their batch still ran (result dropped)', mv),
      retries: r.counter('autoglm_batch_retries', 'Batches run again because their instance\'s worker died under them', mv),
      sloTarget: r.gauge('autoglm_slo_target_us', 'The model\'s latency target (latency_target_us), microseconds', mv),
      sloObserved: r.gauge('autoglm_slo_observed_p99_us',
        'p99 of the model\'s answers at the latest SLO evaluation, from when the frontend received each request, microseconds', mv),
      sloShedding: r.gauge('autoglm_slo_shedding_levels', 'How many of the lowest priority levels the model sheds now (0 = none)', mv),
      sloShed: r.counter('autoglm_slo_shed_requests', 'Requests refused because their priority level was being shed', [...mv, 'priority']),
    };
  }

  /** Creates (or returns) a model version's children. Call at load time. */
  forModel(model: string, version: string): ModelMetrics {
    const key = versionKey(model, version);
    const known = this.versions.get(key);
    if (known) return known;
    const m = this.m;
    const failure = {} as Record<FailureReason, CounterChild>;
    for (const r of REASONS) failure[r] = m.failure.labels(model, version, r);
    const mm: ModelMetrics = Object.freeze({
      success: m.success.labels(model, version),
      failure: Object.freeze(failure),
      inferenceCount: m.count.labels(model, version),
      execCount: new ExecutionCounter(m.exec.labels(model, version)),
      requestDurationUs: m.reqDur.labels(model, version),
      failureDurationUs: new CounterChild(),
      queueDurationUs: m.queueDur.labels(model, version),
      computeInputUs: m.inDur.labels(model, version),
      computeInferUs: m.inferDur.labels(model, version),
      computeOutputUs: m.outDur.labels(model, version),
      pending: m.pending.labels(model, version),
      requestLatencyUs: m.latency.labels(model, version),
      queueLatencyUs: m.queueLat.labels(model, version),
      batchSize: m.batch.labels(model, version),
      rejectedQueueFull: m.rejected.labels(model, version),
      deadlineExceeded: m.deadline.labels(model, version),
      deadlineExceededRunning: m.deadlineRunning.labels(model, version),
      batchRetries: m.retries.labels(model, version),
      batchStats: new BatchStatsTable(),
      responseStats: new ResponseStatsTable(),
    });
    this.versions.set(key, mm);
    return mm;
  }

  /** A model version's statistics (Triton's statistics extension); every number 0 for a version that has none. */
  statistics(model: string, version: string): ModelStatistics {
    return modelStatisticsOf(model, version, this.versions.get(versionKey(model, version)));
  }

  /** Creates a model version's SLO series. Call at load time, for models with a latency target. */
  forSlo(model: string, version: string, levels: number): SloMetrics {
    const m = this.m;
    return Object.freeze({
      targetUs: m.sloTarget.labels(model, version),
      observedP99Us: m.sloObserved.labels(model, version),
      sheddingLevels: m.sloShedding.labels(model, version),
      shed: Object.freeze(Array.from({ length: levels }, (_, l) => m.sloShed.labels(model, version, String(l + 1)))),
    });
  }

  /** Drops a model version's series (after unload). */
  removeModel(model: string, version: string): void {
    this.versions.delete(versionKey(model, version));
    for (const metric of Object.values(this.m)) {
      if (metric === this.m.failure) for (const r of REASONS) metric.remove(model, version, r);
      else if (metric === this.m.sloShed) metric.removeWhere(model, version);
      else metric.remove(model, version);
    }
  }

  render(): string {
    return this.registry.render();
  }
}

const versionKey = (model: string, version: string): string => `${model}\u0000${version}`;
