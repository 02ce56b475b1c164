import type { BatchDecision, BatchPolicy, QueueState } from '../batch-policy.js';
import { ServiceTimeModel } from '../service-time-model.js';

export interface StaticPolicyOptions {
  readonly maxBatchSize: number;
  /** Triton's preferred_batch_size (any order; sizes > maxBatchSize are ignored). */
  readonly preferredBatchSizes?: readonly number[];
  /** Triton's max_queue_delay_microseconds (0 = never delay). */
  readonly maxQueueDelayUs?: number;
}

/**
 * Triton's dynamic batcher, as its user guide describes it:
 * - a batch of a preferred size that can be formed is formed at once, the largest such;
 * - otherwise the batch is the largest possible (≤ max_batch_size), sent when it is full or when the oldest waiting
 *   request has been delayed max_queue_delay_microseconds (0: at once).
 */
export class StaticPolicy implements BatchPolicy {
  readonly name = 'static';
  private readonly preferred: number[];
  private readonly maxPreferred: number;
  private readonly delayUs: number;
  private readonly times: ServiceTimeModel;

  constructor(private readonly o: StaticPolicyOptions) {
    this.preferred = [...new Set(o.preferredBatchSizes ?? [])].filter((s) => s >= 1 && s <= o.maxBatchSize).sort((a, b) => b - a);
    this.maxPreferred = this.preferred[0] ?? o.maxBatchSize;
    this.delayUs = Math.max(0, o.maxQueueDelayUs ?? 0);
    this.times = new ServiceTimeModel(o.maxBatchSize);
  }

  decide(q: QueueState, nowUs: number): BatchDecision {
    const avail = Math.min(q.queuedRows, this.o.maxBatchSize);
    if (avail >= this.maxPreferred) return { dispatch: this.maxPreferred };
    for (const p of this.preferred) if (p <= avail && p >= q.headRows) return { dispatch: p };
    const due = q.oldestArrivalUs + this.delayUs;
    if (this.delayUs === 0 || nowUs >= due || avail >= this.o.maxBatchSize) return { dispatch: avail };
    return { waitUntil: due };
  }

  observeArrival(): void {}

  observeBatch(rows: number, computeUs: number): void {
    this.times.observe(rows, computeUs);
  }

  predictComputeUs(rows: number): number {
    return this.times.predict(rows);
  }

  backlogBatchRows(): number {
    return this.maxPreferred;
  }
}
