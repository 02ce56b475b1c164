/**
 * A growable FIFO ring buffer (no Array.prototype.shift on the hot path).
 *
 *   buf: [ . . h x x x x t . . ]   h = head index, t = (head + length) mod capacity; capacity is a power of two.
 *
 * Elements are pushed at the tail and taken from the head; `at(i)` reads the i-th from the head.
 */
export class RingBuffer<T> {
  private buf: Array<T | undefined>;
  private head = 0;
  private len = 0;

  constructor(initialCapacity = 16) {
    let c = 1;
    while (c < initialCapacity) c <<= 1;
    this.buf = new Array(c);
  }

  get length(): number {
    return this.len;
  }

  push(x: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & (this.buf.length - 1)] = x;
    this.len++;
  }

  peek(): T | undefined {
    return this.len === 0 ? undefined : this.buf[this.head];
  }

  shift(): T | undefined {
    if (this.len === 0) return undefined;
    const x = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    return x;
  }

  at(i: number): T | undefined {
    return i < 0 || i >= this.len ? undefined : this.buf[(this.head + i) & (this.buf.length - 1)];
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
