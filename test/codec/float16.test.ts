import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHalfBits, toHalfBits } from '../../src/frontends/codec/float16.js';

test('every half value survives half → number → half (NaNs stay NaN)', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalfBits(h);
    const back = toHalfBits(v);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(fromHalfBits(back)), h.toString(16));
    else assert.equal(back, h, `0x${h.toString(16)} → ${v} → 0x${back.toString(16)}`);
  }
});

test('known values', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // rounds up to infinity
  assert.equal(toHalfBits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(toHalfBits(2 ** -26), 0x0000); // below half of it: zero
  assert.equal(fromHalfBits(0x3555), 0.333251953125);
});

test('a number converts to the nearest half (ties to even), as a reference search says', () => {
  // Reference: the finite halves on either side of v, compared by distance.
  const finite = Array.from({ length: 0x7c00 }, (_, h) => fromHalfBits(h));
  fc.assert(fc.property(fc.double({ min: 0, max: 65504, noNaN: true }), (v) => {
    let lo = 0;
    let hi = finite.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (finite[mid] <= v) lo = mid;
      else hi = mid;
    }
    const f = Math.fround(v); // toHalfBits rounds through float32 first (double rounding, off only near exact ties)
    const dl = f - finite[lo];
    const dh = finite[hi] - f;
    const want = dl < dh ? lo : dh < dl ? hi : (lo % 2 === 0 ? lo : hi);
    assert.equal(toHalfBits(v), want);
  }), { numRuns: 2000 });
});
