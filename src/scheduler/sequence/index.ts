export { SequenceScheduler, type SequenceSchedulerOptions } from './sequence-scheduler.js';
export { planSequence, type SequencePlan } from './sequence-plan.js';
export { isNoSequence, sequenceFlagsOf, type SequenceFlags } from './sequence-flags.js';
