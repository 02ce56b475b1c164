/**
 * InstanceLifecycle on its own, with stand-in workers and a hand-driven clock: the restart budget over time, a
 * replacement that fails to start, the retry once the budget allows, unload during a restart. (Real workers of
 * every instance kind: instance-conformance.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InferenceError } from '../../src/core/index.js';
import { InstanceDiedError, type InstanceHealth } from '../../src/backends/backend.js';
import { InstanceLifecycle, RestartBudget, type LifecycleClock } from '../../src/backends/instance-lifecycle.js';

/** A clock whose time moves only when the test says; `later` callbacks run when their time is reached. */
class ManualClock implements LifecycleClock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  later(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => { this.timers = this.timers.filter((x) => x !== timer); };
  }
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
  }
  get pending(): number {
    return this.timers.length;
  }
}

/** Workers are numbers; each start waits until the test settles it. */
class Workers {
  adopted: number[] = [];
  discarded: number[] = [];
  private next = 1;
  private starts: Array<{ resolve: (w: number) => void; reject: (e: Error) => void }> = [];
  readonly source = {
    start: () => new Promise<number>((resolve, reject) => { this.starts.push({ resolve, reject }); }),
    adopt: (w: number) => { this.adopted.push(w); },
    discard: async (w: number) => { this.discarded.push(w); },
  };
  get starting(): number {
    return this.starts.length;
  }
  async succeed(): Promise<number> {
    const w = this.next++;
    this.starts.shift()!.resolve(w);
    await settle();
    return w;
  }
  async fail(why: string): Promise<void> {
    this.starts.shift()!.reject(new Error(why));
    await settle();
  }
}

/** Lets promise continuations run (no timers involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setUp(max = 3, windowMs = 60_000) {
  const clock = new ManualClock();
  const workers = new Workers();
  const life = new InstanceLifecycle<number>("model 'm' instance 'm_0_0'", workers.source, clock, new RestartBudget(max, windowMs));
  const seen: InstanceHealth[] = [];
  life.onChange((h) => seen.push(h));
  return { clock, workers, life, seen };
}

const isUnavailable = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof InferenceError, String(err));
  assert.ok(!(err instanceof InstanceDiedError), 'not a retryable death');
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, pattern);
  return true;
};

test('RestartBudget: at most max deaths in any window; the next restart is allowed when the oldest leaves it', () => {
  const b = new RestartBudget(3, 1000);
  assert.deepEqual([0, 100, 200].map((t) => b.record(t)), [true, true, true]);
  assert.equal(b.record(300), false);
  assert.equal(b.recent, 4);
  assert.equal(b.nextAllowedAt(), 1000);
  // Deaths spread wider than the window never run out of budget.
  const c = new RestartBudget(3, 1000);
  for (let t = 0; t < 10_000; t += 400) assert.equal(c.record(t), true, `death at ${t}`);
  assert.equal(c.nextAllowedAt(), -Infinity);
  // Past the bound, later deaths push the retry out: only the last max + 1 count.
  assert.equal(b.record(400), false);
  assert.equal(b.nextAllowedAt(), 1100);
});

test('a death starts the replacement at once; calls wait for it and run once it is adopted', async () => {
  const { workers, life, seen } = setUp();
  assert.equal(life.health, 'READY');
  assert.equal(life.ready(), undefined, 'READY: run now, synchronously');
  const err = life.died('its worker exited (code 1)');
  assert.ok(err instanceof InstanceDiedError);
  assert.equal(err.code, 'UNAVAILABLE');
  assert.match(err.message, /model 'm' instance 'm_0_0': its worker exited \(code 1\); a new worker is starting/);
  assert.equal(life.health, 'RESTARTING');
  assert.match(life.reason, /exited \(code 1\)/);
  assert.equal(workers.starting, 1, 'the new worker is starting before any call asks for it');
  let ran = false;
  const waiting = life.ready()!.then(() => { ran = true; });
  await settle();
  assert.equal(ran, false);
  const w = await workers.succeed();
  await waiting;
  assert.deepEqual(workers.adopted, [w]);
  assert.equal(life.health, 'READY');
  assert.equal(life.reason, '');
  assert.deepEqual(seen, ['RESTARTING', 'READY']);
});

test('a replacement that fails to start counts as a death; past the budget FAILED, then one more try when it allows', async () => {
  const { clock, workers, life, seen } = setUp(3, 60_000);
  life.died('its worker exited (code 1)'); // death 1
  // A call waiting for the restart is refused once it fails, not left hanging.
  const waiting = assert.rejects(life.ready()!, isUnavailable(/m_0_0' is unavailable: .*vocab\.txt missing/));
  await workers.fail('vocab.txt missing'); // death 2: tried again at once
  assert.equal(life.health, 'RESTARTING');
  clock.advance(10);
  await workers.fail('vocab.txt missing'); // death 3
  await workers.fail('vocab.txt missing'); // death 4: over budget
  assert.equal(workers.starting, 0, 'no more tries for now');
  assert.equal(life.health, 'FAILED');
  assert.match(life.reason, /exited \(code 1\); its replacement failed to start: vocab\.txt missing; not restarted: it died 4 times within 60 s \(3 restarts allowed\); next try at \d{4}-/);
  await waiting;
  await assert.rejects(life.ready()!, isUnavailable(/not restarted/), 'later calls are refused at once');
  assert.equal(clock.pending, 1);
  // The first death leaves the window at t = 60 s: one more try.
  clock.advance(60_000 - 10 - 1);
  assert.equal(life.health, 'FAILED');
  clock.advance(1);
  assert.equal(life.health, 'RESTARTING');
  assert.equal(workers.starting, 1);
  const w = await workers.succeed();
  assert.equal(life.health, 'READY');
  assert.deepEqual(workers.adopted, [w]);
  assert.deepEqual(seen, ['RESTARTING', 'FAILED', 'RESTARTING', 'READY']);
});

test('a death past the budget leaves the run UNAVAILABLE (not retryable) and the instance FAILED', async () => {
  const { clock, workers, life, seen } = setUp(2, 1000);
  for (let i = 0; i < 2; i++) {
    assert.ok(life.died(`death ${i}`) instanceof InstanceDiedError);
    await workers.succeed();
    clock.advance(100);
  }
  const err = life.died('death 2');
  isUnavailable(/death 2; not restarted: it died 3 times within 1 s \(2 restarts allowed\)/)(err);
  assert.equal(life.health, 'FAILED');
  assert.equal(workers.starting, 0);
  assert.deepEqual(seen, ['RESTARTING', 'READY', 'RESTARTING', 'READY', 'FAILED']);
  // Unload cancels the pending retry.
  await life.unload();
  assert.equal(clock.pending, 0);
  assert.equal(life.health, 'UNLOADED');
});

test('unload during a restart: waiting calls are refused at once, and the worker that finishes starting is discarded', async () => {
  const { workers, life, seen } = setUp();
  life.died('its worker exited (code 9)');
  const waiting = life.ready()!;
  let unloaded = false;
  const unloading = life.unload().then(() => { unloaded = true; });
  await assert.rejects(waiting, isUnavailable(/is unavailable: unloaded/));
  await settle();
  assert.equal(unloaded, false, 'unload waits for the start in progress');
  const w = await workers.succeed();
  await unloading;
  assert.deepEqual(workers.discarded, [w]);
  assert.deepEqual(workers.adopted, []);
  assert.equal(life.health, 'UNLOADED');
  isUnavailable(/was unloaded/)(life.died('its worker exited (code 1)'));
  assert.equal(workers.starting, 0, 'no restart after unload');
  assert.deepEqual(seen, ['RESTARTING', 'UNLOADED']);
});

test('a listener that calls at once when the restart begins finds it to wait for', async () => {
  const { workers, life } = setUp();
  let waited: Promise<void> | undefined;
  life.onChange((h) => { if (h === 'RESTARTING') waited = life.ready(); });
  life.died('its worker exited (code 1)');
  assert.ok(waited instanceof Promise);
  await workers.succeed();
  await waited;
});
