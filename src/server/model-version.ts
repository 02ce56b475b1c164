import type { ModelConfig } from '../core/index.js';
import type { ModelInstance } from '../backends/backend.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { type QueueConfig, queueConfigOf } from '../scheduler/queue-config.js';
import type { SloGuard } from './slo-guard.js';
import type { ModelCacheMetrics } from '../metrics/cache-metrics.js';
import type { ModelMetadata, ModelState } from './service.js';
import type { RequestSpec } from './validate-request.js';
import type { TrafficSplit } from './traffic-split.js';

/**
 * One version of one model and where it stands in its lifecycle. The state is the single source of truth:
 * `scheduler`, `spec` and `instances` are set exactly while the state is READY or UNLOADING. Its transitions
 * (LOADING → READY → UNLOADING → UNAVAILABLE, or LOADING → UNAVAILABLE) are made by ModelLifecycle alone.
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

/**
 * A model known to the server: its folder, its config once parsed, its versions and how requests without a version
 * are routed among them. Owned by ModelLifecycle: a reload builds a new ManagedModel beside this one and swaps it in.
 */
export class ManagedModel {
  /** The model-level state: UNAVAILABLE when it failed before any version could be tried (bad config). */
  state: ModelState = 'LOADING';
  reason = '';
  /** false when the model is not to be served (explicit unload, or not loaded in explicit mode): not counted by readiness. */
  wanted = true;
  config: Readonly<ModelConfig> | undefined;
  metadata: ModelMetadata | undefined;
  versions = new Map<string, ModelVersion>();
  /** The config's version_traffic split, when it has one (requests without a version are routed by it). */
  traffic: TrafficSplit | undefined;
  /** The folder's fingerprint when this copy was loaded (poll mode reloads when it changes). */
  fingerprint = '';
  /** Why the last reload of this model failed while this copy kept serving ('' when it did not). */
  reloadError = '';
  /** Poll mode: the folder's fingerprint when a change was last tried (a failed change is not retried until it moves). */
  attemptedFingerprint = '';

  /** Set when the scan found the model unusable as it is (e.g. the same name in two repositories). */
  scanError: string | undefined;

  constructor(readonly name: string, readonly root: string, readonly modelDir: string) {}

  /**
   * The version a request without one goes to: by the traffic split when the config has one (the id pins it), else
   * the newest READY one.
   */
  route(requestId: string | undefined): ModelVersion | undefined {
    if (this.traffic) {
      const picked = this.traffic.pick(requestId, (ver) => this.versions.get(ver)?.state === 'READY');
      if (picked !== undefined) return this.versions.get(picked);
    }
    return this.newestReady();
  }

  /** The highest-numbered READY version (per request: no sort, no allocation). */
  newestReady(): ModelVersion | undefined {
    let best: ModelVersion | undefined;
    for (const v of this.versions.values()) {
      if (v.state === 'READY' && (best === undefined || Number(v.version) > Number(best.version))) best = v;
    }
    return best;
  }
}
