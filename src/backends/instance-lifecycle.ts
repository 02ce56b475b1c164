/**
 * What every worker-backed instance (ONNX, JS) shares about staying alive: its health (InstanceHealth), the
 * replacement of a worker that died, and the bound on how often that may happen. The instance keeps what is its
 * own (how to start a worker, how to talk to it); this decides when a new one starts and what callers hear.
 *
 *   READY ──worker died──► RESTARTING ──new worker ready──► READY
 *     │  (budget spent)        │ (its start failed and the budget is spent)
 *     └──────────► FAILED ◄────┘ ──once the budget allows again──► RESTARTING
 *   any ──unload──► UNLOADED
 *
 * The budget: at most MAX_RESTARTS deaths within RESTART_WINDOW_MS (a start that fails counts as a death). Past it
 * the instance is FAILED: calls are refused at once (a crash loop must not hold requests, nor spin the CPU), and
 * one more try is made when the oldest death leaves the window, so a burst of poison inputs does not take the
 * model down until someone reloads it.
 */
import { performance } from 'node:perf_hooks';
import { type InferenceError, unavailable } from '../core/index.js';
import { type InstanceHealth, InstanceDiedError } from './backend.js';

/** A worker that dies more often than this within the window is not restarted at once (a crash loop). */
export const MAX_RESTARTS = 3;
export const RESTART_WINDOW_MS = 60_000;

/** Deaths within a sliding window; a restart is allowed while they number at most `max`. Times in ms. */
export class RestartBudget {
  /** Times of the deaths still inside the window, oldest first (at most max + 1 of them: older ones drop out). */
  private deaths: number[] = [];

  constructor(readonly max = MAX_RESTARTS, readonly windowMs = RESTART_WINDOW_MS) {}

  /** Records a death at `now`; true when a restart is allowed. */
  record(now: number): boolean {
    this.deaths = this.deaths.filter((t) => now - t < this.windowMs);
    this.deaths.push(now);
    if (this.deaths.length > this.max + 1) this.deaths.shift();
    return this.deaths.length <= this.max;
  }

  /** Deaths recorded within the window that ends at the last one. */
  get recent(): number {
    return this.deaths.length;
  }

  /** When a restart is allowed again: once only `max` of the deaths are still inside the window. */
  nextAllowedAt(): number {
    return this.deaths.length <= this.max ? -Infinity : this.deaths[0] + this.windowMs;
  }
}

/** How an instance gets a worker; the lifecycle calls these, never the instance's other code. */
export interface WorkerSource<W> {
  /** Starts a new worker and resolves once it can run a batch; rejects saying why it cannot. */
  start(): Promise<W>;
  /** From now on `w` is the instance's worker (called only while the instance still wants it). */
  adopt(w: W): void;
  /** Ends a worker that finished starting after the instance was unloaded. */
  discard(w: W): Promise<unknown>;
}

export interface LifecycleClock {
  /** ms, monotonic */
  now(): number;
  /** Calls `fn` after `ms` without keeping the process alive; returns a cancel function. */
  later(fn: () => void, ms: number): () => void;
}

const realClock: LifecycleClock = {
  now: () => performance.now(),
  later(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export class InstanceLifecycle<W> {
  private state: InstanceHealth = 'READY';
  private why = '';
  private readonly budget: RestartBudget;
  /** Settles (never rejects) when the restart in progress has ended, whatever its outcome. */
  private restarting: Promise<void> | undefined;
  private cancelRetry: (() => void) | undefined;
  private listeners: Array<(h: InstanceHealth) => void> = [];
  /** Calls waiting for a restart: settled on the next READY (resolved) or FAILED/UNLOADED (rejected). */
  private waiters: Array<{ resolve: () => void; reject: (err: InferenceError) => void }> = [];

  /** `label` names the instance in messages, e.g. `model 'mlp' instance 'mlp_0_0'`. */
  constructor(
    private readonly label: string,
    private readonly workers: WorkerSource<W>,
    private readonly clock: LifecycleClock = realClock,
    budget?: RestartBudget,
  ) {
    this.budget = budget ?? new RestartBudget();
  }

  get health(): InstanceHealth {
    return this.state;
  }

  /** Why the instance is not READY ('' while it is). */
  get reason(): string {
    return this.why;
  }

  onChange(listener: (h: InstanceHealth) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => { this.listeners = this.listeners.filter((l) => l !== listener); };
  }

  /**
   * Whether a call may run now: undefined when READY (run now, synchronously); otherwise a promise that resolves
   * once the instance is READY again (RESTARTING) or rejects UNAVAILABLE saying why it cannot run (FAILED,
   * UNLOADED, or a restart that ended FAILED).
   */
  ready(): Promise<void> | undefined {
    if (this.state === 'READY') return undefined;
    if (this.state === 'RESTARTING') return new Promise((resolve, reject) => { this.waiters.push({ resolve, reject }); });
    return Promise.reject(this.refusal());
  }

  /**
   * The instance's worker died (`reason`: how, e.g. "its worker exited (code 3)"). Starts its replacement unless
   * the budget is spent or the instance is unloaded. Returns the error the run in flight (if any) rejects with:
   * InstanceDiedError while a replacement starts (the run may be retried), UNAVAILABLE otherwise.
   */
  died(reason: string): InferenceError {
    if (this.state === 'UNLOADED') return unavailable(`${this.label} was unloaded`);
    if (this.state !== 'READY') return this.refusal();
    if (!this.budget.record(this.clock.now())) {
      this.fail(reason);
      return this.refusal();
    }
    this.restart(reason);
    return new InstanceDiedError(`${this.label}: ${reason}; a new worker is starting`);
  }

  /**
   * Marks the instance UNLOADED (no more restarts; calls waiting for a restart are refused) and resolves once a
   * replacement that was starting has settled (a worker it started is discarded).
   */
  unload(): Promise<void> {
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    this.set('UNLOADED', 'unloaded');
    return this.restarting ?? Promise.resolve();
  }

  private restart(reason: string): void {
    const from = this.state;
    this.state = 'RESTARTING';
    this.why = `${reason}; a new worker is starting`;
    const p = this.replace(reason);
    this.restarting = p;
    void p.finally(() => { if (this.restarting === p) this.restarting = undefined; });
    // Listeners hear of it only now: one that calls execute at once must find the restart to wait for.
    if (from !== 'RESTARTING') this.emit();
  }

  private async replace(reason: string): Promise<void> {
    for (;;) {
      let w: W;
      try {
        w = await this.workers.start();
      } catch (err) {
        if (this.state !== 'RESTARTING') return;
        const why = `${reason}; its replacement failed to start: ${err instanceof Error ? err.message : String(err)}`;
        if (this.budget.record(this.clock.now())) continue;
        this.fail(why);
        return;
      }
      if (this.state !== 'RESTARTING') {
        await this.workers.discard(w); // unloaded meanwhile
        return;
      }
      this.workers.adopt(w);
      this.set('READY', '');
      return;
    }
  }

  /** Over budget: refuse calls until the budget allows one more try. */
  private fail(reason: string): void {
    const delayMs = Math.max(0, this.budget.nextAllowedAt() - this.clock.now());
    const at = new Date(Date.now() + delayMs).toISOString();
    this.set('FAILED', `${reason}; not restarted: it died ${this.budget.recent} times within ${this.budget.windowMs / 1000} s ` +
      `(${this.budget.max} restarts allowed); next try at ${at}`);
    this.cancelRetry = this.clock.later(() => {
      this.cancelRetry = undefined;
      if (this.state === 'FAILED') this.restart(reason);
    }, delayMs);
  }

  private set(state: InstanceHealth, why: string): void {
    const changed = state !== this.state;
    this.state = state;
    this.why = why;
    if (changed) this.emit();
  }

  private refusal(): InferenceError {
    return unavailable(`${this.label} is unavailable: ${this.why}`);
  }

  private emit(): void {
    const state = this.state;
    if (state !== 'RESTARTING' && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      const err = state === 'READY' ? undefined : this.refusal();
      for (const w of waiters) if (err) w.reject(err); else w.resolve();
    }
    for (const l of this.listeners) l(state);
  }
}
