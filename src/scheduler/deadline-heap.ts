/** What a DeadlineHeap orders: earliest deadline first, then arrival order (seq). */
export interface HeapEntry {
  /** Arrival order, for ties: set by whoever queues the entry (the Dispatcher numbers them as it admits them). */
  seq: number;
  deadlineUs: number;
  /** Position in the heap's array, -1 when not in a heap (kept by the heap, for O(log n) removal). */
  heapIndex: number;
}

const before = (a: HeapEntry, b: HeapEntry): boolean =>
  a.deadlineUs < b.deadlineUs || (a.deadlineUs === b.deadlineUs && a.seq < b.seq);

/**
 * Binary min-heap ordered by (deadlineUs, seq): earliest deadline first; requests without a deadline
 * (Infinity) come after all with one, in arrival order. Entries know their index, so removal is O(log n).
 */
export class DeadlineHeap<T extends HeapEntry> {
  private readonly a: T[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): T | undefined {
    return this.a[0];
  }

  push(e: T): void {
    e.heapIndex = this.a.length;
    this.a.push(e);
    this.up(e.heapIndex);
  }

  pop(): T | undefined {
    if (this.a.length === 0) return undefined;
    const top = this.a[0];
    this.removeAt(0);
    return top;
  }

  /** Removes e if it is in this heap; returns whether it was. */
  remove(e: T): boolean {
    const i = e.heapIndex;
    if (i < 0 || i >= this.a.length || this.a[i] !== e) return false;
    this.removeAt(i);
    return true;
  }

  private removeAt(i: number): void {
    const gone = this.a[i];
    const last = this.a.pop()!;
    gone.heapIndex = -1;
    if (i === this.a.length) return;
    this.a[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  private up(i: number): void {
    const a = this.a;
    const e = a[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, a[p])) break;
      a[i] = a[p];
      a[i].heapIndex = i;
      i = p;
    }
    a[i] = e;
    e.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    const e = a[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(a[r], a[l]) ? r : l;
      if (!before(a[c], e)) break;
      a[i] = a[c];
      a[i].heapIndex = i;
      i = c;
    }
    a[i] = e;
    e.heapIndex = i;
  }
}
