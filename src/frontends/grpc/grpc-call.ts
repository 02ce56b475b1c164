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
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { gunzip, inflate } from 'node:zlib';
import { CancelSource, InferenceError, type RequestLimits } from '../../core/index.js';

/** What calls share: the limits, and the bytes held in messages still arriving (all calls of the frontend). */
export interface CallHost {
  readonly limits: RequestLimits;
  arriving: number;
}

const OK_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [constants.HTTP2_HEADER_STATUS]: 200, [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  'grpc-accept-encoding': 'identity,deflate,gzip',
});
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });
const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });
const END_STREAM = Object.freeze({ endStream: true });

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

const CALL = Symbol('grpc call');
type CallStream = ServerHttp2Stream & { [CALL]: GrpcCall };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL].data(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL].end();
}
function onStreamClose(this: CallStream): void {
  this[CALL].closed();
}
function onWantTrailers(this: CallStream): void {
  this[CALL].trailers();
}
/** A reset stream emits 'error'; the call then ends through 'close'. */
function ignore(): void {}

/** grpc-message is percent-encoded (bytes outside printable ASCII, and '%'). */
function percentEncode(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x24\x26-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}

function trailersOf(err: InferenceError): OutgoingHttpHeaders {
  const t: OutgoingHttpHeaders = { 'grpc-status': String(err.grpcStatus), 'grpc-message': percentEncode(err.message) };
  if (err.retryAfterSec !== undefined) t['retry-after'] = String(Math.max(0, Math.ceil(err.retryAfterSec)));
  return t;
}

/** grpc-timeout: an ASCII integer of at most 8 digits and a unit (H M S m u n); undefined when malformed. */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
export function parseGrpcTimeout(v: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * TIMEOUT_UNIT_MS[m[2]] : undefined;
}

export class GrpcCall {
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
  private finalTrailers: OutgoingHttpHeaders = OK_TRAILERS;
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

  constructor(readonly stream: ServerHttp2Stream, headers: IncomingHttpHeaders, private readonly host: CallHost,
    private readonly handler: CallHandler) {
    this.receivedUs = performance.now() * 1000;
    this.encoding = String(headers['grpc-encoding'] ?? 'identity');
    const auth = headers.authorization;
    this.authorization = typeof auth === 'string' ? auth : undefined;
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(String(timeout));
      if (ms === undefined) {
        queueMicrotask(() => this.fail(new InferenceError('INVALID_ARGUMENT', `malformed grpc-timeout '${String(timeout)}'`)));
      } else {
        this.deadline = setTimeout(() => this.fail(new InferenceError('DEADLINE_EXCEEDED', `the call's deadline (grpc-timeout ${String(timeout)}) passed`)), ms);
      }
    }
    (stream as CallStream)[CALL] = this;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
    stream.on('error', ignore);
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

  /** node:http2 asks for the trailers once the reply's data is out. */
  trailers(): void {
    try {
      this.stream.sendTrailers(this.finalTrailers);
    } catch {
      // The stream went away meanwhile: nobody is left to tell.
    }
  }

  private usable(): boolean {
    const s = this.stream;
    return !s.destroyed && !s.closed;
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond(OK_HEADERS, WAIT_FOR_TRAILERS);
    this.stream.on('wantTrailers', onWantTrailers);
  }

  /** Unary success: headers, the framed reply (5-byte prefix included), trailers with grpc-status 0. */
  reply(framed: Buffer): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.usable()) return;
    this.respond();
    this.stream.end(framed);
  }

  /** Unary success from parts written in order (together one framed reply). */
  replyParts(parts: readonly Uint8Array[]): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.usable()) return;
    this.respond();
    const s = this.stream;
    if (parts.length === 1) {
      s.end(parts[0]);
      return;
    }
    s.cork();
    for (let i = 0; i < parts.length - 1; i++) s.write(parts[i]);
    s.end(parts[parts.length - 1]);
    s.uncork();
  }

  /** Streaming: one framed reply message. false: the stream's write buffer is full (wait for `whenDrained`). */
  write(framed: Buffer): boolean {
    if (this.done || !this.usable()) return true;
    this.respond();
    return this.stream.write(framed);
  }

  /** Streaming: whether written replies wait in the stream's buffer past its high-water mark (a client not reading). */
  get writeBlocked(): boolean {
    return this.stream.writableNeedDrain;
  }

  /** Streaming: calls `fn` once the write buffer has drained (or the stream closed). */
  whenDrained(fn: () => void): void {
    this.stream.once('drain', fn);
  }

  /**
   * Streaming: stop (or go on) reading request messages. Paused, the stream's DATA is not consumed, so HTTP/2 flow
   * control stops the client once the stream's window (STREAM_WINDOW) is full.
   */
  pauseReading(): void {
    this.stream.pause();
  }

  resumeReading(): void {
    if (!this.done) this.stream.resume();
  }

  /** Streaming: ends the call with grpc-status 0 after the messages written. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.usable()) return;
    this.respond();
    this.stream.end();
  }

  /** Ends the call with an error status: trailers-only before any reply, else in the trailers. */
  fail(err: InferenceError): void {
    if (this.done) return;
    this.done = true;
    if (this.deadline) clearTimeout(this.deadline);
    this.releaseArriving();
    this.cancel.abort();
    if (!this.usable()) return;
    const trailers = trailersOf(err);
    if (this.responded) {
      this.finalTrailers = trailers;
      this.stream.end();
    } else {
      this.stream.respond({ ...OK_HEADERS, ...trailers }, END_STREAM);
    }
    // Whatever the client is still sending is not wanted: RST_STREAM(NO_ERROR) once the answer is out.
    if (!this.stream.readableEnded) this.stream.close(constants.NGHTTP2_NO_ERROR);
  }
}
