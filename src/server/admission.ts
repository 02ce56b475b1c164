import { InferenceError, type RequestLimits } from '../core/index.js';
import type { QueueConfig } from '../scheduler/queue-config.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { SloGuard } from './slo-guard.js';
import type { AdmissionProbe } from './service.js';

/** What admission needs of a READY model version. */
export interface AdmittedVersion {
  readonly model: string;
  readonly scheduler: Scheduler | undefined;
  readonly queue: QueueConfig;
  readonly slo: SloGuard | undefined;
}

/** 0-based priority level, as the scheduler maps it: priority 1..levels as given, anything else the default. */
export function levelOfPriority(q: QueueConfig, priority: number | undefined): number {
  return priority !== undefined && Number.isInteger(priority) && priority >= 1 && priority <= q.levels.length ? priority - 1 : q.defaultLevel;
}

/**
 * Admission before the expensive work (docs/overload.md): the server-wide bound on infer requests in progress, the
 * model's SLO shedding, and the scheduler's own prediction (queue bounds, predicted wait past the request's deadline
 * or past the model's latency target). Frontends ask before decoding tensors (`InferenceService.admit`); `infer`
 * asks again, for in-process callers and bodies whose priority came after their tensors.
 */
export class Admission {
  /** Infer requests between admission and their answer. */
  inProgress = 0;

  constructor(private readonly limits: Pick<RequestLimits, 'maxInflightRequests'>) {}

  /** The server-wide refusal, if any. */
  serverRefusal(): InferenceError | undefined {
    if (this.inProgress < this.limits.maxInflightRequests) return undefined;
    return new InferenceError('UNAVAILABLE',
      `the server has ${this.inProgress} requests in progress (--max-inflight-requests ${this.limits.maxInflightRequests})`, { retryAfterSec: 1 });
  }

  /**
   * The model version's refusal before decode, if any: SLO shedding, then the scheduler's prediction (which its
   * `enqueue` repeats on the exact queue, so `infer` asks only for shedding).
   */
  versionRefusal(v: AdmittedVersion, p: AdmissionProbe, nowUs: number): InferenceError | undefined {
    return this.shedRefusal(v, p.priority, nowUs) ?? v.scheduler?.probe?.({
      priority: p.priority, timeoutUs: p.timeoutUs, receivedUs: p.receivedUs, rows: p.rows,
    });
  }

  /** The refusal of a request whose priority level the model's SLO guard sheds now (counted by the guard). */
  shedRefusal(v: AdmittedVersion, priority: number | undefined, nowUs: number): InferenceError | undefined {
    const slo = v.slo;
    if (!slo || !slo.sheds(levelOfPriority(v.queue, priority), nowUs)) return undefined;
    return new InferenceError('QUEUE_FULL', `model '${v.model}' is shedding priority ${priority ?? 'default'} requests: its p99 ` +
      `${(slo.state.observedP99Us / 1000).toFixed(1)} ms is over its latency target ${(slo.targetUs / 1000).toFixed(1)} ms`, { retryAfterSec: 1 });
  }
}
