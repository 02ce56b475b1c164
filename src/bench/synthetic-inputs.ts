/**
 * Input tensors for the load: shapes resolved from the model's metadata, --batch-size and --shape; values random,
 * zero, or read from a JSON file. Several distinct random sets are made so that responses can be checked for
 * mix-ups under concurrency (each set's answer must stay the same).
 */
import { readFileSync } from 'node:fs';
import { allocate, dataTypeInfo, elementCount, invalidArgument, seededRandom, type DataType, type Tensor } from '../core/index.js';
import type { RemoteModel, RemoteTensor } from './model-metadata.js';

export interface InputPlan {
  readonly batchSize: number;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  /** 'random' | 'zero' | path to a JSON file. */
  readonly inputData: string;
}

/** Whether the model's first dimension is the batch dimension. */
export function modelBatches(model: RemoteModel): boolean {
  if (model.maxBatchSize !== undefined) return model.maxBatchSize > 0;
  return model.inputs.length > 0 && model.inputs.every((t) => t.shape[0] === -1);
}

/** The concrete shape the client sends for one input. */
export function resolveShape(model: RemoteModel, input: RemoteTensor, plan: InputPlan): number[] {
  const batches = modelBatches(model);
  if (!batches && plan.batchSize > 1) {
    throw invalidArgument(`--batch-size ${plan.batchSize}: model '${model.name}' does not batch (max_batch_size 0)`);
  }
  if (batches && model.maxBatchSize !== undefined && plan.batchSize > model.maxBatchSize) {
    throw invalidArgument(`--batch-size ${plan.batchSize} exceeds model '${model.name}' max_batch_size ${model.maxBatchSize}`);
  }
  const dims = batches ? input.shape.slice(1) : [...input.shape];
  const given = plan.shapes[input.name];
  let resolved: number[];
  if (given) {
    if (given.length !== dims.length) {
      throw invalidArgument(`--shape ${input.name}: rank ${given.length}, the model expects rank ${dims.length} ` +
        `(${JSON.stringify(dims)}${batches ? ', batch dimension excluded' : ''})`);
    }
    given.forEach((d, i) => {
      if (dims[i] !== -1 && dims[i] !== d) {
        throw invalidArgument(`--shape ${input.name}: dimension ${i} is fixed at ${dims[i]} by the model, got ${d}`);
      }
    });
    resolved = [...given];
  } else {
    if (dims.includes(-1)) {
      throw invalidArgument(`input '${input.name}' has a variable dimension ${JSON.stringify(dims)}: ` +
        `give its shape with --shape ${input.name}:${dims.map((d) => (d === -1 ? 'N' : d)).join(',')}`);
    }
    resolved = dims;
  }
  return batches ? [plan.batchSize, ...resolved] : resolved;
}

/** IEEE half bits of a float in [0, 1) (no infinities or NaNs arise from that range). */
function toHalfBits(x: number): number {
  if (x === 0) return 0;
  const f32 = new Float32Array([x]);
  const bits = new Uint32Array(f32.buffer)[0];
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  const mant = (bits >>> 13) & 0x3ff;
  if (exp <= 0) return 0;
  return (exp << 10) | mant;
}

function fill(datatype: DataType, n: number, mode: 'random' | 'zero', seed: number): Tensor['data'] {
  const next = seededRandom(seed);
  if (datatype === 'BYTES') {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      out.push(mode === 'zero' ? new Uint8Array(0) : Buffer.from(Math.floor(next() * 1e12).toString(36)));
    }
    return out;
  }
  const data = allocate(datatype, n);
  if (mode === 'zero') return data;
  for (let i = 0; i < n; i++) {
    const r = next();
    switch (datatype) {
      case 'FP32': case 'FP64': (data as Float32Array)[i] = r; break;
      case 'FP16': (data as Uint16Array)[i] = toHalfBits(r); break;
      case 'BOOL': (data as Uint8Array)[i] = r < 0.5 ? 0 : 1; break;
      case 'INT64': case 'UINT64': (data as BigInt64Array)[i] = BigInt(Math.floor(r * 100)); break;
      default: (data as Uint8Array)[i] = Math.floor(r * 100); // small values fit every integer type
    }
  }
  return data;
}

function flatten(v: unknown, out: unknown[]): void {
  if (Array.isArray(v)) for (const x of v) flatten(x, out);
  else out.push(v);
}

/** Values for one tensor from JSON (numbers, booleans or strings), checked against its element count. */
function fromJson(input: RemoteTensor, shape: number[], values: unknown): Tensor['data'] {
  const flat: unknown[] = [];
  flatten(values, flat);
  const n = elementCount(shape);
  if (flat.length !== n) {
    throw invalidArgument(`--input-data: '${input.name}' has ${flat.length} values, shape ${JSON.stringify(shape)} needs ${n}`);
  }
  const dt = input.datatype;
  if (dt === 'BYTES') return flat.map((v) => Buffer.from(String(v)));
  const data = allocate(dt, n);
  const json = dataTypeInfo(dt).json;
  for (let i = 0; i < n; i++) {
    const v = flat[i];
    if (typeof v !== 'number' && typeof v !== 'boolean') {
      throw invalidArgument(`--input-data: '${input.name}'[${i}] is not a number: ${JSON.stringify(v)}`);
    }
    if (json === 'bigint') (data as BigInt64Array)[i] = BigInt(Math.trunc(Number(v)));
    else if (dt === 'FP16') (data as Uint16Array)[i] = toHalfBits(Number(v));
    else (data as Float32Array)[i] = Number(v);
  }
  return data;
}

/**
 * Reads perf_analyzer's input-data layout `{"data": [{"NAME": values | {"content": values}}...]}` or a plain
 * `{"NAME": values}` object. Returns one record per data set.
 */
function readInputFile(path: string): Record<string, unknown>[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalidArgument(`--input-data: cannot read JSON from '${path}': ${(err as Error).message}`);
  }
  const sets = doc && typeof doc === 'object' && Array.isArray((doc as { data?: unknown }).data)
    ? (doc as { data: unknown[] }).data
    : [doc];
  return sets.map((s, i) => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw invalidArgument(`--input-data: data set ${i} is not an object`);
    return s as Record<string, unknown>;
  });
}

/** Builds `count` input sets (fewer when a file holds fewer). Each set is one request's inputs. */
export function synthesizeInputs(model: RemoteModel, plan: InputPlan, count: number): Tensor[][] {
  if (model.inputs.length === 0) throw invalidArgument(`model '${model.name}' has no inputs`);
  const shapes = model.inputs.map((t) => resolveShape(model, t, plan));
  for (const name of Object.keys(plan.shapes)) {
    if (!model.inputs.some((t) => t.name === name)) {
      throw invalidArgument(`--shape ${name}: model '${model.name}' has no such input (inputs: ${model.inputs.map((t) => t.name).join(', ')})`);
    }
  }
  if (plan.inputData === 'random' || plan.inputData === 'zero') {
    const mode = plan.inputData;
    const sets = mode === 'zero' ? 1 : count;
    return Array.from({ length: sets }, (_, s) =>
      model.inputs.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: shapes[i], data: fill(t.datatype, elementCount(shapes[i]), mode, 1 + s * 7919 + i) })));
  }
  return readInputFile(plan.inputData).slice(0, count).map((set, s) =>
    model.inputs.map((t, i) => {
      let v = set[t.name];
      if (v === undefined) throw invalidArgument(`--input-data: data set ${s} has no value for input '${t.name}'`);
      let shape = shapes[i];
      if (v && typeof v === 'object' && !Array.isArray(v) && 'content' in v) {
        const o = v as { content: unknown; shape?: number[] };
        if (Array.isArray(o.shape)) shape = modelBatches(model) ? [plan.batchSize, ...o.shape] : o.shape;
        v = o.content;
      }
      return { name: t.name, datatype: t.datatype, shape, data: fromJson(t, shape, v) };
    }));
}
