export { planEnsemble, EnsembleConfigError, type EnsemblePlan, type PlanStep, type Binding, type ModelLookup } from './ensemble-plan.js';
export { EnsembleScheduler, type EnsembleSchedulerOptions, type EnsembleMetrics, type StepRunner } from './ensemble-scheduler.js';
export { ensembleLoadRounds, stepModelNames, type EnsembleUses } from './load-order.js';
