/**
 * Runs an ensemble: each request's steps become ordinary requests to the steps' models through the server's
 * `infer`, so every step goes through its model's own queue, batcher and instances. A request holds no thread
 * while it waits, so different requests occupy different stages at the same time; within one request a step
 * starts as soon as the last of its inputs exists (independent branches run side by side).
 *
 * Tensors move between steps by reference (renamed, never copied). Only the steps that lead to the requested
 * outputs run.
 */
import { performance } from 'node:perf_hooks';
import { InferenceError, toInferenceError, type InferenceRequest, type InferenceResponse, type Tensor } from '../core/index.js';
import type { InferenceService } from '../server/service.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { type SchedulerMetrics, failureReasonOf } from '../scheduler/scheduler-metrics.js';
import type { EnsemblePlan, PlanStep } from './ensemble-plan.js';

/** What the ensemble needs of the server: the front door every request uses. */
export type StepRunner = Pick<InferenceService, 'infer'>;

/**
 * The per-model metrics an ensemble records for its own requests (its steps record theirs under their own models):
 * part of what a batching scheduler records, so src/metrics' ModelMetrics provides it too.
 */
export type EnsembleMetrics = Pick<SchedulerMetrics,
  'success' | 'failure' | 'inferenceCount' | 'execCount' | 'requestDurationUs' | 'requestLatencyUs' | 'pending'>;

export interface EnsembleSchedulerOptions {
  readonly plan: EnsemblePlan;
  /** The ensemble's own version (reported in responses). */
  readonly version: string;
  readonly service: StepRunner;
  /** Whether requests carry a batch dimension (the ensemble's max_batch_size > 0), for counting inferences. */
  readonly batched?: boolean;
  readonly metrics?: EnsembleMetrics;
}

/** Per step, the part of a request's work that depends only on which outputs were asked for. */
interface Selection {
  readonly steps: readonly PlanStep[];
  /** Step → the outputs it must return. */
  readonly wanted: ReadonlyMap<PlanStep, readonly { name: string }[]>;
}

export class EnsembleScheduler implements Scheduler {
  private readonly plan: EnsemblePlan;
  private readonly version: string;
  private readonly service: StepRunner;
  /** Selections by requested outputs (`''` = all), computed once per distinct set. */
  private readonly selections = new Map<string, Selection>();
  private readonly metrics: EnsembleMetrics | undefined;
  private readonly batched: boolean;
  private inFlight = 0;
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(o: EnsembleSchedulerOptions) {
    this.plan = o.plan;
    this.version = o.version;
    this.service = o.service;
    this.batched = o.batched ?? false;
    this.metrics = o.metrics;
    if (this.metrics) this.metrics.pending.collect = () => this.inFlight;
  }

  /** Requests admitted and not yet answered (an ensemble keeps no queue of its own: its steps' models do). */
  get pendingCount(): number {
    return this.inFlight;
  }

  enqueue(request: InferenceRequest): Promise<InferenceResponse> {
    if (this.draining) return Promise.reject(new InferenceError('UNAVAILABLE', `ensemble '${this.plan.name}' is unloading`));
    const outputNames = request.outputs?.length ? request.outputs.map((o) => o.name) : this.plan.outputNames;
    let selection: Selection;
    try {
      selection = this.select(outputNames);
    } catch (err) {
      return Promise.reject(err);
    }
    this.inFlight++;
    const t0 = performance.now();
    const m = this.metrics;
    return this.run(request, outputNames, selection).then(
      (response) => {
        if (m) {
          const us = (performance.now() - t0) * 1000;
          m.success.inc();
          m.execCount.inc();
          m.inferenceCount.inc(this.batched ? (request.inputs[0]?.shape[0] ?? 1) : 1);
          m.requestDurationUs.inc(us);
          m.requestLatencyUs.observe(us);
        }
        this.settled();
        return response;
      },
      (err: InferenceError) => {
        m?.failure[failureReasonOf(err.code)].inc();
        this.settled();
        throw err;
      },
    );
  }

  private settled(): void {
    this.inFlight--;
    if (this.draining && this.inFlight === 0) this.drained?.();
  }

  drain(): Promise<void> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /** The steps needed for `outputNames` (walking back from them) and what each must return. */
  private select(outputNames: readonly string[]): Selection {
    const key = outputNames === this.plan.outputNames ? '' : outputNames.join('\0');
    const cached = this.selections.get(key);
    if (cached) return cached;
    const neededTensors = new Set<string>();
    const neededSteps = new Set<PlanStep>();
    const visit = (tensor: string) => {
      if (neededTensors.has(tensor)) return;
      neededTensors.add(tensor);
      const step = this.plan.producer.get(tensor);
      if (!step || neededSteps.has(step)) return;
      neededSteps.add(step);
      for (const b of step.inputs) visit(b.ensembleTensor);
    };
    for (const n of outputNames) {
      if (!this.plan.outputNames.includes(n)) throw new InferenceError('INVALID_ARGUMENT', `ensemble '${this.plan.name}' has no output '${n}'`);
      visit(n);
    }
    const steps = this.plan.steps.filter((s) => neededSteps.has(s));
    const wanted = new Map(steps.map((s) => [s, s.outputs.filter((b) => neededTensors.has(b.ensembleTensor)).map((b) => ({ name: b.modelTensor }))]));
    const selection = { steps, wanted };
    if (this.selections.size < 64) this.selections.set(key, selection);
    return selection;
  }

  private run(request: InferenceRequest, outputNames: readonly string[], sel: Selection): Promise<InferenceResponse> {
    const values = new Map<string, Tensor>();
    for (const t of request.inputs) values.set(t.name, t);
    const missing = new Map<PlanStep, number>();
    for (const s of sel.steps) missing.set(s, new Set(s.inputs.filter((b) => !values.has(b.ensembleTensor)).map((b) => b.ensembleTensor)).size);
    let remaining = sel.steps.length;

    return new Promise<InferenceResponse>((resolve, reject) => {
      let failed = false;
      const finish = () => {
        const outputs = outputNames.map((n) => values.get(n)!);
        resolve({ id: request.id, model: this.plan.name, version: this.version, outputs });
      };
      const start = (step: PlanStep) => {
        const inputs = step.inputs.map((b) => rename(values.get(b.ensembleTensor)!, b.modelTensor));
        let pending: Promise<InferenceResponse>;
        try {
          pending = this.service.infer({
            id: request.id,
            model: step.model,
            version: step.version,
            inputs,
            outputs: sel.wanted.get(step),
            priority: request.priority,
            timeoutUs: request.timeoutUs,
            signal: request.signal,
          });
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending.then(
          (response) => {
            if (failed) return;
            try {
              const byName = new Map(response.outputs.map((t) => [t.name, t]));
              const produced: string[] = [];
              for (const { name } of sel.wanted.get(step)!) {
                const b = step.outputs.find((o) => o.modelTensor === name)!;
                const t = byName.get(name);
                if (!t) throw new InferenceError('INTERNAL', `model '${step.model}' returned no output '${name}'`);
                values.set(b.ensembleTensor, rename(t, b.ensembleTensor));
                produced.push(b.ensembleTensor);
              }
              if (--remaining === 0) {
                finish();
                return;
              }
              for (const tensor of produced) {
                for (const next of this.plan.consumers.get(tensor) ?? []) {
                  const left = missing.get(next);
                  if (left === undefined) continue; // not needed for this request
                  missing.set(next, left - 1);
                  if (left === 1) start(next);
                }
              }
            } catch (err) {
              fail(step, err);
            }
          },
          (err) => fail(step, err),
        );
      };
      /** The first failure settles the request; steps still running finish unobserved, and none starts after. */
      const fail = (step: PlanStep, err: unknown) => {
        if (failed) return;
        failed = true;
        const e = toInferenceError(err);
        reject(new InferenceError(e.code, `ensemble '${this.plan.name}' ${step.label}: ${e.message}`, { cause: err, retryAfterSec: e.retryAfterSec }));
      };
      if (remaining === 0) {
        finish();
        return;
      }
      for (const s of sel.steps) if (missing.get(s) === 0) start(s);
    });
  }
}

function rename(t: Tensor, name: string): Tensor {
  return t.name === name ? t : { name, datatype: t.datatype, shape: t.shape, data: t.data };
}
