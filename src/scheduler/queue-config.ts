import type { DynamicBatchingConfig, QueuePolicy } from '../core/index.js';
import type { TimeoutAction } from './request-queue.js';

/** One priority level's queue policy, resolved from the config once at load. */
export interface LevelPolicy {
  readonly timeoutAction: TimeoutAction;
  /** 0 = no timeout. */
  readonly defaultTimeoutUs: number;
  readonly allowTimeoutOverride: boolean;
  /** 0 = no bound (the scheduler's global bound still applies). */
  readonly maxQueueSize: number;
}

/** Priority levels and their policies, as Triton's dynamic_batching defines them. */
export interface QueueConfig {
  /** Index 0 = priority 1 (the highest). At least one level. */
  readonly levels: readonly LevelPolicy[];
  /** 0-based level for requests with priority 0, absent, or past the last level (Triton's rule). */
  readonly defaultLevel: number;
}

/** For models without dynamic_batching (our adaptive default): one level, and request timeouts are honoured. */
const OPEN_POLICY: LevelPolicy = Object.freeze({ timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 });

function level(q: QueuePolicy | undefined): LevelPolicy {
  if (!q) return Object.freeze({ timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 0 });
  return Object.freeze({
    timeoutAction: q.timeout_action,
    defaultTimeoutUs: q.default_timeout_microseconds,
    allowTimeoutOverride: q.allow_timeout_override,
    maxQueueSize: q.max_queue_size,
  });
}

export function queueConfigOf(db: Readonly<DynamicBatchingConfig> | undefined): QueueConfig {
  if (!db) return Object.freeze({ levels: Object.freeze([OPEN_POLICY]), defaultLevel: 0 });
  const n = Math.max(1, db.priority_levels);
  const levels: LevelPolicy[] = [];
  for (let p = 1; p <= n; p++) levels.push(level(db.priority_queue_policy[String(p)] ?? db.default_queue_policy));
  const defaultLevel = db.priority_levels > 0 && db.default_priority_level >= 1 ? db.default_priority_level - 1 : 0;
  return Object.freeze({ levels: Object.freeze(levels), defaultLevel });
}

/** 0-based level of a request's `priority`: 1..levels as given, anything else the default (as Triton does). */
export function levelOf(qc: QueueConfig, priority: number | undefined): number {
  const p = priority;
  return p !== undefined && Number.isInteger(p) && p >= 1 && p <= qc.levels.length ? p - 1 : qc.defaultLevel;
}

/**
 * A request's timeout in µs (0 = none), given its own `timeoutUs`: the level's default, or the request's own when the
 * policy allows overriding — and then only to shorten it (Triton: a request may not raise the default timeout).
 */
export function timeoutOf(lp: LevelPolicy, timeoutUs: number | undefined): number {
  const t = timeoutUs;
  if (!lp.allowTimeoutOverride || t === undefined || !(t > 0)) return lp.defaultTimeoutUs;
  return lp.defaultTimeoutUs > 0 ? Math.min(lp.defaultTimeoutUs, t) : t;
}
