import type { ModelConfig } from '../core/index.js';
import type { BatchPolicy } from './batch-policy.js';
import type { SchedulerMetrics } from './scheduler-metrics.js';
import type { SchedulerModel } from './scheduler.js';
import { BatchingScheduler } from './batching-scheduler.js';
import { StaticPolicy } from './policies/static-policy.js';
import { AdaptivePolicy } from './policies/adaptive-policy.js';
import { queueConfigOf } from './queue-config.js';
import { warmUpSizes } from './warm-up.js';

/** Which policy batches a model: `none` = one request per execution (the "batching off" baseline). */
export type BatchingPolicyName = 'adaptive' | 'static' | 'none';
export const BATCHING_POLICIES: readonly BatchingPolicyName[] = ['adaptive', 'static', 'none'];

/** Config `parameters` keys the scheduler reads (Triton's free-form model parameters). */
export const PARAM_POLICY = 'batching_policy';
export const PARAM_LATENCY_TARGET = 'batching_latency_target_us';
/** The model's latency SLO: bounds batching, and every request's deadline (docs/overload.md). */
export const PARAM_SLO_TARGET = 'latency_target_us';

/** Requests one model version holds waiting (per priority level and above) when its config sets no bound. */
export const DEFAULT_MAX_QUEUE_SIZE = 1024;

export interface CreateSchedulerOptions {
  /** The model version's metrics (the server passes its InferenceMetrics.forModel). */
  readonly metrics?: SchedulerMetrics;
  /** Overrides the config's choice for every model (e.g. `autoglm serve --batching none` for a baseline run). */
  readonly policy?: BatchingPolicyName;
  /** Requests waiting per model, at most (all priority levels together). */
  readonly maxQueueSize?: number;
  /** Run warm-up batches at load (default true). */
  readonly warmUp?: boolean;
  /** A one-core server: the model computes on the core that handles requests (AdaptivePolicy sharedCores). */
  readonly sharedCores?: boolean;
}

export interface SchedulerPlan {
  readonly policy: BatchingPolicyName;
  readonly maxBatchSize: number;
  readonly latencyTargetUs: number | undefined;
  /** The model's latency SLO (latency_target_us): a deadline for every request (src/server/slo-guard.ts). */
  readonly sloTargetUs: number | undefined;
}

function param(config: Readonly<ModelConfig>, key: string): string | undefined {
  return config.parameters?.[key]?.string_value;
}

/**
 * The policy a config asks for: `parameters { key: "batching_policy" value { string_value: "adaptive" } }` (or
 * "static", "none") wins; otherwise a model with `dynamic_batching { … }` gets Triton's static batcher, a batchable
 * model without it gets the adaptive policy, and a model with max_batch_size 0 is not batched.
 * Throws (at load) on an unknown policy name or a bad latency target.
 */
export function planScheduler(config: Readonly<ModelConfig>, override?: BatchingPolicyName): SchedulerPlan {
  const asked = override ?? param(config, PARAM_POLICY);
  if (asked !== undefined && !BATCHING_POLICIES.includes(asked as BatchingPolicyName)) {
    throw new Error(`parameter ${PARAM_POLICY} must be one of ${BATCHING_POLICIES.join(', ')} (got '${asked}')`);
  }
  // The model's latency SLO (latency_target_us, src/server/slo-guard.ts) bounds batching too unless a batching-only
  // target is given.
  const target = param(config, PARAM_LATENCY_TARGET) ?? param(config, PARAM_SLO_TARGET);
  const latencyTargetUs = target === undefined ? undefined : Number(target);
  if (latencyTargetUs !== undefined && !(Number.isFinite(latencyTargetUs) && latencyTargetUs > 0)) {
    throw new Error(`parameter ${PARAM_LATENCY_TARGET} must be a positive number of microseconds (got '${target}')`);
  }
  let policy: BatchingPolicyName = (asked as BatchingPolicyName | undefined) ?? (config.dynamic_batching ? 'static' : 'adaptive');
  if (config.max_batch_size <= 0) policy = 'none';
  const slo = param(config, PARAM_SLO_TARGET);
  const sloTargetUs = slo === undefined ? undefined : Number(slo);
  if (sloTargetUs !== undefined && !(Number.isFinite(sloTargetUs) && sloTargetUs > 0)) {
    throw new Error(`parameter ${PARAM_SLO_TARGET} must be a positive number of microseconds (got '${slo}')`);
  }
  return { policy, maxBatchSize: config.max_batch_size, latencyTargetUs, sloTargetUs };
}

/**
 * Builds a model version's scheduler from its config (see planScheduler), with its metric children created now.
 * Call `warmUp` on the result (when present) before marking the model ready.
 */
export function createBatchScheduler(model: SchedulerModel, options: CreateSchedulerOptions = {}): BatchingScheduler {
  const config = model.config;
  const plan = planScheduler(config, options.policy);
  const db = config.dynamic_batching;
  // 'none' = one request per execution (a request may still carry several rows when the model batches).
  const batchRows = plan.policy === 'none' ? 1 : config.max_batch_size;
  let policy: BatchPolicy;
  if (plan.policy === 'adaptive') {
    policy = new AdaptivePolicy({
      maxBatchSize: batchRows,
      latencyTargetUs: plan.latencyTargetUs,
      maxQueueDelayUs: db?.max_queue_delay_microseconds,
      preferredBatchSizes: db?.preferred_batch_size,
      sharedCores: options.sharedCores,
    });
  } else {
    policy = new StaticPolicy({
      maxBatchSize: Math.max(1, batchRows),
      maxQueueDelayUs: plan.policy === 'static' ? db?.max_queue_delay_microseconds : 0,
      preferredBatchSizes: plan.policy === 'static' ? db?.preferred_batch_size : [],
    });
  }
  return new BatchingScheduler(model, {
    policy,
    queue: queueConfigOf(db),
    maxBatchSize: config.max_batch_size,
    preserveOrdering: db?.preserve_ordering ?? false,
    maxQueueSize: options.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE,
    latencyBoundUs: plan.sloTargetUs,
    metrics: options.metrics,
    warmUpSizes: options.warmUp === false ? [] : warmUpSizes(batchRows, plan.policy === 'static' ? db?.preferred_batch_size : []),
  });
}
