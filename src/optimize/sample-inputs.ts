/**
 * Inputs to compare a model before and after on: random values of each input's type and declared shape, or real
 * requests from a folder (`--samples DIR`: one KServe v2 JSON request body per .json file).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { seededRandom } from '../core/index.js';
import { ONNX, type OnnxValueInfo } from '../onnx-proto/index.js';

export type Feeds = Record<string, ort.Tensor>;

export interface ShapePlan {
  /** Values for symbolic dimensions by name (or by `input:index`); the first dimension otherwise is the batch. */
  readonly dims: ReadonlyMap<string, number>;
  /** Dimensions not named in `dims` and not the batch take this. */
  readonly defaultDim: number;
  /** Value range per FLOAT/DOUBLE input (observed in --samples); [-1, 1) where absent. */
  readonly ranges?: ReadonlyMap<string, readonly [number, number]>;
}

/**
 * The shape plan real samples imply: each input's non-batch dynamic dimensions as the first sample has them, and
 * each numeric input's observed [min, max], so timing runs on inputs like the real ones.
 */
export function planFromSamples(inputs: readonly OnnxValueInfo[], samples: readonly Feeds[], base: ShapePlan): ShapePlan {
  const dims = new Map(base.dims);
  const ranges = new Map<string, [number, number]>();
  for (const input of inputs) {
    const first = samples[0][input.name];
    if (!first) throw new Error(`--samples: the first sample has no input '${input.name}'`);
    first.dims.forEach((d, i) => {
      if (i > 0 && !dims.has(`${input.name}:${i}`)) dims.set(`${input.name}:${i}`, d);
    });
    if (first.type !== 'float32' && first.type !== 'float64') continue;
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of samples) {
      const data = (s[input.name]?.data ?? []) as ArrayLike<number>;
      for (let i = 0; i < data.length; i++) {
        if (data[i] < lo) lo = data[i];
        if (data[i] > hi) hi = data[i];
      }
    }
    if (lo <= hi) ranges.set(input.name, [lo, hi]);
  }
  return { ...base, dims, ranges };
}

/** Whether every input's first dimension is dynamic, so rows can be stacked into batches. */
export function isBatchable(inputs: readonly OnnxValueInfo[]): boolean {
  return inputs.length > 0 && inputs.every((i) => i.dims !== undefined && i.dims.length > 0 && typeof i.dims[0] !== 'number');
}

export function concreteShape(input: OnnxValueInfo, batch: number, plan: ShapePlan, batchable: boolean): number[] {
  if (!input.dims) throw new Error(`input '${input.name}' has no declared shape: give real inputs with --samples`);
  return input.dims.map((d, i) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (i === 0 && batchable) return batch;
    return plan.dims.get(`${input.name}:${i}`) ?? (typeof d === 'string' ? plan.dims.get(d) : undefined) ?? plan.defaultDim;
  });
}

/** Random feeds: FLOAT in the plan's range for the input or [-1, 1), integers in [0, 16), BOOL either. */
export function randomFeeds(inputs: readonly OnnxValueInfo[], batch: number, plan: ShapePlan, seed: number): Feeds {
  const next = seededRandom(seed);
  const batchable = isBatchable(inputs);
  const feeds: Feeds = {};
  for (const input of inputs) {
    const shape = concreteShape(input, batch, plan, batchable);
    const n = shape.reduce((a, b) => a * b, 1);
    const [lo, hi] = plan.ranges?.get(input.name) ?? [-1, 1];
    switch (input.elemType) {
      case ONNX.FLOAT: feeds[input.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => lo + next() * (hi - lo)), shape); break;
      case ONNX.DOUBLE: feeds[input.name] = new ort.Tensor('float64', Float64Array.from({ length: n }, () => lo + next() * (hi - lo)), shape); break;
      case ONNX.INT64: feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(next() * 16))), shape); break;
      case ONNX.INT32: feeds[input.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(next() * 16)), shape); break;
      case ONNX.BOOL: feeds[input.name] = new ort.Tensor('bool', Uint8Array.from({ length: n }, () => (next() < 0.5 ? 1 : 0)), shape); break;
      case ONNX.UINT8: feeds[input.name] = new ort.Tensor('uint8', Uint8Array.from({ length: n }, () => Math.floor(next() * 256)), shape); break;
      default: throw new Error(`input '${input.name}': random values of ONNX type ${input.elemType} are not generated here; give --samples`);
    }
  }
  return feeds;
}

const ORT_TYPE_OF_V2: Readonly<Record<string, ort.Tensor.Type>> = {
  FP32: 'float32', FP64: 'float64', INT64: 'int64', INT32: 'int32', INT16: 'int16', INT8: 'int8', UINT8: 'uint8',
  UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', BOOL: 'bool',
};

interface V2Input { name: string; datatype: string; shape: number[]; data: unknown[] }

/** Reads every *.json in `dir` as a KServe v2 inference request (JSON data, flattened or nested). */
export function samplesFromDir(dir: string): Feeds[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`--samples ${dir}: no .json request files there`);
  return files.map((f) => {
    const path = join(dir, f);
    let body: { inputs?: V2Input[] };
    try {
      body = JSON.parse(readFileSync(path, 'utf8')) as { inputs?: V2Input[] };
    } catch (err) {
      throw new Error(`${path}: not JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(body.inputs)) throw new Error(`${path}: no "inputs" array (a KServe v2 request body is expected)`);
    const feeds: Feeds = {};
    for (const i of body.inputs) {
      const type = ORT_TYPE_OF_V2[i.datatype];
      if (!type) throw new Error(`${path}: input '${i.name}': datatype ${i.datatype} is not supported in samples`);
      const flat = (i.data as unknown[]).flat(Infinity) as (number | boolean)[];
      const values = type === 'int64' || type === 'uint64' ? flat.map((v) => BigInt(v as number)) : flat.map(Number);
      feeds[i.name] = new ort.Tensor(type, values as never, i.shape);
    }
    return feeds;
  });
}
