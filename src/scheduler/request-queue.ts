import { DeadlineHeap, type HeapEntry } from './deadline-heap.js';
import { RingBuffer } from './ring-buffer.js';

export type TimeoutAction = 'REJECT' | 'DELAY';

/** A waiting request as the queue sees it. */
export interface QueueEntry extends HeapEntry {
  readonly rows: number;
  /** 0-based priority level (0 = Triton's priority 1, the highest). */
  readonly level: number;
  readonly arrivalUs: number;
  readonly timeoutAction: TimeoutAction;
  /** Where the entry is: the level's EDF heap, its delayed FIFO (timed out with DELAY), or out of the queue. */
  where: 'main' | 'delayed' | 'out';
}

/** What a visitor does with each entry, in dispatch order. */
export const Visit = { Take: 0, Skip: 1, Stop: 2, TakeAndStop: 3 } as const;
export type Visit = (typeof Visit)[keyof typeof Visit];

/**
 * The per-model queue: priority levels, each bounded, each an earliest-deadline-first heap plus a FIFO of requests
 * whose timeout passed with timeout_action DELAY (Triton: they wait behind every non-timed-out request of their
 * level). Dispatch order: level 0 heap, level 0 delayed, level 1 heap, … Requests without a deadline are FIFO
 * (deadline Infinity, ties by arrival seq).
 */
export class RequestQueue<T extends QueueEntry> {
  private readonly heaps: DeadlineHeap<T>[] = [];
  private readonly delayed: RingBuffer<T>[] = [];
  private readonly levelCount: number[] = [];
  private readonly levelRows: number[] = [];
  private total = 0;
  private totalRows = 0;

  /**
   * @param levelLimits per level, the most requests it may hold (0 = no per-level bound)
   * @param maxTotal the most requests in a level and the levels above it together (0 = no bound)
   */
  constructor(private readonly levelLimits: readonly number[], private readonly maxTotal = 0) {
    for (let i = 0; i < levelLimits.length; i++) {
      this.heaps.push(new DeadlineHeap<T>());
      this.delayed.push(new RingBuffer<T>());
      this.levelCount.push(0);
      this.levelRows.push(0);
    }
  }

  get levels(): number {
    return this.levelLimits.length;
  }

  get size(): number {
    return this.total;
  }

  get rows(): number {
    return this.totalRows;
  }

  /** Rows waiting at `level` and above (what a new request of that level waits behind). */
  rowsAtOrAbove(level: number): number {
    let r = 0;
    for (let i = 0; i <= level && i < this.levelRows.length; i++) r += this.levelRows[i];
    return r;
  }

  /**
   * Whether a request of `level` fits: its level's own bound, and the total bound counted over its level and the
   * levels above it only — so a flood of low-priority requests never locks high-priority ones out.
   */
  canAdmit(level: number): boolean {
    if (this.maxTotal > 0) {
      let n = 0;
      for (let i = 0; i <= level; i++) n += this.levelCount[i];
      if (n >= this.maxTotal) return false;
    }
    const lim = this.levelLimits[level];
    return !(lim > 0 && this.levelCount[level] >= lim);
  }

  /** Adds e (the caller checked canAdmit). */
  push(e: T): void {
    e.where = 'main';
    this.heaps[e.level].push(e);
    this.count(e, +1);
  }

  /** The entry that would be dispatched first. */
  peek(): T | undefined {
    for (let l = 0; l < this.heaps.length; l++) {
      const h = this.heaps[l].peek();
      if (h) return h;
      const d = this.delayedHead(l);
      if (d) return d;
    }
    return undefined;
  }

  /** Removes e wherever it is (cancelled client); false if it was not queued. */
  remove(e: T): boolean {
    if (e.where === 'main') this.heaps[e.level].remove(e);
    else if (e.where !== 'delayed') return false;
    e.where = 'out'; // a delayed entry stays in its ring until it reaches the head
    this.count(e, -1);
    return true;
  }

  /** The earliest deadline of any queued request (Infinity when none). */
  nextDeadlineUs(): number {
    let d = Infinity;
    for (const h of this.heaps) {
      const e = h.peek();
      if (e && e.deadlineUs < d) d = e.deadlineUs;
    }
    return d;
  }

  /**
   * Handles every request whose deadline is ≤ limitUs: REJECT ones leave the queue and are appended to `rejected`;
   * DELAY ones move to their level's delayed FIFO (and lose their deadline).
   */
  expire(limitUs: number, rejected: T[]): void {
    for (let l = 0; l < this.heaps.length; l++) {
      const h = this.heaps[l];
      for (let e = h.peek(); e && e.deadlineUs <= limitUs; e = h.peek()) {
        h.pop();
        if (e.timeoutAction === 'DELAY') {
          e.deadlineUs = Infinity;
          e.where = 'delayed';
          this.delayed[l].push(e);
        } else {
          e.where = 'out';
          this.count(e, -1);
          rejected.push(e);
        }
      }
    }
  }

  /**
   * Visits waiting entries in dispatch order; those answered Take leave the queue, Skip ones stay in place, Stop
   * ends the walk (leaving that one), TakeAndStop takes it and ends the walk. At most `maxVisits` entries are looked at (bounds the cost of skipping incompatible requests).
   */
  visitInOrder(visit: (e: T) => Visit, maxVisits = 256): void {
    let visits = 0;
    const skipped: T[] = [];
    let stop = false;
    for (let l = 0; l < this.heaps.length && !stop; l++) {
      const h = this.heaps[l];
      while (!stop && visits < maxVisits) {
        const e = h.pop();
        if (!e) break;
        visits++;
        const v = visit(e);
        if (v === Visit.Take || v === Visit.TakeAndStop) {
          e.where = 'out';
          this.count(e, -1);
          if (v === Visit.TakeAndStop) stop = true;
        } else {
          skipped.push(e);
          if (v === Visit.Stop) stop = true;
        }
      }
      for (const e of skipped) h.push(e); // same (deadline, seq) keys: order is unchanged
      skipped.length = 0;
      const ring = this.delayed[l];
      for (let i = 0; i < ring.length && !stop && visits < maxVisits; i++) {
        const e = ring.at(i)!;
        if (e.where !== 'delayed') continue;
        visits++;
        const v = visit(e);
        if (v === Visit.Take || v === Visit.TakeAndStop) {
          e.where = 'out';
          this.count(e, -1);
        }
        if (v === Visit.Stop || v === Visit.TakeAndStop) stop = true;
      }
      this.delayedHead(l);
      if (visits >= maxVisits) stop = true;
    }
  }

  /** Head of a level's delayed FIFO, dropping entries that already left (lazy removal). */
  private delayedHead(level: number): T | undefined {
    const ring = this.delayed[level];
    let e = ring.peek();
    while (e && e.where !== 'delayed') {
      ring.shift();
      e = ring.peek();
    }
    return e;
  }

  private count(e: T, sign: 1 | -1): void {
    this.levelCount[e.level] += sign;
    this.levelRows[e.level] += sign * e.rows;
    this.total += sign;
    this.totalRows += sign * e.rows;
  }
}
