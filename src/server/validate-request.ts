import {
  type DataType, type InferenceRequest, type ModelConfig, type RequestLimits, type Tensor,
  InferenceError, dataTypeInfo, fromConfigName, invalidArgument,
} from '../core/index.js';
import { isNoSequence } from '../scheduler/sequence/index.js';

/** One input of a model as requests must send it (compiled once at load, see compileRequestSpec). */
export interface InputSpec {
  readonly name: string;
  readonly datatype: DataType;
  /** Without the batch dimension when the model batches; -1 = any size. */
  readonly dims: readonly number[];
  readonly optional: boolean;
}

/** What validateRequest checks a request against: the model config, pre-digested. */
export interface RequestSpec {
  readonly model: string;
  readonly maxBatchSize: number;
  readonly inputs: ReadonlyMap<string, InputSpec>;
  readonly requiredInputs: readonly string[];
  readonly outputs: ReadonlySet<string>;
  /** The model has sequence_batching: only then may a request name a sequence. */
  readonly sequences: boolean;
}

export function compileRequestSpec(config: Readonly<ModelConfig>): RequestSpec {
  const inputs = new Map<string, InputSpec>();
  for (const i of config.input) {
    const datatype = fromConfigName(i.data_type);
    if (!datatype) throw invalidArgument(`model '${config.name}': input '${i.name}' has unknown data_type ${i.data_type}`);
    inputs.set(i.name, Object.freeze({ name: i.name, datatype, dims: Object.freeze([...i.dims]), optional: i.optional === true }));
  }
  return Object.freeze({
    model: config.name,
    maxBatchSize: config.max_batch_size,
    inputs,
    requiredInputs: Object.freeze(config.input.filter((i) => i.optional !== true).map((i) => i.name)),
    outputs: new Set(config.output.map((o) => o.name)),
    sequences: config.sequence_batching !== undefined,
  });
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Checks the size limits on one tensor's declared shape (frontends call it before allocating). */
export function checkTensorLimits(name: string, shape: readonly number[], limits: RequestLimits): number {
  if (shape.length > limits.maxRank) {
    throw invalidArgument(`input '${name}': rank ${shape.length} exceeds the limit of ${limits.maxRank}`);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalidArgument(`input '${name}': shape ${fmt(shape)} has an invalid dimension ${d}`);
    n *= d;
  }
  if (n > limits.maxTensorElements) {
    throw new InferenceError('PAYLOAD_TOO_LARGE', `input '${name}': ${n} elements exceed the limit of ${limits.maxTensorElements}`);
  }
  return n;
}

function checkShape(t: Tensor, spec: InputSpec, maxBatchSize: number, model: string): void {
  const shape = t.shape;
  const batched = maxBatchSize > 0;
  const expectedRank = spec.dims.length + (batched ? 1 : 0);
  // Formatted only for an error: this runs for every input of every request.
  const expected = (): string => (batched ? `[-1,${spec.dims.join(',')}]` : fmt(spec.dims));
  if (shape.length !== expectedRank) {
    throw invalidArgument(`model '${model}' input '${t.name}': shape ${fmt(shape)} does not match ${expected()} (rank ${shape.length}, expected ${expectedRank})`);
  }
  const offset = batched ? 1 : 0;
  if (batched) {
    const b = shape[0];
    if (b < 1 || b > maxBatchSize) {
      throw invalidArgument(`model '${model}' input '${t.name}': batch size ${b} is outside 1..${maxBatchSize} (max_batch_size)`);
    }
  }
  for (let i = 0; i < spec.dims.length; i++) {
    const want = spec.dims[i];
    if (want !== -1 && shape[i + offset] !== want) {
      throw invalidArgument(`model '${model}' input '${t.name}': shape ${fmt(shape)} does not match ${expected()}`);
    }
  }
}

/** In-process callers build tensors by hand: the storage must be the datatype's typed array (BYTES: Uint8Arrays). */
function checkStorage(t: Tensor, model: string): void {
  const ctor = dataTypeInfo(t.datatype).array;
  const ok = ctor ? t.data instanceof ctor : Array.isArray(t.data) && t.data.every((e) => e instanceof Uint8Array);
  if (!ok) {
    const what = ctor ? ctor.name : 'an array of Uint8Array';
    throw invalidArgument(`model '${model}' input '${t.name}': ${t.datatype} data must be ${what}`);
  }
}

/**
 * Checks a request against its model before it is queued: known and unique input names, every required input,
 * datatypes, shapes (with -1 wildcards and the batch dimension ≤ max_batch_size, the same for every input), data
 * length = product(shape), size limits, and that requested outputs exist. Throws INVALID_ARGUMENT (or
 * PAYLOAD_TOO_LARGE for tensors over the element limit).
 */
export function validateRequest(request: InferenceRequest, spec: RequestSpec, limits: RequestLimits): void {
  const model = spec.model;
  const seen = new Set<string>();
  let batch = -1;
  for (const t of request.inputs) {
    const is = spec.inputs.get(t.name);
    if (!is) {
      throw invalidArgument(`model '${model}' has no input '${t.name}' (inputs: ${[...spec.inputs.keys()].join(', ')})`);
    }
    if (seen.has(t.name)) throw invalidArgument(`input '${t.name}' is given more than once`);
    seen.add(t.name);
    if (t.datatype !== is.datatype) {
      throw invalidArgument(`model '${model}' input '${t.name}': datatype ${t.datatype} does not match ${is.datatype}`);
    }
    const n = checkTensorLimits(t.name, t.shape, limits);
    checkShape(t, is, spec.maxBatchSize, model);
    if (spec.maxBatchSize > 0) {
      if (batch === -1) batch = t.shape[0];
      else if (t.shape[0] !== batch) {
        throw invalidArgument(`model '${model}' input '${t.name}': batch size ${t.shape[0]} differs from the other inputs' ${batch}`);
      }
    }
    checkStorage(t, model);
    if (t.data.length !== n) {
      throw invalidArgument(`model '${model}' input '${t.name}': ${t.data.length} elements given, shape ${fmt(t.shape)} needs ${n}`);
    }
  }
  // As Triton: a model without sequence batching refuses a request that names a sequence, rather than run it
  // without the state it expects. A sequence model checks the flags itself (src/scheduler/sequence).
  if (!spec.sequences && request.parameters && !isNoSequence(request.parameters.sequence_id)) {
    throw invalidArgument(`inference request to model '${model}' must not specify a non-zero or non-empty sequence_id: the model has no sequence_batching`);
  }
  for (const name of spec.requiredInputs) {
    if (!seen.has(name)) throw invalidArgument(`model '${model}': required input '${name}' is missing`);
  }
  if (request.outputs) {
    const asked = new Set<string>();
    for (const o of request.outputs) {
      if (!spec.outputs.has(o.name)) {
        throw invalidArgument(`model '${model}' has no output '${o.name}' (outputs: ${[...spec.outputs].join(', ')})`);
      }
      if (asked.has(o.name)) throw invalidArgument(`output '${o.name}' is requested more than once`);
      asked.add(o.name);
    }
  }
}
