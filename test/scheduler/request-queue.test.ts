import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RequestQueue, Visit, type QueueEntry } from '../../src/scheduler/request-queue.js';
import { RingBuffer } from '../../src/scheduler/ring-buffer.js';

interface E extends QueueEntry { readonly id: number }

function entry(id: number, level: number, deadlineUs: number, action: 'REJECT' | 'DELAY', rows = 1): E {
  return { id, seq: id, rows, level, arrivalUs: id, deadlineUs, timeoutAction: action, heapIndex: -1, where: 'out' };
}

/** The reference: a plain list, ordered by sorting on every read. */
class Reference {
  main: E[] = [];
  delayed: E[][] = [];
  constructor(levels: number) {
    for (let i = 0; i < levels; i++) this.delayed.push([]);
  }
  order(): E[] {
    const out: E[] = [];
    for (let l = 0; l < this.delayed.length; l++) {
      out.push(...this.main.filter((e) => e.level === l).sort((a, b) => a.deadlineUs - b.deadlineUs || a.seq - b.seq));
      out.push(...this.delayed[l]);
    }
    return out;
  }
  remove(e: E): void {
    this.main = this.main.filter((x) => x !== e);
    for (let l = 0; l < this.delayed.length; l++) this.delayed[l] = this.delayed[l].filter((x) => x !== e);
  }
  expire(limit: number): E[] {
    const rejected: E[] = [];
    for (const e of [...this.main].sort((a, b) => a.deadlineUs - b.deadlineUs || a.seq - b.seq)) {
      if (e.deadlineUs > limit) continue;
      this.main = this.main.filter((x) => x !== e);
      if (e.timeoutAction === 'DELAY') this.delayed[e.level].push(e);
      else rejected.push(e);
    }
    return rejected;
  }
}

type Op =
  | { k: 'push'; level: number; deadline: number; delay: boolean }
  | { k: 'remove'; pick: number }
  | { k: 'expire'; limit: number }
  | { k: 'take'; skipEvery: number; max: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('push' as const), level: fc.nat(2), deadline: fc.oneof(fc.constant(Infinity), fc.nat(100)), delay: fc.boolean() }),
  fc.record({ k: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ k: fc.constant('expire' as const), limit: fc.nat(100) }),
  fc.record({ k: fc.constant('take' as const), skipEvery: fc.integer({ min: 0, max: 3 }), max: fc.integer({ min: 1, max: 5 }) }),
);

test('RequestQueue matches a sorted-list reference under random operations', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
    const q = new RequestQueue<E>([0, 0, 0]);
    const ref = new Reference(3);
    let id = 0;
    for (const op of ops) {
      if (op.k === 'push') {
        // Deadlines expired in the reference move at the same time in both, so pushes use fresh entries.
        const e = entry(id++, op.level, op.deadline, op.delay ? 'DELAY' : 'REJECT');
        q.push(e);
        ref.main.push(e);
      } else if (op.k === 'remove') {
        const all = ref.order();
        if (all.length === 0) continue;
        const e = all[op.pick % all.length];
        assert.equal(q.remove(e), true);
        assert.equal(q.remove(e), false, 'a removed entry is not removed twice');
        ref.remove(e);
      } else if (op.k === 'expire') {
        const want = ref.expire(op.limit); // first: the queue resets a delayed entry's deadline
        const got: E[] = [];
        q.expire(op.limit, got);
        assert.deepEqual(got.map((e) => e.id).sort((a, b) => a - b), want.map((e) => e.id).sort((a, b) => a - b));
      } else {
        // Take up to `max` entries, skipping every skipEvery-th one looked at; Stop (without taking) once full.
        const taken: number[] = [];
        let looked = 0;
        q.visitInOrder((e) => {
          if (taken.length >= op.max) return Visit.Stop;
          looked++;
          if (op.skipEvery > 0 && looked % op.skipEvery === 0) return Visit.Skip;
          taken.push(e.id);
          return Visit.Take;
        });
        const want: E[] = [];
        let l2 = 0;
        for (const e of ref.order()) {
          if (want.length >= op.max) break;
          l2++;
          if (op.skipEvery > 0 && l2 % op.skipEvery === 0) continue;
          want.push(e);
        }
        assert.deepEqual(taken, want.map((e) => e.id));
        for (const e of want) ref.remove(e);
      }
      const order = ref.order();
      assert.equal(q.size, order.length);
      assert.equal(q.rows, order.length);
      assert.equal(q.peek()?.id, order[0]?.id);
      const mains = ref.main.map((e) => e.deadlineUs);
      assert.equal(q.nextDeadlineUs(), mains.length ? Math.min(...mains) : Infinity);
    }
  }), { numRuns: 300 });
});

test('RequestQueue bounds each level and the total', () => {
  const q = new RequestQueue<E>([2, 0], 3);
  q.push(entry(1, 0, Infinity, 'REJECT'));
  q.push(entry(2, 0, Infinity, 'REJECT'));
  assert.equal(q.canAdmit(0), false, 'level 0 holds at most 2');
  assert.equal(q.canAdmit(1), true);
  q.push(entry(3, 1, Infinity, 'REJECT'));
  assert.equal(q.canAdmit(1), false, 'total holds at most 3');
  assert.equal(q.rowsAtOrAbove(0), 2);
  assert.equal(q.rowsAtOrAbove(1), 3);
  const q2 = new RequestQueue<E>([0, 0], 2);
  q2.push(entry(1, 1, Infinity, 'REJECT'));
  q2.push(entry(2, 1, Infinity, 'REJECT'));
  assert.equal(q2.canAdmit(1), false);
  assert.equal(q2.canAdmit(0), true, 'a full low level does not lock the high level out');
});

test('RingBuffer is a FIFO across growth and wrap-around', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 200 }), (ops) => {
    const r = new RingBuffer<number>(2);
    const ref: number[] = [];
    for (const op of ops) {
      if (op === null) assert.equal(r.shift(), ref.shift());
      else { r.push(op); ref.push(op); }
      assert.equal(r.length, ref.length);
      assert.equal(r.peek(), ref[0]);
      for (let i = 0; i < ref.length; i++) assert.equal(r.at(i), ref[i]);
    }
  }));
});
