import { InferenceError, invalidArgument } from '../../core/index.js';
import { RingBuffer } from '../ring-buffer.js';
import { type SequenceFlags, showSequence } from './sequence-flags.js';

/** What the table needs of a queued request. */
export interface SequenceEntry {
  readonly flags: SequenceFlags;
  readonly arrivalUs: number;
}

/** One live sequence: its slot (instance, row of that instance's slots), its queued requests and its state. */
export interface Sequence<E extends SequenceEntry, S> {
  readonly key: string;
  readonly id: number | string;
  /** -1 while it waits in the backlog for a free slot. */
  instance: number;
  slot: number;
  readonly queue: RingBuffer<E>;
  /** Last arrival or completion (µs): idle expiry counts from here. */
  lastUs: number;
  /** Its END request is queued: no request may follow it. */
  ending: boolean;
  /** A request of it is running (on its instance). */
  running: boolean;
  /** The implicit state the scheduler keeps for it (opaque here). */
  state: S;
}

export type Strategy =
  | { readonly kind: 'direct'; readonly maxQueueDelayUs: number; readonly minimumSlotUtilization: number }
  | { readonly kind: 'oldest'; readonly maxQueueDelayUs: number; readonly preferredBatchSizes: readonly number[] };

export interface SequenceTableOptions {
  readonly model: string;
  readonly instances: number;
  /** Slots per instance: max_batch_size (direct) or max_candidate_sequences (oldest). */
  readonly slotsPerInstance: number;
  /** Rows per batch at most (max_batch_size). */
  readonly maxBatchSize: number;
  readonly strategy: Strategy;
  readonly maxIdleUs: number;
  /** Requests queued in all sequences together, at most. */
  readonly maxQueued: number;
  /** Expired ids remembered (to say "expired" rather than "not started"). */
  readonly rememberExpired?: number;
}

/**
 * The sequence batcher's decisions, a pure function of its state and the clock (the scheduler supplies both; tests
 * drive it directly): which slot a new sequence takes, which sequences expire, and which requests form an instance's
 * next batch or how long to wait for more. A sequence keeps its slot — so its instance — from START to END or expiry;
 * sequences beyond the free slots wait in a FIFO backlog and take slots as they free.
 *
 * Ownership: the table holds queued entries; `take` hands the batch's entries to the caller, which calls `finished`
 * once their run has settled.
 */
export class SequenceTable<E extends SequenceEntry, S> {
  private readonly sequences = new Map<string, Sequence<E, S>>();
  /** Per instance: its slots (undefined = free). */
  private readonly slots: Array<Array<Sequence<E, S> | undefined>>;
  private readonly backlog = new RingBuffer<Sequence<E, S>>();
  private readonly expired = new Set<string>();
  private queued = 0;
  /** No sequence can expire before this (µs): a lower bound kept by admit/finished, so most calls skip the scan. */
  private nextExpiryUs = Infinity;

  constructor(private readonly o: SequenceTableOptions, private readonly initialState: () => S) {
    this.slots = Array.from({ length: o.instances }, () => new Array(o.slotsPerInstance).fill(undefined));
  }

  /** Requests queued, not yet running. */
  get size(): number {
    return this.queued;
  }

  /** Live sequences (with a slot or in the backlog). */
  get active(): number {
    return this.sequences.size;
  }

  get(key: string): Sequence<E, S> | undefined {
    return this.sequences.get(key);
  }

  /** Would a request be refused as over the queue bound now? */
  full(): boolean {
    return this.queued >= this.o.maxQueued;
  }

  /**
   * Queues `e` on its sequence (a START creates or restarts it). Throws INVALID_ARGUMENT for a request that does not
   * fit its sequence's life, QUEUE_FULL over the bound. Returns the sequence.
   */
  admit(e: E, now: number): Sequence<E, S> {
    const f = e.flags;
    const name = `sequence ${showSequence(f.id)} of model '${this.o.model}'`;
    if (this.queued >= this.o.maxQueued) {
      throw new InferenceError('QUEUE_FULL', `model '${this.o.model}' has ${this.queued} sequence requests queued (the limit)`, { retryAfterSec: 1 });
    }
    let s = this.sequences.get(f.key);
    if (f.start) {
      if (s && (s.queue.length > 0 || s.running)) {
        throw invalidArgument(`${name} is still running: a new sequence_start must wait for its requests to finish (or use another sequence_id)`);
      }
      if (!s) s = this.create(f, now);
      s.ending = false;
      this.expired.delete(f.key);
    } else {
      if (!s) {
        if (this.expired.has(f.key)) {
          throw invalidArgument(`${name} expired: it had no request for ${this.o.maxIdleUs / 1000} ms (max_sequence_idle_microseconds); start it again with sequence_start`);
        }
        throw invalidArgument(`${name} is not active: its first request must set sequence_start`);
      }
      if (s.ending) throw invalidArgument(`${name} has ended (a request with sequence_end was sent); start it again with sequence_start`);
    }
    if (f.end) s.ending = true;
    s.queue.push(e);
    s.lastUs = now;
    this.noteIdleFrom(now);
    this.queued++;
    return s;
  }

  private create(f: SequenceFlags, now: number): Sequence<E, S> {
    const s: Sequence<E, S> = {
      key: f.key, id: f.id, instance: -1, slot: -1, queue: new RingBuffer<E>(4), lastUs: now, ending: false,
      running: false, state: this.initialState(),
    };
    this.sequences.set(f.key, s);
    if (!this.place(s)) this.backlog.push(s);
    return s;
  }

  /** Puts `s` in a free slot of the instance with the most free slots (lowest slot first); false when none is free. */
  private place(s: Sequence<E, S>): boolean {
    let best = -1;
    let bestFree = 0;
    for (let i = 0; i < this.slots.length; i++) {
      let free = 0;
      for (const x of this.slots[i]) if (!x) free++;
      if (free > bestFree) {
        best = i;
        bestFree = free;
      }
    }
    if (best < 0) return false;
    const row = this.slots[best];
    const slot = row.indexOf(undefined);
    row[slot] = s;
    s.instance = best;
    s.slot = slot;
    return true;
  }

  /** Removes a sequence (ended or expired), frees its slot and gives it to the backlog's oldest. */
  private release(s: Sequence<E, S>): void {
    this.sequences.delete(s.key);
    if (s.instance < 0) return;
    this.slots[s.instance][s.slot] = undefined;
    s.instance = -1;
    for (;;) {
      const next = this.backlog.peek();
      if (!next) return;
      if (this.sequences.get(next.key) !== next) {
        this.backlog.shift(); // expired while it waited
        continue;
      }
      if (!this.place(next)) return;
      this.backlog.shift();
    }
  }

  /**
   * Ends sequences idle (nothing queued or running) for max_sequence_idle_microseconds at `now`, appending them to
   * `out`. Returns when the next one would expire (Infinity: none live).
   */
  expire(now: number, out: Array<Sequence<E, S>>): number {
    if (now < this.nextExpiryUs) return this.nextExpiryUs;
    let next = Infinity;
    for (const s of this.sequences.values()) {
      if (s.queue.length > 0 || s.running) continue;
      const at = s.lastUs + this.o.maxIdleUs;
      if (at <= now) {
        out.push(s);
        continue;
      }
      if (at < next) next = at;
    }
    for (const s of out) {
      this.release(s);
      this.remember(s.key);
    }
    this.nextExpiryUs = next;
    return next;
  }

  /** A sequence was active at `us`: it cannot expire before us + max idle. */
  private noteIdleFrom(us: number): void {
    const at = us + this.o.maxIdleUs;
    if (at < this.nextExpiryUs) this.nextExpiryUs = at;
  }

  private remember(key: string): void {
    this.expired.add(key);
    if (this.expired.size > (this.o.rememberExpired ?? 4096)) this.expired.delete(this.expired.values().next().value!);
  }

  /**
   * Instance `i`'s next batch: the head request of each of its sequences that has one, in slot order (direct) or
   * oldest first (oldest), at most maxBatchSize — or, when it is better to wait for more, the time to decide again
   * (Infinity: nothing to run). The caller checked the instance is idle.
   */
  next(i: number, now: number, out: Array<Sequence<E, S>>): number | undefined {
    const row = this.slots[i];
    let occupied = 0;
    let oldestUs = Infinity;
    out.length = 0;
    for (const s of row) {
      if (!s) continue;
      occupied++;
      const head = s.queue.peek();
      if (!head) continue;
      out.push(s);
      if (head.arrivalUs < oldestUs) oldestUs = head.arrivalUs;
    }
    if (out.length === 0) return Infinity;
    const st = this.o.strategy;
    const max = this.o.maxBatchSize;
    if (st.kind === 'oldest' && out.length > max) {
      out.sort((a, b) => a.queue.peek()!.arrivalUs - b.queue.peek()!.arrivalUs);
      out.length = max;
    }
    const waitUntil = oldestUs + st.maxQueueDelayUs;
    if (st.maxQueueDelayUs === 0 || now >= waitUntil || out.length >= max || out.length === occupied) return undefined;
    if (st.kind === 'direct') {
      if (out.length >= Math.ceil(st.minimumSlotUtilization * this.o.slotsPerInstance)) return undefined;
    } else if (st.preferredBatchSizes.includes(out.length)) {
      return undefined;
    }
    return waitUntil;
  }

  /** Takes the head request of each of `batch`'s sequences (marking them running). */
  take(batch: ReadonlyArray<Sequence<E, S>>, into: E[]): void {
    into.length = 0;
    for (const s of batch) {
      into.push(s.queue.shift()!);
      s.running = true;
      this.queued--;
    }
  }

  /** The batch of `take` has settled: sequences whose END request ran are released. */
  finished(batch: ReadonlyArray<Sequence<E, S>>, entries: readonly E[], now: number): void {
    for (let k = 0; k < batch.length; k++) {
      const s = batch[k];
      s.running = false;
      s.lastUs = now;
      this.noteIdleFrom(now);
      if (entries[k].flags.end && s.queue.length === 0) this.release(s);
    }
  }

  /** Instances with a sequence that has a queued request. */
  *instancesWithWork(): Generator<number> {
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i].some((s) => s !== undefined && s.queue.length > 0)) yield i;
    }
  }
}
