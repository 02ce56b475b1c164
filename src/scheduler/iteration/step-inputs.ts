import type { Tensor } from '../../core/index.js';
import type { KvSlab } from './kv-slab.js';

/** Additive attention mask: a key a query may not see. Finite, so a fully masked row (padding) gives no NaN. */
export const MASKED = -1e9;

/** One row of a step: its slot, the positions already cached, and its new tokens (prefill: the prompt; decode: 1). */
export interface StepRow {
  readonly slot: number;
  readonly cached: number;
  readonly tokens: ArrayLike<number>;
}

/** Grow-only input buffers of one instance (the instance copies inputs before `execute` returns, so they are reused). */
export class StepBuffers {
  private ids = new BigInt64Array(0);
  private positions = new BigInt64Array(0);
  private mask = new Float32Array(0);
  private past = new Float32Array(0);

  /**
   * The step model's inputs for `rows`: tokens right-padded to the longest row (T), the past to the longest cache (P).
   * Row b's query t sees its cached positions and its own new tokens up to t; padding and other rows' lengths are
   * masked, so a row's numbers do not depend on which rows share its step.
   */
  build(rows: readonly StepRow[], slab: KvSlab): { inputs: Tensor[]; tokens: number; past: number } {
    const B = rows.length;
    let T = 0;
    let P = 0;
    for (const r of rows) {
      if (r.tokens.length > T) T = r.tokens.length;
      if (r.cached > P) P = r.cached;
    }
    const S = P + T;
    const ids = (this.ids = grow(this.ids, B * T, BigInt64Array)).subarray(0, B * T);
    const positions = (this.positions = grow(this.positions, B * T, BigInt64Array)).subarray(0, B * T);
    const mask = (this.mask = grow(this.mask, B * T * S, Float32Array)).subarray(0, B * T * S);
    const past = (this.past = grow(this.past, slab.pastSize(B, P), Float32Array)).subarray(0, slab.pastSize(B, P));
    mask.fill(MASKED);
    for (let b = 0; b < B; b++) {
      const r = rows[b];
      const n = r.tokens.length;
      for (let t = 0; t < T; t++) {
        const real = t < n;
        ids[b * T + t] = BigInt(real ? r.tokens[t] : 0);
        positions[b * T + t] = BigInt(r.cached + (real ? t : 0));
        const row = (b * T + t) * S;
        mask.fill(0, row, row + r.cached);
        // A padding query looks at the row's first new token only (its output is never read).
        mask.fill(0, row + P, row + P + (real ? t + 1 : 1));
      }
    }
    slab.gather(rows.map((r) => r.slot), rows.map((r) => r.cached), P, past);
    const { layers, heads, headDim } = slab.layout;
    return {
      tokens: T,
      past: P,
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [B, T], data: ids },
        { name: 'position_ids', datatype: 'INT64', shape: [B, T], data: positions },
        { name: 'attention_mask', datatype: 'FP32', shape: [B, T, S], data: mask },
        { name: 'past_key_values', datatype: 'FP32', shape: [B, layers, 2, heads, P, headDim], data: past },
      ],
    };
  }
}

function grow<A extends BigInt64Array | Float32Array>(a: A, n: number, C: { new (n: number): A }): A {
  if (a.length >= n) return a;
  let size = Math.max(64, a.length);
  while (size < n) size *= 2;
  return new C(size);
}
