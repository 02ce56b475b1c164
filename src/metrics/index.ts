export { MetricsRegistry, Counter, Gauge, Histogram, exponentialBuckets, PROMETHEUS_CONTENT_TYPE } from './registry.js';
export type { CounterChild, GaugeChild, HistogramChild } from './registry.js';
export { InferenceMetrics, type ModelMetrics, type FailureReason } from './inference-metrics.js';
export { startMetricsServer, type MetricsServer } from './metrics-server.js';
