import type { Scheduler } from '../scheduler/scheduler.js';
import { DirectScheduler, type SchedulerModel } from '../scheduler/direct-scheduler.js';

/**
 * The one place where a model version's Scheduler is constructed. Batching schedulers (src/scheduler) and pipeline
 * (ensemble) schedulers (src/pipeline) plug in here, chosen by the model's platform and config.
 */
export function createScheduler(model: SchedulerModel): Scheduler {
  return new DirectScheduler(model);
}
