import type { ModelConfig } from '../core/index.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulerModel } from '../scheduler/scheduler.js';
import { type BatchingPolicyName, DEFAULT_MAX_QUEUE_SIZE, createBatchScheduler } from '../scheduler/create-scheduler.js';
import { SequenceScheduler, planSequence } from '../scheduler/sequence/index.js';
import { IterationScheduler } from '../scheduler/iteration/index.js';
import { DecoupledScheduler } from '../scheduler/decoupled-scheduler.js';
import type { InferenceMetrics } from '../metrics/inference-metrics.js';
import { EnsembleScheduler, planEnsemble } from '../pipeline/index.js';
import type { InferenceService } from './service.js';

/** What a scheduler may need of the server besides its own model. */
export interface SchedulerContext {
  /** The server's front door (an ensemble runs its steps as ordinary requests through it). */
  readonly service: InferenceService;
  /** A loaded model's config (version -1 = newest ready), for plans that refer to other models. */
  readonly lookupConfig: (model: string, version: number) => Readonly<ModelConfig> | undefined;
  /** The server's metrics: each scheduler creates its model version's label children at load. */
  readonly metrics?: InferenceMetrics;
  /** Overrides every model's batching policy (benchmarks' baselines); absent = each config's choice. */
  readonly batchingPolicy?: BatchingPolicyName;
  /**
   * The server has one core: CPU instances compute on the core that also handles requests, so the two take turns
   * (AdaptivePolicy's sharedCores). With two or more, a core the batch would use stays idle while the policy waits:
   * on 2 cores the rule raised p50 at 90 % load from 14–32 ms to 66–400 ms (bench/batching-sweep.ts), so it is off.
   */
  readonly singleCore?: boolean;
}

/** Platforms whose models run on other models, with no instances of their own; they load after the others. */
export const COMPOSITE_PLATFORMS: ReadonlySet<string> = new Set(['ensemble']);

/**
 * The one place where a model version's Scheduler is constructed, chosen by platform and config. Batching
 * schedulers (src/scheduler) and the ensemble scheduler (src/pipeline) plug in here.
 */
export function createScheduler(model: SchedulerModel, ctx: SchedulerContext): Scheduler {
  if (model.config.platform === 'ensemble') {
    // Throws EnsembleConfigError, naming the step, when the graph does not hold together.
    const plan = planEnsemble(model.config, (m, v) => ctx.lookupConfig(m, v) ?? 'is not loaded (not in the repository, or it failed to load)');
    return new EnsembleScheduler({
      plan, version: model.version, service: ctx.service, batched: model.config.max_batch_size > 0,
      metrics: ctx.metrics?.forModel(model.model, model.version),
    });
  }
  if (model.config.generation) {
    // Step-wise generative models: iteration-level (or request-level) batching of their steps (docs/generation.md).
    return new IterationScheduler(model, { metrics: ctx.metrics?.forModel(model.model, model.version) });
  }
  if (model.config.model_transaction_policy?.decoupled) {
    // Zero or more responses per request, one request per execution (docs/streaming.md).
    return new DecoupledScheduler(model, { maxQueueSize: DEFAULT_MAX_QUEUE_SIZE, metrics: ctx.metrics?.forModel(model.model, model.version) });
  }
  if (model.config.sequence_batching) {
    // Stateful models: Triton's sequence batcher (docs/sequences.md).
    return new SequenceScheduler(model, {
      plan: planSequence(model.config), maxQueueSize: DEFAULT_MAX_QUEUE_SIZE, metrics: ctx.metrics?.forModel(model.model, model.version),
    });
  }
  // Adaptive / static (Triton's dynamic_batching) / none, from the config: see docs/scheduling.md.
  const onCpu = model.config.instance_group.every((g) => g.kind !== 'KIND_GPU');
  return createBatchScheduler(model, {
    metrics: ctx.metrics?.forModel(model.model, model.version),
    policy: ctx.batchingPolicy,
    sharedCores: onCpu && (ctx.singleCore ?? false),
  });
}
