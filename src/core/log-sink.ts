/**
 * A log destination that never blocks the event loop and never throws: when the destination fails, lines are
 * dropped and counted instead.
 *
 * Why not pino's own destination (sonic-boom 4.2): when the reader of a pipe on stdout is gone, its exit-time
 * `flushSync` retries EPIPE forever (100 ms sleeps, Atomics.wait on the main thread), so a server whose supervisor
 * died could never exit, and no second signal could reach it (the event loop was asleep). Measured before this
 * file existed: issue 14's seven orphaned servers.
 *
 * How each failure is met (fs.writeSync on a non-blocking descriptor; for fd 1 in the main thread, `process.stdout`
 * is touched first, which makes a pipe or socket on stdout non-blocking):
 * - EAGAIN (a pipe whose reader does not keep up): the line waits in a bounded backlog (`maxPendingBytes`), retried
 *   on the next write and by a timer that does not keep the process alive; past the bound new lines are dropped.
 * - EPIPE, ECONNRESET, EBADF, … (the reader is gone for good): this and every later line is dropped, at once.
 * - Anything else (ENOSPC on a full disk, EIO): this line is dropped; the next one tries again.
 * A TTY stays blocking (Node makes it so): a terminal paused with Ctrl-S still pauses the server.
 */
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

export interface LogSinkOptions {
  /** Default 1 (stdout). */
  readonly fd?: number;
  /** Bytes that may wait while the destination is full (EAGAIN); default 1 MiB. */
  readonly maxPendingBytes?: number;
  /**
   * Where dropped lines are counted (element 0, with Atomics): an Int32Array over a SharedArrayBuffer lets threads
   * that log to the same descriptor share one count. Default: a counter of this sink's own.
   */
  readonly dropped?: Int32Array;
  /** The write call (fs.writeSync's shape); tests inject failures with it. */
  readonly write?: (fd: number, data: Uint8Array) => number;
}

/** Codes after which the destination will never take a line again. */
const GONE = new Set(['EPIPE', 'ECONNRESET', 'EBADF', 'ENOTCONN', 'EINVAL', 'EDESTADDRREQ', 'ESHUTDOWN']);

const RETRY_MS = 50;

export class LogSink {
  readonly fd: number;
  private readonly maxPending: number;
  private readonly counter: Int32Array;
  private readonly writeFn: (fd: number, data: Uint8Array) => number;
  /** Whole lines (the first may be the rest of a partly written one), oldest first. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private retry: NodeJS.Timeout | undefined;
  private gone = false;
  /** The code of the latest failure ('' if none). */
  lastError = '';

  constructor(options: LogSinkOptions = {}) {
    this.fd = options.fd ?? 1;
    this.maxPending = options.maxPendingBytes ?? 1 << 20;
    this.counter = options.dropped ?? new Int32Array(1);
    this.writeFn = options.write ?? writeSync;
    // Creating process.stdout makes a pipe or socket on fd 1 non-blocking (libuv): writeSync then answers EAGAIN
    // instead of waiting for a reader that may never read.
    if (this.fd === 1 && isMainThread && options.write === undefined) void process.stdout.isTTY;
  }

  /** Lines dropped so far (by every sink sharing the counter). */
  get dropped(): number {
    return Atomics.load(this.counter, 0);
  }

  /** Whether the destination is gone for good (every line is now dropped). */
  get broken(): boolean {
    return this.gone;
  }

  /** pino's destination interface: one or more whole lines. Never throws, never blocks. */
  write(line: string): boolean {
    if (this.gone) {
      this.drop(1);
      return true;
    }
    const buf = Buffer.from(line, 'utf8');
    if (this.pending.length > 0) this.flush();
    if (this.gone) {
      this.drop(1);
      return true;
    }
    if (this.pending.length > 0) {
      this.enqueue(buf);
      return true;
    }
    this.writeOut(buf);
    return true;
  }

  /** Writes what waits, as far as the destination takes it now. Never blocks. */
  flush(): void {
    while (this.pending.length > 0 && !this.gone) {
      const head = this.pending[0];
      const n = this.tryWrite(head);
      if (n === -2) return; // full: the timer tries again
      if (n === -1) continue; // dropped (tryWrite took it off), or gone (the loop ends)
      if (n < head.length) {
        this.pending[0] = head.subarray(n);
        this.pendingBytes -= n;
        this.schedule();
        return;
      }
      this.pending.shift();
      this.pendingBytes -= head.length;
    }
  }

  private writeOut(buf: Buffer): void {
    const n = this.tryWrite(buf);
    if (n === -2) this.enqueue(buf); // full: wait
    else if (n >= 0 && n < buf.length) this.enqueue(buf.subarray(n));
  }

  /** Bytes written; -1 when the line was dropped (or the sink is gone), -2 when the destination is full. */
  private tryWrite(buf: Buffer): number {
    try {
      return this.writeFn(this.fd, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
      this.lastError = code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        this.schedule();
        return -2;
      }
      if (GONE.has(code)) {
        this.gone = true;
        this.drop(this.pending.length + (this.pending[0] === buf ? 0 : 1));
        this.pending = [];
        this.pendingBytes = 0;
        if (this.retry) clearTimeout(this.retry);
        return -1;
      }
      // A full disk, an I/O error: this line is lost, later ones may pass.
      if (this.pending[0] === buf) {
        this.pending.shift();
        this.pendingBytes -= buf.length;
      }
      this.drop(1);
      return -1;
    }
  }

  private enqueue(buf: Buffer): void {
    if (this.pendingBytes + buf.length > this.maxPending) {
      this.drop(1);
      return;
    }
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.schedule();
  }

  private schedule(): void {
    if (this.retry !== undefined || this.gone) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, RETRY_MS);
    this.retry.unref();
  }

  private drop(lines: number): void {
    if (lines > 0) Atomics.add(this.counter, 0, lines);
  }
}

/** A counter that sinks in several threads can share (pass it to each as `dropped`). */
export function sharedDropCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}
