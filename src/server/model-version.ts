import type { ModelConfig } from '../core/index.js';
import type { ModelInstance } from '../backends/backend.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { type QueueConfig, queueConfigOf } from '../scheduler/queue-config.js';
import type { SloGuard } from './slo-guard.js';
import type { ModelCacheMetrics } from '../metrics/cache-metrics.js';
import type { ModelMetadata, ModelState } from './service.js';
import type { RequestSpec } from './validate-request.js';

/**
 * One version of one model and where it stands in its lifecycle. The state is the single source of truth:
 * `scheduler`, `spec` and `instances` are set exactly while the state is READY or UNLOADING.
 */
export class ModelVersion {
  state: ModelState = 'LOADING';
  /** Why the version is UNAVAILABLE ('' otherwise). */
  reason = '';
  scheduler: Scheduler | undefined;
  spec: RequestSpec | undefined;
  instances: ModelInstance[] = [];
  /** Priority levels, for admission before decode (set with the scheduler). */
  queue: QueueConfig = queueConfigOf(undefined);
  /** The model's latency SLO, when its config declares one. */
  slo: SloGuard | undefined;
  /** Set when its answers are cached (response_cache enabled and the server has a cache): where hits are counted. */
  responseCache: ModelCacheMetrics | undefined;

  constructor(readonly model: string, readonly version: string) {}

  /**
   * The state readiness reports (model ready, server ready, repository index): the lifecycle state, except that a
   * READY version none of whose instances is READY (workers restarting or failed: ModelInstance.health) reports
   * UNAVAILABLE with their reasons, and READY again once one is back. Requests still reach it: its scheduler waits
   * for a restarting instance, and a failed one refuses at once, so none hangs.
   */
  readiness(): { readonly state: ModelState; readonly reason: string } {
    if (this.state !== 'READY' || this.instances.length === 0) return { state: this.state, reason: this.reason };
    const why: string[] = [];
    for (const i of this.instances) {
      const health = i.health ?? 'READY';
      if (health === 'READY') return { state: 'READY', reason: '' };
      why.push(`instance '${i.name}' ${health}: ${i.healthReason ?? ''}`);
    }
    return { state: 'UNAVAILABLE', reason: why.join('; ') };
  }

  fail(reason: string): void {
    this.state = 'UNAVAILABLE';
    this.reason = reason;
    this.scheduler = undefined;
    this.spec = undefined;
    this.instances = [];
    this.slo = undefined;
    this.responseCache = undefined;
  }
}

/** A model known to the server: its folder, its config once parsed, and its versions. */
export class ManagedModel {
  /** The model-level state: UNAVAILABLE when it failed before any version could be tried (bad config). */
  state: ModelState = 'LOADING';
  reason = '';
  /** false after an explicit unload: the model then does not count against server readiness. */
  wanted = true;
  config: Readonly<ModelConfig> | undefined;
  metadata: ModelMetadata | undefined;
  versions = new Map<string, ModelVersion>();

  /** Set when the scan found the model unusable as it is (e.g. the same name in two repositories). */
  scanError: string | undefined;

  constructor(readonly name: string, readonly root: string, readonly modelDir: string) {}

  /** The highest-numbered READY version (per request: no sort, no allocation). */
  newestReady(): ModelVersion | undefined {
    let best: ModelVersion | undefined;
    for (const v of this.versions.values()) {
      if (v.state === 'READY' && (best === undefined || Number(v.version) > Number(best.version))) best = v;
    }
    return best;
  }
}
