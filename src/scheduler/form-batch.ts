import { type QueueEntry, type RequestQueue, Visit } from './request-queue.js';
import type { QueueState } from './batch-policy.js';

/** What batch formation needs of a queued request beyond its queue fields: a key for "can share a batch". */
export interface BatchableEntry extends QueueEntry {
  /** Requests whose non-batch dimensions (and datatypes) differ have different keys and never share a batch. */
  readonly shapeKey: string;
}

/**
 * Takes whole requests in dispatch order into `out` while their rows fit in `maxRows`, all with the head's shape
 * key; incompatible or too-large requests are skipped and keep their place. With `fits`, the batch also stops
 * growing once its predicted time would pass the earliest deadline in it. The head is always taken (alone if it is
 * larger than maxRows), so a decision to dispatch always dispatches something. Returns the rows taken.
 */
export function formBatch<T extends BatchableEntry>(
  queue: RequestQueue<T>, maxRows: number, out: T[], fits?: (rows: number, earliestDeadlineUs: number) => boolean,
): number {
  let rows = 0;
  let key: string | undefined;
  let earliest = Infinity;
  queue.visitInOrder((e) => {
    if (key === undefined) key = e.shapeKey;
    else if (e.shapeKey !== key) return Visit.Skip;
    if (rows > 0 && rows + e.rows > maxRows) return Visit.Skip;
    // A larger batch takes longer: stop before it would make a request already in it (or this one) miss its deadline.
    if (rows > 0 && fits && !fits(rows + e.rows, Math.min(earliest, e.deadlineUs))) return Visit.Stop;
    earliest = Math.min(earliest, e.deadlineUs);
    rows += e.rows;
    out.push(e);
    return rows >= maxRows ? Visit.TakeAndStop : Visit.Take;
  });
  return rows;
}

/** The queue as a policy sees it (the head's arrival stands for the oldest: it is the next one dispatched). */
export function queueState<T extends QueueEntry>(queue: RequestQueue<T>, maxBatch: number, idle: number, instances: number): QueueState {
  const head = queue.peek();
  return {
    queuedRows: Math.min(queue.rows, maxBatch),
    backlogRows: queue.rows,
    headRows: head ? head.rows : 0,
    oldestArrivalUs: head ? head.arrivalUs : 0,
    earliestDeadlineUs: queue.nextDeadlineUs(),
    idleInstances: idle,
    instances,
  };
}
