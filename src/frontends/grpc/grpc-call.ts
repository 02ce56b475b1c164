/**
 * One gRPC call over one HTTP/2 stream (the gRPC-over-HTTP/2 protocol, grpc/doc/PROTOCOL-HTTP2.md): requests arrive
 * as length-prefixed messages in DATA frames, the reply is response headers, length-prefixed messages, and trailers
 * carrying grpc-status and grpc-message (or headers alone — "trailers-only" — for an error before any reply).
 *
 * Reading: a message that arrives whole in one chunk is passed on as a view of it (no copy); one split over chunks
 * is joined once. Limits, checked as bytes arrive: a message's declared length against the body limit (refused from
 * its 5-byte prefix, before its bytes are read), and the bytes every call of the frontend holds in partly received
 * messages against the in-flight bytes bound. Compressed messages (grpc-encoding gzip or deflate) are inflated with
 * the body limit as the output bound. Protocol violations the gRPC spec answers with INTERNAL (a compressed message
 * without grpc-encoding, a malformed grpc-timeout) are INVALID_ARGUMENT here: INTERNAL means a bug of ours in the
 * error catalog (docs/errors.md).
 *
 * Ownership: the frontend makes a call per stream with its method's handler, which ends it exactly once with
 * `reply`/`replyParts` (unary), or `write`s and then `finish` (streaming); `fail` ends it with an error from any
 * state. After the client cancels (or the deadline passes) the call's `cancel` signal is aborted and its writes do
 * nothing.
 */
import { performance } from 'node:perf_hooks';
import { gunzip, inflate } from 'node:zlib';
import { CancelSource, InferenceError, type RequestLimits } from '../../core/index.js';
import type { RequestHeaders } from './http2/connection.js';
import { encodeHeaders } from './http2/hpack.js';
import type { H2Stream, StreamSink } from './http2/stream.js';

/** What calls share: the limits, and the bytes held in messages still arriving (all calls of the frontend). */
export interface CallHost {
  readonly limits: RequestLimits;
  arriving: number;
}

const OK_FIELDS: readonly (readonly [string, string])[] = [[':status', '200'], ['content-type', 'application/grpc'],
  ['grpc-accept-encoding', 'identity,deflate,gzip']];
/** The response headers and the success trailers, encoded once. */
const OK_HEADERS = encodeHeaders(OK_FIELDS);
const OK_TRAILERS = encodeHeaders([['grpc-status', '0']]);

/**
 * What a call's messages go to: one object per method, shared by its calls (per-call state lives on the call), so a
 * call costs no closures of its own.
 */
export interface CallHandler {
  /** Each request message, in order (`call.messages` counts them, this one included). */
  message(call: GrpcCall, bytes: Buffer): void;
  /** The client has sent its last message, and every message was passed on. */
  halfClose(call: GrpcCall): void;
}

/** grpc-message is percent-encoded (bytes outside printable ASCII, and '%'). */
function percentEncode(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x24\x26-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}

/** An error's status fields: grpc-status, grpc-message, and retry-after when the error has one. */
function statusFields(err: InferenceError): [string, string][] {
  const t: [string, string][] = [['grpc-status', String(err.grpcStatus)], ['grpc-message', percentEncode(err.message)]];
  if (err.retryAfterSec !== undefined) t.push(['retry-after', String(Math.max(0, Math.ceil(err.retryAfterSec)))]);
  return t;
}

/** grpc-timeout: an ASCII integer of at most 8 digits and a unit (H M S m u n); undefined when malformed. */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
export function parseGrpcTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]] : undefined;
}

export class GrpcCall implements StreamSink {
  /** performance.now() × 1000 when the call's headers arrived. */
  readonly receivedUs: number;
  /** Aborted when the client cancels, the deadline passes, or the call fails. */
  readonly cancel = new CancelSource();
  /** Request messages passed on so far. */
  messages = 0;
  /** The handler's own state for this call (streaming calls keep their reply queue here). */
  state: unknown;
  /** The call's `authorization` metadata (the repository RPCs check the control token). */
  readonly authorization: string | undefined;

  private responded = false;
  private done = false;
  private drainWaiters: (() => void)[] = [];
  private deadline: NodeJS.Timeout | undefined;
  // Reading state: the 5-byte prefix (rarely split), then `need` bytes gathered in `parts`.
  private prefix: Buffer | undefined;
  private prefixHave = 0;
  private need = -1;
  private compressed = false;
  private parts: Buffer[] = [];
  private have = 0;
  /** Compressed messages inflate asynchronously; later messages wait behind them to keep the order. */
  private chain: Promise<void> | undefined;
  private readonly encoding: string;

  /** Becomes the stream's sink. */
  constructor(private readonly stream: H2Stream, headers: RequestHeaders, private readonly host: CallHost,
    private readonly handler: CallHandler) {
    this.receivedUs = performance.now() * 1000;
    this.encoding = headers['grpc-encoding'] ?? 'identity';
    this.authorization = headers.authorization;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(String(timeout));
      if (ms === undefined) {
        queueMicrotask(() => this.fail(new InferenceError('INVALID_ARGUMENT', `malformed grpc-timeout '${String(timeout)}'`)));
      } else {
        this.deadline = setTimeout(() => this.fail(new InferenceError('DEADLINE_EXCEEDED', `the call's deadline (grpc-timeout ${String(timeout)}) passed`)), ms);
      }
    }
    stream.sink = this;
  }

  get finished(): boolean {
    return this.done;
  }

  /** The stream closed (answered, reset by the client, or cut). */
  closed(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.releaseArriving();
    if (!this.done) {
      this.done = true;
      this.cancel.abort();
    }
    this.drained();
  }

  /** The stream's queued replies went out (or it closed): writers waiting in `whenDrained` go on. */
  drained(): void {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  }

  private releaseArriving(): void {
    if (this.have > 0) {
      this.host.arriving -= this.have;
      this.have = 0;
      this.parts = [];
    }
  }

  /** A chunk of the request's DATA frames. */
  data(chunk: Buffer): void {
    if (this.done) return;
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.need === -1) {
        // The prefix: compressed flag, then the length (4 bytes, big-endian).
        let flag: number;
        let len: number;
        if (this.prefixHave === 0 && n - off >= 5) {
          flag = chunk[off];
          len = chunk.readUInt32BE(off + 1);
          off += 5;
        } else {
          const p = (this.prefix ??= Buffer.allocUnsafe(5));
          const take = Math.min(5 - this.prefixHave, n - off);
          chunk.copy(p, this.prefixHave, off, off + take);
          this.prefixHave += take;
          off += take;
          if (this.prefixHave < 5) return;
          this.prefixHave = 0;
          flag = p[0];
          len = p.readUInt32BE(1);
        }
        if (flag > 1) {
          this.fail(new InferenceError('INVALID_ARGUMENT', `a message's compressed flag is ${flag}: it must be 0 or 1`));
          return;
        }
        const limit = this.host.limits.maxBodyBytes;
        if (len > limit) {
          this.fail(new InferenceError('PAYLOAD_TOO_LARGE', `request message of ${len} bytes exceeds the limit of ${limit} bytes (--max-request-body-bytes)`));
          return;
        }
        this.compressed = flag === 1;
        if (n - off >= len) {
          this.message(chunk.subarray(off, off + len));
          off += len;
          continue;
        }
        this.need = len;
      }
      const take = Math.min(this.need - this.have, n - off);
      const max = this.host.limits.maxInflightBytes;
      if (this.host.arriving + take > max && this.host.arriving > 0) {
        this.fail(new InferenceError('UNAVAILABLE', `the server holds ${this.host.arriving} bytes of requests still arriving ` +
          `(--max-inflight-bytes ${max})`, { retryAfterSec: 1 }));
        return;
      }
      this.parts.push(chunk.subarray(off, off + take));
      this.have += take;
      this.host.arriving += take;
      off += take;
      if (this.have === this.need) {
        const whole = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.need);
        this.releaseArriving();
        this.need = -1;
        this.message(whole);
      }
    }
  }

  private message(bytes: Buffer): void {
    if (!this.compressed && this.chain === undefined) {
      this.messages++;
      this.handler.message(this, bytes);
      return;
    }
    const compressed = this.compressed;
    const prev = this.chain ?? Promise.resolve();
    const next: Promise<void> = prev.then(() => (compressed ? this.inflate(bytes) : bytes)).then((m) => {
      if (this.chain === next) this.chain = undefined;
      if (m && !this.done) {
        this.messages++;
        this.handler.message(this, m);
      }
    });
    this.chain = next;
  }

  private inflate(bytes: Buffer): Promise<Buffer | undefined> {
    const enc = this.encoding;
    if (enc !== 'gzip' && enc !== 'deflate') {
      this.fail(enc === 'identity'
        ? new InferenceError('INVALID_ARGUMENT', 'a message is marked compressed but the call has no grpc-encoding')
        : new InferenceError('UNIMPLEMENTED', `grpc-encoding '${enc}' is not supported (identity, deflate, gzip are)`));
      return Promise.resolve(undefined);
    }
    const limit = this.host.limits.maxBodyBytes;
    return new Promise((resolve) => {
      (enc === 'gzip' ? gunzip : inflate)(bytes, { maxOutputLength: limit }, (err, out) => {
        if (!err) return resolve(out);
        this.fail((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
          ? new InferenceError('PAYLOAD_TOO_LARGE', `request message inflates past the limit of ${limit} bytes (--max-request-body-bytes)`)
          : new InferenceError('INVALID_ARGUMENT', `request message could not be inflated (${enc}): ${err.message}`));
        resolve(undefined);
      });
    });
  }

  /** The client's END_STREAM: no more messages. */
  end(): void {
    if (this.done) return;
    if (this.need !== -1 || this.prefixHave > 0) {
      this.fail(new InferenceError('INVALID_ARGUMENT', 'the request ended inside a message (truncated length-prefixed message)'));
      return;
    }
    if (this.chain) void this.chain.then(() => { if (!this.done) this.handler.halfClose(this); });
    else this.handler.halfClose(this);
  }

  private usable(): boolean {
    return !this.stream.closed;
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond(OK_HEADERS, false);
  }

  /** Unary success: headers, the framed reply (5-byte prefix included), trailers with grpc-status 0 — one write. */
  reply(framed: Buffer): void {
    this.replyParts([framed]);
  }

  /** Unary success from parts written in order (together one framed reply). */
  replyParts(parts: readonly Uint8Array[]): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.usable()) return;
    this.responded = true;
    this.stream.answer(OK_HEADERS, parts, OK_TRAILERS);
  }

  /** Streaming: one framed reply message. false: replies wait past the high-water mark (wait for `whenDrained`). */
  write(framed: Buffer): boolean {
    if (this.done || !this.usable()) return true;
    this.respond();
    return this.stream.write(framed);
  }

  /** Streaming: whether written replies wait past the high-water mark (a client not reading). */
  get writeBlocked(): boolean {
    // A finished call waits for nothing: its connection's socket may stay full (a client that stopped reading), and a
    // writer that kept waiting would loop through whenDrained's immediate callbacks.
    return !this.done && this.stream.needDrain;
  }

  /** Streaming: calls `fn` once the queued replies have drained (or the stream closed). */
  whenDrained(fn: () => void): void {
    if (this.done || !this.stream.needDrain) queueMicrotask(fn);
    else {
      // The buffer may be full from other streams' answers, with no write of this one refused: ask to be told.
      this.drainWaiters.push(fn);
      this.stream.awaitDrain();
    }
  }

  /**
   * Streaming: stop (or go on) reading request messages. Paused, the stream's DATA is not consumed, so HTTP/2 flow
   * control stops the client once the stream's window is full.
   */
  pauseReading(): void {
    this.stream.pauseReading();
  }

  resumeReading(): void {
    if (!this.done) this.stream.resumeReading();
  }

  /** Streaming: ends the call with grpc-status 0 after the messages written. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.usable()) return;
    this.respond();
    this.stream.end(OK_TRAILERS);
  }

  /**
   * Ends the call with an error status: trailers-only before any reply, else in the trailers. Whatever the client is
   * still sending is not wanted: the stream resets itself (NO_ERROR) once the answer is out.
   */
  fail(err: InferenceError): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    this.releaseArriving();
    this.cancel.abort();
    if (!this.usable()) return;
    if (this.responded) this.stream.end(encodeHeaders(statusFields(err)));
    else {
      this.responded = true;
      this.stream.respond(encodeHeaders([...OK_FIELDS, ...statusFields(err)]), true);
    }
  }
}
