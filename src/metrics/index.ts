export { MetricsRegistry, Counter, Gauge, Histogram, exponentialBuckets, PROMETHEUS_CONTENT_TYPE } from './registry.js';
export type { CounterChild, GaugeChild, HistogramChild } from './registry.js';
export { InferenceMetrics, ExecutionCounter, type ModelMetrics, type FailureReason } from './inference-metrics.js';
export {
  BatchStatsTable, modelStatisticsOf, type InferBatchStatistics, type InferStatistics, type ModelStatistics,
  type ModelStatisticsResponse, type StatisticDuration,
} from './model-statistics.js';
export { startMetricsServer, type MetricsServer, type ExtraRoutes } from './metrics-server.js';
export { LiveFeed, type LiveFeedOptions, type LiveSnapshot, type LiveTick, type ListedModel, type VersionLive } from './live-feed.js';
export type { ProcessLoad } from './process-load.js';
