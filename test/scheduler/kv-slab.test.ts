/**
 * KvSlab against a plain model of what it holds (a map slot → position → values), over random operations: gather
 * copies each row's own cached positions of its own slot into the padded step layout, scatter writes a step's new
 * positions at each row's next positions, and slots are handed out once until released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KvSlab } from '../../src/scheduler/iteration/index.js';

const LAYERS = 2, HEADS = 2, DH = 3, MAX = 12, SLOTS = 4;
const SEGMENTS = LAYERS * 2 * HEADS;

test('KvSlab gather/scatter/take/release agree with a plain model', () => {
  fc.assert(fc.property(fc.array(fc.record({ rows: fc.integer({ min: 1, max: SLOTS }), tokens: fc.integer({ min: 1, max: 4 }), release: fc.nat() }), { minLength: 1, maxLength: 30 }), (ops) => {
    const slab = new KvSlab(SLOTS, LAYERS, HEADS, MAX, DH);
    // model[slot][segment][position] = DH values
    const model = new Map<number, number[][][]>();
    const lengths = new Map<number, number>();
    let stamp = 1;
    for (const op of ops) {
      while (slab.freeSlots > 0 && lengths.size < op.rows) {
        const slot = slab.take();
        assert.ok(!lengths.has(slot), `slot ${slot} handed out twice`);
        lengths.set(slot, 0);
        model.set(slot, Array.from({ length: SEGMENTS }, () => []));
      }
      const slots = [...lengths.keys()].filter((s) => lengths.get(s)! + op.tokens <= MAX);
      if (slots.length === 0) continue;
      // gather: the padded past of these rows, each row's own positions of its own slot.
      const past = Math.max(...slots.map((s) => lengths.get(s)!));
      const out = new Float32Array(slab.pastSize(slots.length, past)).fill(NaN);
      slab.gather(slots, slots.map((s) => lengths.get(s)!), past, out);
      slots.forEach((s, b) => {
        for (let g = 0; g < SEGMENTS; g++) {
          for (let p = 0; p < lengths.get(s)!; p++) {
            for (let d = 0; d < DH; d++) assert.equal(out[((b * SEGMENTS + g) * past + p) * DH + d], model.get(s)![g][p][d]);
          }
        }
      });
      // scatter: op.tokens new positions per row (the first `counts[b]` of them are real).
      const counts = slots.map((_, b) => 1 + ((b + op.tokens) % op.tokens));
      const present = new Float32Array(slots.length * SEGMENTS * op.tokens * DH);
      for (let i = 0; i < present.length; i++) present[i] = stamp++;
      slab.scatter(present, op.tokens, slots, slots.map((s) => lengths.get(s)!), counts);
      slots.forEach((s, b) => {
        for (let g = 0; g < SEGMENTS; g++) {
          for (let t = 0; t < counts[b]; t++) {
            const at = ((b * SEGMENTS + g) * op.tokens + t) * DH;
            model.get(s)![g][lengths.get(s)! + t] = [...present.subarray(at, at + DH)];
          }
        }
        lengths.set(s, lengths.get(s)! + counts[b]);
      });
      // release one slot now and then
      const held = [...lengths.keys()];
      if (op.release % 3 === 0 && held.length > 0) {
        const s = held[op.release % held.length];
        slab.release(s);
        lengths.delete(s);
        model.delete(s);
      }
    }
  }), { numRuns: 200 });
});
