/**
 * The Dispatcher's decisions (src/scheduler/dispatcher.ts) on a virtual clock: admission refusals, probe, expiry, the
 * domino expiry before a batch forms, per-level bounds. Pure: no timers, no sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError, type InferenceRequest, type ModelConfig } from '../../src/core/index.js';
import type { ModelInstance, ExecuteResult } from '../../src/backends/backend.js';
import type { BatchPolicy } from '../../src/scheduler/batch-policy.js';
import { DEADLINE_MARGIN, Dispatcher, type Batch } from '../../src/scheduler/dispatcher.js';
import type { BatchableEntry } from '../../src/scheduler/form-batch.js';
import type { LevelPolicy, QueueConfig } from '../../src/scheduler/queue-config.js';
import { StaticPolicy } from '../../src/scheduler/policies/static-policy.js';
import { AdaptivePolicy } from '../../src/scheduler/policies/adaptive-policy.js';
import { BatchingScheduler } from '../../src/scheduler/batching-scheduler.js';
import { seededRandom } from '../fixtures/random.js';

interface E extends BatchableEntry { readonly id: number }

const MAX = 64;
const linear = (b: number) => 1000 + 100 * b; // µs
const REJECT: LevelPolicy = { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 };
const DELAY: LevelPolicy = { timeoutAction: 'DELAY', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 };
const queue = (...levels: LevelPolicy[]): QueueConfig => ({ levels, defaultLevel: levels.length - 1 });

function trained<P extends BatchPolicy>(p: P, curve = linear): P {
  for (let b = 1; b <= MAX; b *= 2) p.observeBatch(b, curve(b));
  return p;
}

function dispatcher(o: { policy?: BatchPolicy; queue?: QueueConfig; maxQueueSize?: number; instances?: number } = {}): Dispatcher<E> {
  return new Dispatcher<E>({
    policy: o.policy ?? trained(new StaticPolicy({ maxBatchSize: MAX })), queue: o.queue ?? queue(REJECT),
    maxBatchSize: MAX, maxQueueSize: o.maxQueueSize, instances: o.instances ?? 1, model: 'm',
  });
}

let ids = 0;
function entry(level: number, rows: number, deadlineUs: number, now: number, timeoutAction: 'REJECT' | 'DELAY' = 'REJECT'): E {
  return { id: ids++, seq: -1, rows, level, arrivalUs: now, deadlineUs, timeoutAction, heapIndex: -1, where: 'out', shapeKey: '' };
}

const isBatch = (r: Batch<E> | number): r is Batch<E> => typeof r !== 'number';

test('a full queue is refused QUEUE_FULL with retryAfterSec; a predicted late finish too, on REJECT levels only', () => {
  const d = dispatcher({ queue: queue(REJECT, DELAY) });
  // 160 requests of 64 rows queued: at 64 rows per t(64) = 7.4 ms they drain in 1.184 s.
  for (let i = 0; i < 160; i++) assert.equal(d.admit(entry(0, MAX, Infinity, 0), 0), undefined);
  const waitUs = (160 * MAX * linear(MAX)) / MAX;
  const late = d.admit(entry(0, 1, 1_000_000, 0), 0);
  assert.ok(late instanceof InferenceError && late.code === 'QUEUE_FULL', String(late));
  assert.match(late.message, new RegExp(`predicted wait ${(waitUs / 1000).toFixed(1)} ms exceeds the request's deadline`));
  assert.equal(late.retryAfterSec, Math.ceil((waitUs + linear(MAX) / MAX) / 1e6));
  assert.equal(late.retryAfterSec, 2);
  // Finishing within its deadline with the margin: (wait + t(64)) × 1.25 ≤ 2 s.
  assert.equal(d.admit(entry(0, 1, DEADLINE_MARGIN * (waitUs + linear(MAX)) + 1, 0), 0), undefined);
  // The DELAY level is not refused for its deadline (it waits behind its level instead).
  assert.equal(d.admit(entry(1, 1, 1_000_000, 0, 'DELAY'), 0), undefined);
  assert.equal(d.size, 162);
});

test('with t(b) unknown, admission refuses nothing for its deadline (no prediction to go on)', () => {
  const d = dispatcher({ policy: new StaticPolicy({ maxBatchSize: MAX }) });
  for (let i = 0; i < 100; i++) assert.equal(d.admit(entry(0, MAX, Infinity, 0), 0), undefined);
  assert.equal(d.admit(entry(0, 1, 1, 0), 0), undefined);
});

test('per-level bounds: each level its own, and the total counted over a level and the levels above it', () => {
  const d = dispatcher({ queue: queue({ ...REJECT, maxQueueSize: 2 }, REJECT), maxQueueSize: 3 });
  // A flood of low-priority requests fills the total, yet never locks high-priority ones out.
  for (let i = 0; i < 3; i++) assert.equal(d.admit(entry(1, 1, Infinity, 0), 0), undefined);
  const low = d.admit(entry(1, 1, Infinity, 0), 0);
  assert.ok(low?.code === 'QUEUE_FULL' && /queue of model 'm' is full/.test(low.message) && low.retryAfterSec! >= 1);
  assert.equal(d.admit(entry(0, 1, Infinity, 0), 0), undefined);
  assert.equal(d.admit(entry(0, 1, Infinity, 0), 0), undefined);
  assert.equal(d.admit(entry(0, 1, Infinity, 0), 0)?.code, 'QUEUE_FULL', 'level 1 holds 2 at most');
  assert.equal(d.size, 5);
  // probe says the same, without queueing.
  assert.equal(d.probe(0, 1, Infinity, 0)?.code, 'QUEUE_FULL');
  assert.equal(d.probe(1, 1, Infinity, 0)?.code, 'QUEUE_FULL');
  assert.equal(d.size, 5);
});

test('levelOf and deadlineOf follow Triton\'s priority rule and count the timeout from receipt', () => {
  const d = dispatcher({ queue: { levels: [{ ...REJECT, allowTimeoutOverride: false, defaultTimeoutUs: 5000 }, REJECT], defaultLevel: 1 } });
  assert.equal(d.levels, 2);
  assert.deepEqual([1, 2, 0, undefined, 3, 1.5].map((p) => d.levelOf(p)), [0, 1, 1, 1, 1, 1]);
  assert.equal(d.deadlineOf(0, 100, undefined, 10_000), 15_000, 'the level\'s timeout; no override');
  assert.equal(d.deadlineOf(1, 100, 9_000, 10_000), 9_100, 'from when the frontend received it');
  assert.equal(d.deadlineOf(1, 100, 12_000, 10_000), 10_100, 'never from later than now');
  assert.equal(d.deadlineOf(1, undefined, 9_000, 10_000), Infinity);
});

test('probe changes nothing: the same run with probes interleaved decides exactly the same', () => {
  // Two levels with live traffic (the priority budget and its cache), noisy t(b) (predictions move), deadlines,
  // refusals: every decision of the run is recorded and compared.
  const run = (probing: boolean): string[] => {
    const r = seededRandom(7);
    const policy = trained(new AdaptivePolicy({ maxBatchSize: MAX }));
    const d = dispatcher({ policy, queue: queue(REJECT, REJECT), instances: 2 });
    const trace: string[] = [];
    const expired: E[] = [];
    let idle = 2;
    let now = 0;
    for (let step = 0; step < 4000; step++) {
      now += Math.floor(r() * 300);
      const level = r() < 0.2 ? 0 : 1;
      const rows = 1 + Math.floor(r() * 8);
      const deadline = r() < 0.7 ? now + 2000 + r() * 40_000 : Infinity;
      if (probing) {
        const p = d.probe(level, rows, deadline, now);
        const q = d.probe(1 - level, 1 + Math.floor(r() * 64), now + r() * 5000, now);
        void p; void q;
      } else {
        r(); r(); // the same draws either way
      }
      const refusal = d.admit(entry(level, rows, deadline, now), now);
      trace.push(`${now} admit ${refusal ? `${refusal.retryAfterSec} ${refusal.message}` : d.size}`);
      if (idle < 2 && r() < 0.5) {
        idle++;
        d.observeBatch(1 + Math.floor(r() * MAX), linear(32) * (0.5 + r()));
      }
      expired.length = 0;
      const next = d.next(now, idle, expired);
      trace.push(`expired ${expired.map((e) => e.seq).join(',')}`);
      if (isBatch(next)) {
        idle--;
        trace.push(`batch ${next.rows}: ${next.entries.map((e) => e.seq).join(',')}`);
      } else trace.push(`wake ${next}`);
    }
    return trace;
  };
  const plain = run(false);
  const probed = run(true);
  assert.ok(plain.some((l) => l.includes('exceeds the request\'s deadline')), 'the run includes refusals');
  assert.ok(plain.some((l) => l.startsWith('batch')));
  assert.deepEqual(probed, plain);
});

test('probe calls nothing on the policy that learns (no arrival, no decision, no batch observed)', () => {
  const calls: string[] = [];
  const inner = trained(new StaticPolicy({ maxBatchSize: MAX }));
  const spy: BatchPolicy = {
    name: 'spy',
    decide: (q, now) => { calls.push('decide'); return inner.decide(q, now); },
    observeArrival: () => { calls.push('observeArrival'); },
    observeBatch: () => { calls.push('observeBatch'); },
    predictComputeUs: (rows) => inner.predictComputeUs(rows),
    backlogBatchRows: () => inner.backlogBatchRows(),
  };
  const d = dispatcher({ policy: spy });
  for (let i = 0; i < 50; i++) d.probe(0, 8, i % 2 ? 1000 : Infinity, 0);
  assert.deepEqual(calls, []);
  assert.equal(d.size, 0);
});

test('a queued request is expired once its deadline is closer than one batch of one row; the wake-up says when', () => {
  const d = dispatcher();
  const slack = DEADLINE_MARGIN * linear(1);
  const e = entry(0, 1, 50_000, 0);
  assert.equal(d.admit(e, 0), undefined);
  const expired: E[] = [];
  // The instance is busy: nothing runs; the dispatcher asks to be called at the deadline check.
  assert.equal(d.next(10_000, 0, expired), 50_000 - slack);
  assert.deepEqual(expired, []);
  assert.equal(d.next(50_000 - slack, 0, expired), Infinity, 'queue empty: nothing to wait for');
  assert.deepEqual(expired, [e]);
  assert.equal(d.size, 0);
  assert.equal(d.remove(e), false, 'no longer queued');
});

test('domino expiry: a request that could only finish in a smaller batch is answered, and the batch runs full', () => {
  const d = dispatcher();
  const now = 0;
  // Finishes in time in a batch of 1 row (1.1 ms × 1.25), not in one of 64 (7.4 ms × 1.25).
  const tight = entry(0, 1, 5_000, now);
  d.admit(tight, now);
  const others = Array.from({ length: MAX }, () => entry(0, 1, Infinity, now));
  for (const e of others) d.admit(e, now);
  const expired: E[] = [];
  const next = d.next(now, 1, expired);
  assert.ok(isBatch(next));
  assert.deepEqual(expired, [tight]);
  assert.equal(next.rows, MAX);
  assert.deepEqual(next.entries, others);
});

test('a batch takes the queue in EDF order (ties and no deadline: arrival order)', () => {
  const d = dispatcher({ policy: trained(new StaticPolicy({ maxBatchSize: 4 })) });
  const a = entry(0, 1, 100_000, 0);
  const b = entry(0, 1, 20_000, 0);
  const c = entry(0, 1, Infinity, 0);
  for (const e of [c, a, b]) d.admit(e, 0);
  const expired: E[] = [];
  const next = d.next(0, 1, expired);
  assert.ok(isBatch(next));
  assert.deepEqual(next.entries, [b, a, c], 'earliest deadline first, then arrival order');
  assert.deepEqual(d.next(0, 0, expired), Infinity);
});

test('the policy\'s wait comes back as a wake-up time, bounded by the next deadline check', () => {
  const d = dispatcher({ policy: trained(new StaticPolicy({ maxBatchSize: MAX, maxQueueDelayUs: 1000 })) });
  d.admit(entry(0, 1, Infinity, 0), 0);
  const expired: E[] = [];
  assert.equal(d.next(0, 1, expired), 1000);
  const due = entry(0, 1, 2000, 100);
  d.admit(due, 100);
  const check = 2000 - DEADLINE_MARGIN * linear(1);
  assert.equal(d.next(100, 1, expired), check, 'the deadline check comes first');
  assert.equal(d.next(check, 1, expired), 1000, 'the policy\'s wait again');
  assert.deepEqual(expired, [due], 'expired at the check: it could no longer finish in time');
  const batch = d.next(1000, 1, expired);
  assert.ok(isBatch(batch) && batch.rows === 1);
});

test('BatchingScheduler.probe agrees with enqueue, and changes nothing', async () => {
  let now = 1_000_000;
  const pending: Array<(r: ExecuteResult) => void> = [];
  const busy: ModelInstance = {
    name: 'busy', unload: async () => {},
    execute: () => new Promise<ExecuteResult>((resolve) => { pending.push(resolve); }),
  };
  const config = {
    name: 'm', max_batch_size: MAX, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [1] }],
    output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
  } as unknown as ModelConfig;
  const s = new BatchingScheduler({ model: 'm', version: '1', config, instances: [busy] }, {
    policy: trained(new StaticPolicy({ maxBatchSize: MAX })), maxBatchSize: MAX, clockUs: () => now,
    queue: { levels: [REJECT, { ...REJECT, defaultTimeoutUs: 100_000 }], defaultLevel: 1 },
  });
  const req = (extra: Partial<InferenceRequest>): InferenceRequest => ({
    model: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [MAX, 1], data: new Float32Array(MAX) }], ...extra,
  });
  const answers: Array<Promise<unknown>> = [];
  // One batch runs (the instance never answers until told); 20 batches' worth wait: 148 ms at t(64) = 7.4 ms.
  for (let i = 0; i < 21; i++) answers.push(s.enqueue(req({ priority: 1 })).catch((e: unknown) => e));
  assert.equal(s.pendingCount, 20);
  // The default level's 100 ms timeout cannot be met; priority 1 has none; a shorter own timeout on it cannot either.
  const low = s.probe({});
  assert.ok(low?.code === 'QUEUE_FULL' && /predicted wait/.test(low.message), String(low));
  assert.equal(s.probe({ priority: 1 }), undefined);
  assert.equal(s.probe({ priority: 1, timeoutUs: 50_000 })?.code, 'QUEUE_FULL');
  // Received long ago: its deadline is counted from then, so even a generous timeout is already too close.
  assert.equal(s.probe({ priority: 1, timeoutUs: 400_000, receivedUs: now - 300_000 })?.code, 'QUEUE_FULL');
  assert.equal(s.probe({ priority: 1, timeoutUs: 400_000, receivedUs: now }), undefined);
  assert.equal(s.pendingCount, 20);
  // enqueue gives the same answers.
  await assert.rejects(s.enqueue(req({})), (e: unknown) => e instanceof InferenceError && e.code === 'QUEUE_FULL' && e.message === low.message);
  await assert.rejects(s.enqueue(req({ priority: 1, timeoutUs: 50_000 })), (e: unknown) => e instanceof InferenceError && e.code === 'QUEUE_FULL');
  assert.equal(s.pendingCount, 20);
  // Finish everything: each batch the instance is handed completes at once.
  const drained = s.drain();
  assert.equal(s.probe({ priority: 1 })?.code, 'UNAVAILABLE', 'draining');
  const y = { name: 'y', datatype: 'FP32' as const, shape: [MAX, 1], data: new Float32Array(MAX) };
  while (pending.length > 0) {
    now += linear(MAX);
    pending.shift()!({ outputs: [y], timing: { inputUs: 0, inferUs: 0, outputUs: 0 } });
    await new Promise((r) => setImmediate(r));
  }
  await drained;
  const results = await Promise.all(answers);
  assert.equal(results.filter((r) => r instanceof Error).length, 0);
});

test('lower-level rows do not stretch a higher-priority request\'s batch past the priority budget; alone they form one batch', () => {
  // t(b) = 1 ms + 0.1 ms·b: the budget while priority 1 has live traffic is 1.5 × t(1) = 1.65 ms, i.e. 6 rows — no
  // room for an 8-row request of priority 2 beside the 1-row one.
  for (const withHigh of [false, true]) {
    const d = dispatcher({ queue: queue(REJECT, REJECT) });
    if (withHigh) assert.equal(d.admit(entry(0, 1, Infinity, 0), 0), undefined);
    for (let i = 0; i < 7; i++) assert.equal(d.admit(entry(1, 8, Infinity, 0), 0), undefined);
    const first = d.next(0, 1, []);
    assert.ok(isBatch(first));
    if (withHigh) {
      assert.deepEqual(first.entries.map((e) => e.level), [0], 'the high request runs alone');
      const second = d.next(1100, 1, []);
      assert.ok(isBatch(second));
      assert.ok(second.rows <= 8, `while priority 1 is live, priority 2 runs in budget-sized batches (${second.rows} rows)`);
    } else {
      assert.equal(first.rows, 56, 'the 7 low requests run as one batch');
    }
  }
});

test('a model latency bound is every request\'s deadline, rejected as a REJECT timeout even on DELAY levels', () => {
  const d = new Dispatcher<E>({
    policy: trained(new StaticPolicy({ maxBatchSize: MAX })), queue: queue(DELAY), maxBatchSize: MAX, instances: 1, model: 'm',
    latencyBoundUs: 50_000,
  });
  assert.equal(d.deadlineOf(0, undefined, 1000, 2000), 51_000, 'from when it was received');
  assert.equal(d.deadlineOf(0, 20_000, 1000, 2000), 21_000, 'its own shorter timeout wins');
  assert.equal(d.deadlineOf(0, 90_000, 1000, 2000), 51_000);
  assert.equal(d.timeoutActionOf(0), 'REJECT');
  // 64-row requests (7.4 ms each) arriving at once: admitted while predicted to finish within the bound, then refused.
  let admitted = 0;
  while (d.admit(entry(0, MAX, d.deadlineOf(0, undefined, 0, 0), 0, d.timeoutActionOf(0)), 0) === undefined) admitted++;
  assert.ok(admitted >= 3 && admitted <= 5, `${admitted} admitted: (wait + 7.4 ms) × 1.25 ≤ 50 ms`);
  assert.equal(d.probe(0, MAX, d.deadlineOf(0, undefined, 0, 0), 0)?.code, 'QUEUE_FULL');
  // Queued ones that can no longer make it are expired at the bound, not delayed behind their level.
  const expired: E[] = [];
  d.expire(50_000, expired);
  assert.equal(expired.length, admitted);
  const plain = dispatcher({ queue: queue(DELAY) });
  assert.equal(plain.deadlineOf(0, undefined, 0, 0), Infinity, 'no bound, no timeout: no deadline');
  assert.equal(plain.timeoutActionOf(0), 'DELAY');
});
