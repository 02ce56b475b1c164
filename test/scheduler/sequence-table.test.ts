/**
 * SequenceTable (the sequence batcher's decisions) driven directly with a fake clock, under random operations, against
 * the properties Triton's sequence batcher promises: a sequence keeps one slot of one instance from START to its end,
 * no two live sequences share a slot, a batch holds at most one request per sequence and only from that instance's
 * sequences, each sequence's requests come out in the order they went in, and the backlog is served first come,
 * first served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InferenceError } from '../../src/core/index.js';
import { type Sequence, type Strategy, SequenceTable } from '../../src/scheduler/sequence/sequence-table.js';
import type { SequenceFlags } from '../../src/scheduler/sequence/sequence-flags.js';

interface E { flags: SequenceFlags; arrivalUs: number; n: number }
const flags = (id: number, start = false, end = false): SequenceFlags => ({ id, key: `n${id}`, start, end });

function table(o: { instances?: number; slots?: number; max?: number; strategy?: Strategy; idleUs?: number } = {}) {
  return new SequenceTable<E, null>({
    model: 'm', instances: o.instances ?? 2, slotsPerInstance: o.slots ?? 2, maxBatchSize: o.max ?? o.slots ?? 2,
    strategy: o.strategy ?? { kind: 'direct', maxQueueDelayUs: 0, minimumSlotUtilization: 0 }, maxIdleUs: o.idleUs ?? 1_000_000, maxQueued: 100,
  }, () => null);
}

type Op = { kind: 'send'; id: number; end: boolean } | { kind: 'run'; instance: number } | { kind: 'finish' } | { kind: 'tick'; us: number };

test('random operations keep slot affinity, one request per sequence per batch, FIFO per sequence and backlog', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('send' as const), id: fc.integer({ min: 1, max: 7 }), end: fc.boolean() }),
    fc.record({ kind: fc.constant('run' as const), instance: fc.integer({ min: 0, max: 1 }) }),
    fc.record({ kind: fc.constant('finish' as const) }),
    fc.record({ kind: fc.constant('tick' as const), us: fc.integer({ min: 0, max: 400_000 }) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
    const t = table({ idleUs: 500_000 });
    let now = 0;
    let n = 0;
    const live = new Map<number, { instance: number; slot: number; sent: number[]; ran: number[]; startedAt: number }>();
    const waitingOrder: number[] = []; // ids started while no slot was free, in start order
    const running: { instance: number; batch: Sequence<E, null>[]; entries: E[] }[] = [];
    for (const o of ops) {
      if (o.kind === 'tick') {
        now += o.us;
        const out: Sequence<E, null>[] = [];
        t.expire(now, out);
        for (const s of out) {
          assert.equal(s.queue.length, 0, 'only idle sequences expire');
          assert.equal(s.running, false);
          live.delete(s.id as number);
        }
        for (const id of live.keys()) {
          const s = t.get(`n${id}`)!;
          assert.ok(s.queue.length > 0 || s.running || s.lastUs + 500_000 > now, `sequence ${id} idle since ${s.lastUs} should have expired at ${now}`);
        }
      } else if (o.kind === 'send') {
        const known = t.get(`n${o.id}`);
        const start = !known || (known.queue.length === 0 && !known.running && !known.ending);
        const e: E = { flags: flags(o.id, start, o.end), arrivalUs: now, n: n++ };
        try {
          const s = t.admit(e, now);
          if (start && !known) {
            live.set(o.id, { instance: s.instance, slot: s.slot, sent: [], ran: [], startedAt: now });
            if (s.instance < 0) waitingOrder.push(o.id);
          }
          live.get(o.id)!.sent.push(e.n);
        } catch (err) {
          assert.ok(err instanceof InferenceError && err.code === 'INVALID_ARGUMENT', String(err));
          assert.ok(known?.ending, 'only a request after an END is refused here');
        }
      } else if (o.kind === 'run') {
        if (running.some((r) => r.instance === o.instance)) continue;
        const batch: Sequence<E, null>[] = [];
        if (t.next(o.instance, now, batch) !== undefined) continue;
        const entries: E[] = [];
        const copy = batch.slice();
        t.take(copy, entries);
        assert.ok(copy.length <= 2, 'at most max_batch_size rows');
        assert.equal(new Set(copy.map((s) => s.key)).size, copy.length, 'one request per sequence per batch');
        for (let k = 0; k < copy.length; k++) {
          assert.equal(copy[k].instance, o.instance, 'a batch holds only its instance\'s sequences');
          live.get(copy[k].id as number)!.ran.push(entries[k].n);
        }
        running.push({ instance: o.instance, batch: copy, entries });
      } else if (running.length > 0) {
        const r = running.shift()!;
        t.finished(r.batch, r.entries, now);
        for (let k = 0; k < r.batch.length; k++) if (r.entries[k].flags.end) live.delete(r.batch[k].id as number);
      }
      // Invariants after every step.
      const slots = new Set<string>();
      for (const [id, l] of live) {
        const s = t.get(`n${id}`)!;
        assert.ok(s, `sequence ${id} is live`);
        if (s.instance >= 0) {
          const where = `${s.instance}/${s.slot}`;
          assert.ok(!slots.has(where), `slot ${where} is held once`);
          slots.add(where);
          if (l.instance >= 0) assert.deepEqual([s.instance, s.slot], [l.instance, l.slot], `sequence ${id} keeps its slot`);
          else {
            // It left the backlog: every sequence started before it and still waiting would have gone first.
            const ahead = waitingOrder.slice(0, waitingOrder.indexOf(id)).filter((x) => live.has(x) && t.get(`n${x}`)!.instance < 0);
            assert.deepEqual(ahead, [], `backlog order: ${ahead.join(',')} waited before ${id}`);
            l.instance = s.instance;
            l.slot = s.slot;
          }
        }
        assert.deepEqual(l.ran, l.sent.slice(0, l.ran.length), `sequence ${id} runs its requests in order`);
      }
    }
  }), { numRuns: 300 });
});

test('direct: a set delay waits for minimum_slot_utilization, never past max_queue_delay; oldest: oldest first, up to max_batch_size', () => {
  const d = table({ instances: 1, slots: 4, strategy: { kind: 'direct', maxQueueDelayUs: 1000, minimumSlotUtilization: 0.5 } });
  for (const id of [1, 2, 3]) d.admit({ flags: flags(id, true), arrivalUs: 0, n: id }, 0);
  const out: Sequence<E, null>[] = [];
  d.take([d.get('n2')!, d.get('n3')!], []);
  d.finished([d.get('n2')!, d.get('n3')!], [{ flags: flags(2), arrivalUs: 0, n: 0 }, { flags: flags(3), arrivalUs: 0, n: 0 }], 0);
  assert.equal(d.next(0, 100, out), 1000, '1 of 4 slots ready (3 occupied): wait until 1 ms after the oldest request (at 0)');
  d.admit({ flags: flags(2), arrivalUs: 200, n: 9 }, 200);
  assert.equal(d.next(0, 200, out), undefined, '2 of 4 slots ready meets minimum_slot_utilization 0.5');
  assert.deepEqual(out.map((s) => s.id), [1, 2]);

  const o = table({ instances: 1, slots: 5, max: 2, strategy: { kind: 'oldest', maxQueueDelayUs: 0, preferredBatchSizes: [] } });
  for (const [id, at] of [[1, 30], [2, 10], [3, 20]] as const) o.admit({ flags: flags(id, true), arrivalUs: at, n: id }, at);
  assert.equal(o.next(0, 40, out), undefined);
  assert.deepEqual(out.map((s) => s.id), [2, 3], 'the two oldest requests');
});
