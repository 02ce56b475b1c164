/**
 * Triton's statistics extension (docs/protocol/extension_statistics.md; `ModelStatistics` in grpc_service.proto):
 * the answer's shape, the per-batch-size table the scheduler records into, and the function that reads one model
 * version's metrics into that shape. What each field means here, and where it differs from Triton:
 * docs/statistics.md.
 *
 * Numbers are JS numbers, never bigint: counts and nanoseconds are integers (ns rounded from the µs the scheduler
 * records), exact up to 2^53 (104 days of cumulative nanoseconds); past that a double keeps 15–16 significant digits,
 * which perf_analyzer's differences between two samples do not notice. A uint64 field of protobuf takes them as they
 * are, and JSON writes them without exponent below 10^21.
 */

/** Triton's StatisticDuration: how many times, and their cumulative duration in nanoseconds. */
export interface StatisticDuration {
  readonly count: number;
  readonly ns: number;
}

/** Triton's InferStatistics. */
export interface InferStatistics {
  readonly success: StatisticDuration;
  readonly fail: StatisticDuration;
  readonly queue: StatisticDuration;
  readonly compute_input: StatisticDuration;
  readonly compute_infer: StatisticDuration;
  readonly compute_output: StatisticDuration;
  readonly cache_hit: StatisticDuration;
  readonly cache_miss: StatisticDuration;
}

/** Triton's InferResponseStatistics: the responses at one index (0 = each request's first) of a decoupled model. */
export interface InferResponseStatistics {
  readonly compute_infer: StatisticDuration;
  readonly compute_output: StatisticDuration;
  readonly success: StatisticDuration;
  readonly fail: StatisticDuration;
  readonly empty_response: StatisticDuration;
  readonly cancel: StatisticDuration;
}

/** Triton's InferBatchStatistics: one executed batch size. */
export interface InferBatchStatistics {
  readonly batch_size: number;
  readonly compute_input: StatisticDuration;
  readonly compute_infer: StatisticDuration;
  readonly compute_output: StatisticDuration;
}

/**
 * Triton's ModelStatistics message, field for field (snake_case, as the proto and the HTTP JSON spell them): the
 * HTTP frontend sends it as JSON, the gRPC frontend encodes it as the message.
 */
export interface ModelStatistics {
  readonly name: string;
  readonly version: string;
  /** When the version last executed (a batch, or an ensemble request), ms since the epoch; 0 = never. */
  readonly last_inference: number;
  /** Rows executed (a batch of 8 counts 8). */
  readonly inference_count: number;
  /** Executions (batches). */
  readonly execution_count: number;
  readonly inference_stats: InferStatistics;
  /** Ascending batch size; only sizes that ran. */
  readonly batch_stats: readonly InferBatchStatistics[];
  /**
   * Per-response statistics of decoupled models, by response index ("0", "1", …; indices past
   * MAX_RESPONSE_INDEX are not kept); empty for other models.
   */
  readonly response_stats: Readonly<Record<string, InferResponseStatistics>>;
  /** Memory a load used: always empty (not measured). */
  readonly memory_usage: readonly never[];
}

/** Triton's ModelStatisticsResponse. */
export interface ModelStatisticsResponse {
  readonly model_stats: readonly ModelStatistics[];
}

/** Batch sizes kept in the dense table; larger ones (models with a huge max_batch_size) go to a map. */
const DENSE_MAX = 4096;
/** Numbers per batch size: executions, compute_input µs, compute_infer µs, compute_output µs. */
const STRIDE = 4;

/**
 * Triton's batch_stats for one model version: per batch size, executions and their cumulative compute µs (the
 * scheduler records into it as SchedulerMetrics.batchStats).
 * Recording a batch is four additions into one Float64Array indexed by batch size — no allocation, no lookup —
 * except the first time a larger size than any before runs (the table doubles, up to DENSE_MAX sizes).
 *
 *   data[4·b]     executions of batch size b       data[4·b + 1]  compute_input µs
 *   data[4·b + 2] compute_infer µs                  data[4·b + 3]  compute_output µs
 */
export class BatchStatsTable {
  private data: Float64Array = new Float64Array(STRIDE * 9);
  /** Sizes past DENSE_MAX, each a row of STRIDE numbers. */
  private readonly sparse = new Map<number, Float64Array>();

  record(batchSize: number, inputUs: number, inferUs: number, outputUs: number): void {
    let d: Float64Array = this.data;
    let i = batchSize * STRIDE;
    if (i + STRIDE > d.length) {
      if (batchSize > DENSE_MAX) {
        d = this.sparseRow(batchSize);
        i = 0;
      } else {
        d = this.grow(batchSize);
      }
    }
    d[i]++;
    d[i + 1] += inputUs;
    d[i + 2] += inferUs;
    d[i + 3] += outputUs;
  }

  /** The sizes that ran, ascending, in Triton's shape. */
  rows(): InferBatchStatistics[] {
    const out: InferBatchStatistics[] = [];
    const d = this.data;
    for (let b = 0; b * STRIDE < d.length; b++) if (d[b * STRIDE] > 0) out.push(batchRow(b, d, b * STRIDE));
    for (const b of [...this.sparse.keys()].sort((x, y) => x - y)) out.push(batchRow(b, this.sparse.get(b)!, 0));
    return out;
  }

  private grow(batchSize: number): Float64Array {
    let n = this.data.length / STRIDE;
    while (n <= batchSize) n *= 2;
    const d = new Float64Array(Math.min(n, DENSE_MAX + 1) * STRIDE);
    d.set(this.data);
    this.data = d;
    return d;
  }

  private sparseRow(batchSize: number): Float64Array {
    let row = this.sparse.get(batchSize);
    if (!row) this.sparse.set(batchSize, (row = new Float64Array(STRIDE)));
    return row;
  }
}

/** How one response index of a request ended: a response, the error, the end with no more responses, the client gone. */
export type ResponseOutcome = 'success' | 'fail' | 'empty_response' | 'cancel';

/** Response indices kept in response_stats: 0 … MAX_RESPONSE_INDEX (a long stream's later responses are not). */
export const MAX_RESPONSE_INDEX = 1023;

/** Numbers per response index: count and µs of compute_infer, compute_output, success, fail, empty_response, cancel. */
const RSTRIDE = 12;
const OUTCOME_AT: Readonly<Record<ResponseOutcome, number>> = { success: 4, fail: 6, empty_response: 8, cancel: 10 };

/**
 * Triton's response_stats for one model version (the decoupled scheduler records into it as
 * SchedulerMetrics.responseStats). `us` of an outcome: the time since the request's previous response (or since it
 * started running); compute_infer / compute_output only for responses with outputs.
 */
export class ResponseStatsTable {
  private data = new Float64Array(RSTRIDE * 8);
  private top = -1;

  record(index: number, outcome: ResponseOutcome, us: number, inferUs = 0, outputUs = 0): void {
    if (index > MAX_RESPONSE_INDEX) return;
    let i = index * RSTRIDE;
    if (i + RSTRIDE > this.data.length) {
      const d = new Float64Array(Math.max(this.data.length * 2, i + RSTRIDE));
      d.set(this.data);
      this.data = d;
    }
    const d = this.data;
    if (outcome === 'success') {
      d[i]++;
      d[i + 1] += inferUs;
      d[i + 2]++;
      d[i + 3] += outputUs;
    }
    i += OUTCOME_AT[outcome];
    d[i]++;
    d[i + 1] += us;
    if (index > this.top) this.top = index;
  }

  entries(): Record<string, InferResponseStatistics> {
    const out: Record<string, InferResponseStatistics> = {};
    const d = this.data;
    for (let k = 0; k <= this.top; k++) {
      const i = k * RSTRIDE;
      out[String(k)] = {
        compute_infer: duration(d[i], d[i + 1]), compute_output: duration(d[i + 2], d[i + 3]),
        success: duration(d[i + 4], d[i + 5]), fail: duration(d[i + 6], d[i + 7]),
        empty_response: duration(d[i + 8], d[i + 9]), cancel: duration(d[i + 10], d[i + 11]),
      };
    }
    return out;
  }
}

const nsOf = (us: number): number => Math.max(0, Math.round(us * 1000));
const duration = (count: number, us: number): StatisticDuration => ({ count, ns: nsOf(us) });

function batchRow(batchSize: number, d: Float64Array, i: number): InferBatchStatistics {
  const n = d[i];
  return { batch_size: batchSize, compute_input: duration(n, d[i + 1]), compute_infer: duration(n, d[i + 2]), compute_output: duration(n, d[i + 3]) };
}

/** The numbers of one model version that the statistics read (src/metrics' ModelMetrics provides them). */
export interface StatisticsSource {
  readonly success: { readonly value: number };
  readonly failure: Readonly<Record<string, { readonly value: number }>>;
  readonly failureDurationUs: { readonly value: number };
  readonly inferenceCount: { readonly value: number };
  readonly execCount: { readonly value: number; readonly lastMs: number };
  readonly requestDurationUs: { readonly value: number };
  readonly queueDurationUs: { readonly value: number };
  readonly computeInputUs: { readonly value: number };
  readonly computeInferUs: { readonly value: number };
  readonly computeOutputUs: { readonly value: number };
  readonly batchStats: BatchStatsTable;
  readonly responseStats?: ResponseStatsTable;
}

const ZERO: StatisticDuration = Object.freeze({ count: 0, ns: 0 });

/**
 * One model version's statistics now, as Triton computes them from its counters (tritonserver.cc,
 * TRITONSERVER_ServerModelStatistics): `queue` and the three `compute_*` count every successful request (there is no
 * response cache yet, so none is a cache hit) with the batch's compute time counted once per request; `batch_stats`
 * counts each batch once. No source (the version has recorded nothing): every number 0.
 */
export function modelStatisticsOf(name: string, version: string, m: StatisticsSource | undefined): ModelStatistics {
  if (!m) {
    return {
      name, version, last_inference: 0, inference_count: 0, execution_count: 0,
      inference_stats: {
        success: ZERO, fail: ZERO, queue: ZERO, compute_input: ZERO, compute_infer: ZERO, compute_output: ZERO,
        cache_hit: ZERO, cache_miss: ZERO,
      },
      batch_stats: [], response_stats: {}, memory_usage: [],
    };
  }
  const ok = m.success.value;
  let failed = 0;
  for (const c of Object.values(m.failure)) failed += c.value;
  return {
    name,
    version,
    last_inference: Math.floor(m.execCount.lastMs),
    inference_count: m.inferenceCount.value,
    execution_count: m.execCount.value,
    inference_stats: {
      success: duration(ok, m.requestDurationUs.value),
      fail: duration(failed, m.failureDurationUs.value),
      queue: duration(ok, m.queueDurationUs.value),
      compute_input: duration(ok, m.computeInputUs.value),
      compute_infer: duration(ok, m.computeInferUs.value),
      compute_output: duration(ok, m.computeOutputUs.value),
      cache_hit: ZERO,
      cache_miss: ZERO,
    },
    batch_stats: m.batchStats.rows(),
    response_stats: m.responseStats?.entries() ?? {},
    memory_usage: [],
  };
}
