/**
 * The key/value cache of one instance's active sequences: one preallocated slab, one slot (row) per sequence.
 *
 *   slab: [slots, layers, 2, heads, maxLength, headDim]   (2: key, value)
 *
 * A step's `past_key_values` [rows, layers, 2, heads, past, headDim] is gathered from the slots of the step's rows
 * (only each row's own cached positions are copied: the rest of a row is masked), and the step's `present_key_values`
 * [rows, layers, 2, heads, tokens, headDim] is scattered into the slots at each row's next positions. The copy is
 * what a step costs on the main thread besides the worker hop (measured: bench/generation.ts prints it per step).
 */
export class KvSlab {
  readonly data: Float32Array;
  /** Segments of one slot: layers × 2 × heads, each maxLength × headDim floats. */
  private readonly segments: number;
  private readonly segment: number;
  private readonly free: number[];

  readonly layout: { readonly layers: number; readonly heads: number; readonly headDim: number };

  constructor(readonly slots: number, layers: number, heads: number, readonly maxLength: number, readonly headDim: number) {
    this.layout = { layers, heads, headDim };
    this.segments = layers * 2 * heads;
    this.segment = maxLength * headDim;
    this.data = new Float32Array(slots * this.segments * this.segment);
    // Lowest slot first (a stack popped from the end).
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  get freeSlots(): number {
    return this.free.length;
  }

  /** A free slot; the caller checked freeSlots > 0. */
  take(): number {
    return this.free.pop()!;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  /** Floats of a step's past tensor for `rows` rows of `past` positions. */
  pastSize(rows: number, past: number): number {
    return rows * this.segments * past * this.headDim;
  }

  /** Copies each row's first `lengths[b]` positions of slot `slots[b]` into `out` ([rows, …, past, headDim]). */
  gather(slots: readonly number[], lengths: readonly number[], past: number, out: Float32Array): void {
    const dh = this.headDim;
    for (let b = 0; b < slots.length; b++) {
      const n = lengths[b] * dh;
      if (n === 0) continue;
      let from = slots[b] * this.segments * this.segment;
      let to = b * this.segments * past * dh;
      for (let s = 0; s < this.segments; s++, from += this.segment, to += past * dh) out.set(this.data.subarray(from, from + n), to);
    }
  }

  /** Writes row b's first `counts[b]` new positions of `present` ([rows, …, tokens, headDim]) at `starts[b]` of its slot. */
  scatter(present: Float32Array, tokens: number, slots: readonly number[], starts: readonly number[], counts: readonly number[]): void {
    const dh = this.headDim;
    for (let b = 0; b < slots.length; b++) {
      const n = counts[b] * dh;
      let from = b * this.segments * tokens * dh;
      let to = slots[b] * this.segments * this.segment + starts[b] * dh;
      for (let s = 0; s < this.segments; s++, from += tokens * dh, to += this.segment) this.data.set(present.subarray(from, from + n), to);
    }
  }
}
