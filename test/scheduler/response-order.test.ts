import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ResponseOrder } from '../../src/scheduler/response-order.js';

test('preserve_ordering: deliveries come out in admission order whatever order they settle in', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), (first, keys) => {
    const order = new ResponseOrder();
    const seqs = keys.map((_, i) => first + i);
    for (const s of seqs) order.admit(s);
    // Settle in a random permutation (sorted by the random keys).
    const settleOrder = seqs.map((s, i) => [keys[i], s] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, s]) => s);
    const delivered: number[] = [];
    for (const s of settleOrder) order.settle(s, () => delivered.push(s));
    assert.deepEqual(delivered, seqs);
  }));
});
