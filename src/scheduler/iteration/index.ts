export { IterationScheduler, type IterationSchedulerOptions, type IterationStats } from './iteration-scheduler.js';
export { generationParamsOf, type GenerationParams } from './generation-request.js';
export { KvSlab } from './kv-slab.js';
export { StepBuffers, type StepRow, MASKED } from './step-inputs.js';
