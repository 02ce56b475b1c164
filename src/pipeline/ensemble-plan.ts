/**
 * An ensemble's steps checked as a graph at load time and turned into a plan the scheduler runs without further
 * checks: every tensor has one producer, every step's inputs exist, datatypes and shapes agree along each edge,
 * nothing is computed for nobody, and there is no cycle. Each error names the step (1-based, with its model).
 */
import { fromConfigName, type DataType, type ModelConfig, type TensorConfig } from '../core/index.js';

/** A step's model tensor bound to an ensemble tensor. */
export interface Binding {
  /** The tensor name in the step's model. */
  readonly modelTensor: string;
  /** The tensor name inside the ensemble. */
  readonly ensembleTensor: string;
}

export interface PlanStep {
  /** 0-based position in ensemble_scheduling.step. */
  readonly index: number;
  readonly model: string;
  /** undefined = the model's latest ready version (model_version -1). */
  readonly version: string | undefined;
  readonly inputs: readonly Binding[];
  readonly outputs: readonly Binding[];
  /** `step 2 (ocr_det)`: how errors name it. */
  readonly label: string;
}

export interface EnsemblePlan {
  readonly name: string;
  /** In a topological order: every step comes after the steps it reads from. */
  readonly steps: readonly PlanStep[];
  /** Ensemble tensor → the steps reading it. */
  readonly consumers: ReadonlyMap<string, readonly PlanStep[]>;
  /** Ensemble tensor → the step writing it (ensemble inputs are absent). */
  readonly producer: ReadonlyMap<string, PlanStep>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

/** An ensemble that cannot run as configured. */
export class EnsembleConfigError extends Error {
  constructor(readonly ensemble: string, what: string) {
    super(`ensemble '${ensemble}': ${what}`);
    this.name = 'EnsembleConfigError';
  }
}

/**
 * The config of a step's model version (-1 = latest ready), or why it cannot be used, as the end of a sentence
 * that starts with the model's name: e.g. 'is not in the repository', 'is not ready (UNAVAILABLE: …)'.
 */
export type ModelLookup = (model: string, version: number) => Readonly<ModelConfig> | string;

interface TensorType {
  readonly datatype: DataType;
  /** Full shape as requests carry it: batch dimension (-1) first when the model batches. */
  readonly shape: readonly number[];
  /** Where the type comes from, for messages. */
  readonly origin: string;
}

function typeOf(t: TensorConfig, config: Readonly<ModelConfig>, origin: string): TensorType {
  const datatype = fromConfigName(t.data_type);
  if (!datatype) throw new Error(`${origin}: unknown data_type ${t.data_type}`);
  return { datatype, shape: config.max_batch_size > 0 ? [-1, ...t.dims] : t.dims, origin };
}

const shapeFits = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export function planEnsemble(config: Readonly<ModelConfig>, lookup: ModelLookup): EnsemblePlan {
  const name = config.name;
  const fail = (what: string): never => {
    throw new EnsembleConfigError(name, what);
  };
  const stepsCfg = config.ensemble_scheduling?.step ?? [];
  if (stepsCfg.length === 0) fail('ensemble_scheduling has no steps');

  // Ensemble inputs are tensors the request produces.
  const types = new Map<string, TensorType>();
  const producer = new Map<string, PlanStep>();
  for (const i of config.input) types.set(i.name, typeOf(i, config, `ensemble input '${i.name}'`));

  const steps: PlanStep[] = [];
  const stepConfigs = new Map<PlanStep, Readonly<ModelConfig>>();
  stepsCfg.forEach((s, index) => {
    const label = `step ${index + 1} (${s.model_name})`;
    if (s.model_name === name) fail(`${label} runs the ensemble itself`);
    const found = lookup(s.model_name, s.model_version);
    if (typeof found === 'string') {
      fail(`${label}: model '${s.model_name}'${s.model_version >= 0 ? ` version ${s.model_version}` : ''} ${found}`);
    }
    const m = found as Readonly<ModelConfig>;
    // A step's answer feeds the next steps once; streaming through an ensemble (Triton's decoupled ensembles) is not
    // built, so the load fails here rather than every request at run time.
    if (m.model_transaction_policy?.decoupled) fail(`${label}: '${s.model_name}' is decoupled (model_transaction_policy): an ensemble step must answer exactly once`);
    if (config.max_batch_size > 0 && m.max_batch_size > 0 && m.max_batch_size < config.max_batch_size) {
      fail(`${label}: max_batch_size ${m.max_batch_size} is below the ensemble's ${config.max_batch_size}`);
    }
    const inputs: Binding[] = [];
    for (const [modelTensor, ensembleTensor] of Object.entries(s.input_map)) {
      if (!m.input.some((i) => i.name === modelTensor)) {
        fail(`${label}: input_map names '${modelTensor}', which is not an input of '${s.model_name}' (inputs: ${m.input.map((i) => i.name).join(', ')})`);
      }
      inputs.push({ modelTensor, ensembleTensor });
    }
    for (const i of m.input) {
      if (!i.optional && !(i.name in s.input_map)) fail(`${label}: required input '${i.name}' of '${s.model_name}' is not in input_map`);
    }
    const outputs: Binding[] = [];
    for (const [modelTensor, ensembleTensor] of Object.entries(s.output_map)) {
      const o = m.output.find((x) => x.name === modelTensor);
      if (!o) {
        fail(`${label}: output_map names '${modelTensor}', which is not an output of '${s.model_name}' (outputs: ${m.output.map((x) => x.name).join(', ')})`);
      }
      if (types.has(ensembleTensor)) {
        const other = producer.get(ensembleTensor);
        fail(`${label}: output '${modelTensor}' writes '${ensembleTensor}', which ${other ? `${other.label} also writes` : 'is an ensemble input'}`);
      }
      types.set(ensembleTensor, typeOf(o!, m, `${label} output '${modelTensor}'`));
      outputs.push({ modelTensor, ensembleTensor });
    }
    const step: PlanStep = { index, model: s.model_name, version: s.model_version >= 0 ? String(s.model_version) : undefined, inputs, outputs, label };
    for (const o of outputs) producer.set(o.ensembleTensor, step);
    steps.push(step);
    stepConfigs.set(step, m);
  });

  // Every edge: the tensor exists, and the producer's type fits the consumer's declaration.
  const consumers = new Map<string, PlanStep[]>();
  for (const step of steps) {
    const m = stepConfigs.get(step)!;
    for (const b of step.inputs) {
      const have = types.get(b.ensembleTensor);
      if (!have) fail(`${step.label}: input '${b.modelTensor}' reads '${b.ensembleTensor}', which no step writes and is not an ensemble input`);
      const want = typeOf(m.input.find((i) => i.name === b.modelTensor)!, m, `${step.label} input '${b.modelTensor}'`);
      if (have!.datatype !== want.datatype) {
        fail(`${step.label}: input '${b.modelTensor}' is ${want.datatype} but '${b.ensembleTensor}' (${have!.origin}) is ${have!.datatype}`);
      }
      if (!shapeFits(have!.shape, want.shape)) {
        fail(`${step.label}: input '${b.modelTensor}' has shape ${fmt(want.shape)} but '${b.ensembleTensor}' (${have!.origin}) has ${fmt(have!.shape)}`);
      }
      const list = consumers.get(b.ensembleTensor) ?? [];
      if (!list.includes(step)) list.push(step);
      consumers.set(b.ensembleTensor, list);
    }
  }
  for (const o of config.output) {
    const have = types.get(o.name);
    if (!have || !producer.has(o.name)) fail(`ensemble output '${o.name}' is written by no step`);
    const want = typeOf(o, config, `ensemble output '${o.name}'`);
    if (have!.datatype !== want.datatype || !shapeFits(have!.shape, want.shape)) {
      fail(`ensemble output '${o.name}' is ${want.datatype} ${fmt(want.shape)} but ${have!.origin} gives ${have!.datatype} ${fmt(have!.shape)}`);
    }
  }
  const outputSet = new Set(config.output.map((o) => o.name));
  for (const i of config.input) {
    if (!consumers.has(i.name)) fail(`ensemble input '${i.name}' is read by no step`);
  }
  for (const step of steps) {
    for (const b of step.outputs) {
      if (!consumers.has(b.ensembleTensor) && !outputSet.has(b.ensembleTensor)) {
        fail(`${step.label}: output '${b.modelTensor}' → '${b.ensembleTensor}' is read by no step and is not an ensemble output`);
      }
    }
  }
  return {
    name,
    steps: topologicalOrder(steps, producer, fail),
    consumers,
    producer,
    inputNames: config.input.map((i) => i.name),
    outputNames: config.output.map((o) => o.name),
  };
}

/** Kahn's algorithm over steps; what is left over sits on a cycle. */
function topologicalOrder(steps: PlanStep[], producer: ReadonlyMap<string, PlanStep>, fail: (what: string) => never): PlanStep[] {
  const deps = new Map<PlanStep, Set<PlanStep>>();
  for (const s of steps) {
    deps.set(s, new Set(s.inputs.map((b) => producer.get(b.ensembleTensor)).filter((p): p is PlanStep => p !== undefined)));
  }
  const order: PlanStep[] = [];
  const done = new Set<PlanStep>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const s of steps) {
      if (done.has(s) || ![...deps.get(s)!].every((d) => done.has(d))) continue;
      done.add(s);
      order.push(s);
      progress = true;
    }
  }
  if (order.length < steps.length) {
    // Steps left over either sit on a cycle or wait for one; name those on it (they reach themselves).
    const reaches = (from: PlanStep, target: PlanStep, seen = new Set<PlanStep>()): boolean =>
      [...deps.get(from)!].some((d) => d === target || (!seen.has(d) && (seen.add(d), reaches(d, target, seen))));
    const stuck = steps.filter((s) => !done.has(s) && reaches(s, s));
    fail(`${stuck.map((s) => s.label).join(', ')} form a cycle: each waits for a tensor another one writes`);
  }
  return order;
}
