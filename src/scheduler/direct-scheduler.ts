import { InferenceError, type InferenceRequest, type InferenceResponse, type ModelConfig } from '../core/index.js';
import type { ModelInstance } from '../backends/backend.js';
import type { Scheduler } from './scheduler.js';

export interface SchedulerModel {
  readonly model: string;
  readonly version: string;
  readonly config: Readonly<ModelConfig>;
  readonly instances: readonly ModelInstance[];
}

interface Pending {
  readonly request: InferenceRequest;
  readonly resolve: (r: InferenceResponse) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The simplest scheduler: one request per execution, FIFO, each to the first idle instance.
 * The baseline ("batching off") that batching schedulers are measured against.
 */
export class DirectScheduler implements Scheduler {
  private readonly queue: Pending[] = [];
  private readonly idle: ModelInstance[];
  private readonly allOutputs: string[];
  private draining = false;
  private running = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly m: SchedulerModel, private readonly maxQueueSize = 1024) {
    this.idle = [...m.instances];
    this.allOutputs = m.config.output.map((o) => o.name);
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    if (this.draining) return Promise.reject(new InferenceError('UNAVAILABLE', `model '${this.m.model}' is unloading`));
    if (this.queue.length >= this.maxQueueSize) {
      return Promise.reject(new InferenceError('QUEUE_FULL', `queue of model '${this.m.model}' is full`, { retryAfterSec: 1 }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const p = this.queue.shift()!;
      if (p.request.signal?.aborted) {
        p.reject(new InferenceError('CANCELLED', 'client disconnected before the request ran'));
        continue;
      }
      void this.run(this.idle.pop()!, p);
    }
    if (this.draining && this.running === 0 && this.queue.length === 0) this.drained?.();
  }

  private async run(instance: ModelInstance, p: Pending): Promise<void> {
    this.running++;
    const names = p.request.outputs?.length ? p.request.outputs.map((o) => o.name) : this.allOutputs;
    try {
      const result = await instance.execute(p.request.inputs, names);
      p.resolve({ id: p.request.id, model: this.m.model, version: this.m.version, outputs: result.outputs });
    } catch (err) {
      p.reject(err);
    } finally {
      this.running--;
      this.idle.push(instance);
      this.pump();
    }
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }
}
