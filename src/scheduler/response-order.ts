/**
 * preserve_ordering: responses leave in the order requests were admitted, whatever order their batches finish in.
 * Each admitted request has a sequence number; a settled one waits here until every earlier one has settled.
 */
export class ResponseOrder {
  private readonly waiting = new Map<number, () => void>();
  private next = -1;

  /** Called in admission order with increasing seq. */
  admit(seq: number): void {
    if (this.next < 0) this.next = seq;
  }

  settle(seq: number, deliver: () => void): void {
    if (seq !== this.next) {
      this.waiting.set(seq, deliver);
      return;
    }
    deliver();
    this.next++;
    for (let d = this.waiting.get(this.next); d; d = this.waiting.get(this.next)) {
      this.waiting.delete(this.next);
      d();
      this.next++;
    }
  }
}
