import { type ModelConfig, type Tensor, allocate, dataTypeInfo, fromConfigName } from '../core/index.js';

/** A warm-up request of the config's model_warmup, compiled (src/server/warmup-samples.ts). */
export interface WarmupSample {
  readonly name: string;
  /** Its batch rows (1 for a model that does not batch). */
  readonly rows: number;
  /** Runs on each instance, at least 1. */
  readonly count: number;
  readonly inputs: readonly Tensor[];
}

/**
 * Zero-filled inputs of a batch of `rows` rows, from the config (variable dims as 1), for warming instances up and
 * measuring t(b) before live traffic: BYTES elements are empty. Undefined when an input's datatype is unknown.
 */
export function warmUpInputs(config: Readonly<ModelConfig>, maxBatchSize: number): ((rows: number) => Tensor[]) | undefined {
  const specs: Array<{ name: string; dt: NonNullable<ReturnType<typeof fromConfigName>>; dims: number[] }> = [];
  for (const t of config.input) {
    const dt = fromConfigName(t.data_type);
    if (!dt) return undefined;
    specs.push({ name: t.name, dt, dims: t.dims.map((d) => (d < 0 ? 1 : d)) });
  }
  if (specs.length === 0) return undefined;
  return (rows) => specs.map((s) => {
    const shape = maxBatchSize > 0 ? [rows, ...s.dims] : s.dims;
    let n = 1;
    for (const d of shape) n *= d;
    const data = dataTypeInfo(s.dt).byteSize === 0 ? Array.from({ length: n }, () => new Uint8Array(0)) : allocate(s.dt, n);
    return { name: s.name, datatype: s.dt, shape, data };
  });
}

/** Sizes worth warming: powers of two up to max_batch_size, max_batch_size itself, and the preferred sizes. */
export function warmUpSizes(maxBatchSize: number, preferred: readonly number[] = []): number[] {
  if (maxBatchSize <= 0) return [1];
  const s = new Set<number>();
  for (let b = 1; b <= maxBatchSize; b *= 2) s.add(b);
  s.add(maxBatchSize);
  for (const p of preferred) if (p >= 1 && p <= maxBatchSize) s.add(p);
  return [...s].sort((a, b) => a - b);
}
