import type { InferenceRequest, Tensor } from '../core/index.js';
import { type ExecuteResult, type ModelInstance, InstanceDiedError } from '../backends/backend.js';
import { BatchBufferPool, concatInputs } from './batch-assembly.js';
import type { Counter } from './scheduler-metrics.js';
import type { WarmupSample } from './warm-up.js';

/** One instance and the buffers its batches' inputs are concatenated into (reused: it runs one batch at a time). */
export interface InstanceSlot {
  readonly instance: ModelInstance;
  readonly buffers: BatchBufferPool;
}

/** What one batch's run on an instance gave. */
export interface BatchRun {
  readonly result: ExecuteResult;
  /** The instance's time for the run that succeeded (µs): what the policy learns t(b) from. */
  readonly computeUs: number;
  /** When it ended (µs, on the pool's clock). */
  readonly endUs: number;
}

/** Whether an instance can run a batch now or soon (READY, or RESTARTING: its run waits for the new worker). */
const canRun = (i: ModelInstance): boolean => i.health === undefined || i.health === 'READY' || i.health === 'RESTARTING';

/** Preference when taking an idle instance: READY, then RESTARTING, then one that cannot run. */
const rankOf = (i: ModelInstance): number => (i.health === undefined || i.health === 'READY' ? 0 : i.health === 'RESTARTING' ? 1 : 2);

/** Warm-ups of all models in the process run one after another (see warmUp). */
let warmUpChain: Promise<void> = Promise.resolve();

/** Warm-up stops starting larger sizes once it has spent this long on one instance. */
const WARM_UP_BUDGET_MS = 1000;

/**
 * A model version's instances, each running one batch at a time: the idle ones (a stack), the batch runs (inputs
 * concatenated into the slot's own buffers, a run retried once when its worker died under it), and warm-up.
 *
 * Ownership: a slot taken with `acquire` belongs to the caller until it gives it back with `release` (after its
 * batch's results are handed out); `execute` never releases it. Warm-up holds every idle slot while it runs.
 */
export class InstancePool {
  /** Instances in all. */
  readonly size: number;
  private readonly all: readonly InstanceSlot[];
  private readonly idle: InstanceSlot[];
  private busy = 0;

  /**
   * @param clock monotonic µs
   * @param retries counts batches run again after their instance's worker died
   */
  constructor(instances: readonly ModelInstance[], private readonly clock: () => number, private readonly retries?: Counter) {
    this.all = instances.map((instance) => ({ instance, buffers: new BatchBufferPool() }));
    this.idle = [...this.all];
    this.size = instances.length;
  }

  /**
   * Instances free to take a batch now (none while warm-up runs). An instance that cannot run (FAILED, UNLOADED:
   * InstanceHealth) is not counted while another instance can — a batch then waits for that one rather than failing
   * on this one; when none can, the idle ones count, so batches fail at once instead of waiting for nothing.
   */
  get idleCount(): number {
    let usable = 0;
    for (const s of this.idle) if (canRun(s.instance)) usable++;
    if (usable > 0 || this.idle.length === 0) return usable;
    return this.all.some((s) => canRun(s.instance)) ? 0 : this.idle.length;
  }

  /** Batches taken with `acquire` and not yet released (warm-up runs are not counted). */
  get running(): number {
    return this.busy;
  }

  /** Takes an idle instance (the caller checked idleCount > 0): a READY one first, then a RESTARTING one (its run waits for its new worker). */
  acquire(): InstanceSlot {
    if (this.idle.length === 0) throw new Error('InstancePool.acquire: no idle instance');
    let best = this.idle.length - 1;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const rank = rankOf(this.idle[i].instance);
      if (rank < rankOf(this.idle[best].instance)) best = i;
      if (rank === 0) break;
    }
    const slot = this.idle[best];
    this.idle[best] = this.idle[this.idle.length - 1];
    this.idle.pop();
    this.busy++;
    return slot;
  }

  /** Gives an acquired instance back. */
  release(slot: InstanceSlot): void {
    this.busy--;
    this.idle.push(slot);
  }

  /** Calls `listener` whenever an instance's health changes (an instance back from FAILED can take the queue). */
  onHealthChange(listener: () => void): void {
    for (const s of this.all) s.instance.onHealthChange?.(listener);
  }

  /**
   * Runs one batch on an acquired slot: the requests' inputs concatenated along dim 0 into the slot's buffers (one
   * request's tensors pass through as they are), then the instance computes `outputNames`. Rejects with the
   * backend's error (or the assembly's INTERNAL / INVALID_ARGUMENT).
   */
  async execute(slot: InstanceSlot, requests: readonly InferenceRequest[], rows: number, outputNames: readonly string[]): Promise<BatchRun> {
    const inputs = concatInputs(requests, rows, slot.buffers);
    let t0 = this.clock();
    let result: ExecuteResult;
    try {
      result = await slot.instance.execute(inputs, outputNames);
    } catch (err) {
      if (!(err instanceof InstanceDiedError)) throw err;
      // The worker died under this batch and is being replaced: run the batch once more (it may not be what
      // killed it), on the new worker. A second death fails the batch.
      this.retries?.inc();
      t0 = this.clock();
      result = await slot.instance.execute(inputs, outputNames);
    }
    const endUs = this.clock();
    return { result, computeUs: endUs - t0, endUs };
  }

  /**
   * Runs a zero-filled batch (`make(rows)`) of each warm-up size on every idle instance before live traffic,
   * smallest first, and reports each one's time to `observe` (the policy learns t(b) from them). The session's first
   * run pays a one-time cost (measured ~1 ms on small models) and is not timed; a new batch size after that costs
   * nothing extra on the CPU provider (docs/scheduling.md), so each size runs once. Sizes past a total budget of
   * WARM_UP_BUDGET_MS per instance are left to live traffic to learn. The instances are not idle meanwhile: batches
   * wait for it in the caller's queue.
   */
  async warmUp(
    sizes: readonly number[], make: (rows: number) => Tensor[], outputNames: readonly string[],
    observe: (rows: number, computeUs: number) => void,
  ): Promise<void> {
    if (sizes.length === 0) return;
    await this.onEveryInstance((instance) => this.warmUpOne(instance, sizes, make, outputNames, observe));
  }

  /**
   * Runs the config's warm-up samples (model_warmup) on every instance, each `count` times, before live traffic; the
   * first failure rejects with the sample's and the instance's names (the version then fails to load). Runs after
   * the first of a sample are reported to `observe`.
   */
  async runSamples(samples: readonly WarmupSample[], outputNames: readonly string[], observe: (rows: number, computeUs: number) => void): Promise<void> {
    if (samples.length === 0) return;
    await this.onEveryInstance(async (instance) => {
      for (const s of samples) {
        for (let i = 0; i < s.count; i++) {
          const t0 = this.clock();
          try {
            await instance.execute(s.inputs, outputNames);
          } catch (err) {
            throw new Error(`warm-up sample '${s.name}' failed on instance '${instance.name}': ${(err as Error).message}`, { cause: err });
          }
          if (i > 0) observe(s.rows, this.clock() - t0);
        }
      }
    });
  }

  /**
   * Holds every idle instance while `work` runs on each. One model warms up at a time in this process: models load
   * concurrently, and timings taken while another model's warm-up shares the cores would teach the policy a wrong
   * curve (seen in the first load sweep).
   */
  private async onEveryInstance(work: (instance: ModelInstance) => Promise<void>): Promise<void> {
    const previous = warmUpChain;
    let release!: () => void;
    warmUpChain = new Promise<void>((r) => { release = r; });
    await previous;
    const slots = this.idle.splice(0);
    try {
      await Promise.all(slots.map((slot) => work(slot.instance)));
    } finally {
      this.idle.push(...slots);
      release();
    }
  }

  private async warmUpOne(
    instance: ModelInstance, sizes: readonly number[], make: (rows: number) => Tensor[], outputNames: readonly string[],
    observe: (rows: number, computeUs: number) => void,
  ): Promise<void> {
    try {
      await instance.execute(make(sizes[0]), outputNames);
      const start = this.clock();
      for (const size of sizes) {
        const t0 = this.clock();
        await instance.execute(make(size), outputNames);
        const t1 = this.clock();
        observe(size, t1 - t0);
        if (t1 - start > WARM_UP_BUDGET_MS * 1000) break;
      }
    } catch {
      // A model that cannot run zeros (or a failing instance) skips warm-up; live errors still surface.
    }
  }
}
