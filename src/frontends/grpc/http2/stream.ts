/**
 * One HTTP/2 stream of a server connection (RFC 9113 §5.1, client-initiated): the request's DATA goes to its sink
 * in order (held back while reading is paused, so its flow-control window stops the client), and the answer goes
 * out under both send windows (§6.9). A unary answer — HEADERS, DATA, trailers — leaves in one write when the
 * windows allow it.
 *
 * Ownership: the connection makes the stream and hands it to its listener, which sets `sink` at once; the sink's
 * `closed` runs exactly once: when the answer has ended (with RST_STREAM NO_ERROR if the request was still open), the
 * stream was reset by either side, or its connection went.
 */
import { FRAME_HEADER_BYTES, FrameType, H2Error, headerFramesBytes, rstStreamFrame, windowUpdateFrame,
  writeFrameHeader, writeHeaderFrames } from './frames.js';

/** Where a stream's request goes. */
export interface StreamSink {
  /** A chunk of the request's DATA (a view: copy what must outlive the call). */
  data(chunk: Buffer): void;
  /** The client's END_STREAM: the request is complete. */
  end(): void;
  /** The stream is over (answered and ended, or reset): nothing more will be sent or received. */
  closed(): void;
  /** Written data left the stream's queue after `write` returned false. */
  drained(): void;
}

/** What a stream needs of its connection. */
export interface StreamHost {
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  readonly peerMaxFrame: number;
  /** Connection-level send window. */
  sendWindow: number;
  /** Queues bytes for the socket. */
  send(bytes: Buffer): void;
  /** Queues bytes for the socket from several buffers, in order, in one write (writev): large bodies are not copied. */
  sendParts(parts: readonly Uint8Array[]): void;
  /** Bytes waiting in the socket's buffer: above the high-water mark, writes report backpressure. */
  readonly socketQueued: number;
  /** The stream is done: forget it. */
  release(stream: H2Stream): void;
  /** A stream with data held back by the connection's window. */
  blocked(stream: H2Stream): void;
  /** The stream's receive window to restore, in WINDOW_UPDATEs. */
  readonly recvWindow: number;
}

/** Bytes queued (in a stream and on the socket) past which `write` asks the writer to wait: node streams' default. */
const HIGH_WATER = 16 * 1024;

const NO_SINK: StreamSink = { data() {}, end() {}, closed() {}, drained() {} };

export class H2Stream {
  sink: StreamSink = NO_SINK;
  /** Receive window left (what the client may still send before a WINDOW_UPDATE). */
  recvWindow: number;
  /** Send window left. */
  sendWindow: number;
  remoteEnded = false;
  private localEnded = false;
  private headersSent = false;
  private done = false;
  private paused = false;
  /** DATA received while paused, delivered on resume. */
  private held: Buffer[] = [];
  private heldEnd = false;
  /** Received bytes handed to the sink and not yet returned to the client in a WINDOW_UPDATE. */
  private unacked = 0;
  /** Answer data waiting for window, then the trailers block. */
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private trailers: Buffer | undefined;
  private wantsDrain = false;

  constructor(readonly id: number, private readonly host: StreamHost, sendWindow: number) {
    this.recvWindow = host.recvWindow;
    this.sendWindow = sendWindow;
  }

  get closed(): boolean {
    return this.done;
  }

  /** The answer has ended (END_STREAM sent or queued). */
  get ended(): boolean {
    return this.localEnded;
  }

  /** DATA from the connection (flow control already charged). */
  receive(chunk: Buffer, end: boolean): void {
    if (this.done) return;
    if (end) this.remoteEnded = true;
    if (this.paused) {
      if (chunk.length > 0) this.held.push(Buffer.from(chunk));
      if (end) this.heldEnd = true;
      return;
    }
    if (chunk.length > 0) {
      this.sink.data(chunk);
      this.consumed(chunk.length);
    }
    if (end && !this.done) this.sink.end();
    this.maybeClose();
  }

  /** Padding and other received bytes the sink never sees still return to the window. */
  consumed(n: number): void {
    if (this.remoteEnded || this.done) return;
    this.unacked += n;
    if (this.unacked >= this.host.recvWindow / 2) {
      this.host.send(windowUpdateFrame(this.id, this.unacked));
      this.recvWindow += this.unacked;
      this.unacked = 0;
    }
  }

  /** Stops handing DATA to the sink; the client stops once the stream's window is used up. */
  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const c of held) {
      if (this.done || this.paused) {
        if (this.paused) this.held.push(c);
        continue;
      }
      this.sink.data(c);
      this.consumed(c.length);
    }
    if (this.heldEnd && !this.paused && !this.done) {
      this.heldEnd = false;
      this.sink.end();
      this.maybeClose();
    }
  }

  /** Response headers alone (trailers-only answers pass `endStream`). */
  respond(block: Buffer, endStream: boolean): void {
    if (this.done || this.headersSent) return;
    this.headersSent = true;
    const maxFrame = this.host.peerMaxFrame;
    const reset = endStream && !this.remoteEnded;
    const buf = Buffer.allocUnsafe(headerFramesBytes(block.length, maxFrame) + (reset ? FRAME_HEADER_BYTES + 4 : 0));
    const off = writeHeaderFrames(buf, 0, this.id, block, endStream, maxFrame);
    if (reset) buf.set(rstStreamFrame(this.id, H2Error.NO_ERROR), off);
    this.host.send(buf);
    if (endStream) this.endLocal();
  }

  /**
   * A whole answer: headers, `body` (written in order as DATA), trailers with END_STREAM — one buffer and one write
   * when the send windows hold the body; otherwise what fits now and the rest as WINDOW_UPDATEs come.
   */
  answer(headers: Buffer, body: readonly Uint8Array[], trailers: Buffer): void {
    if (this.done || this.headersSent) return;
    let bodyBytes = 0;
    for (const p of body) bodyBytes += p.length;
    const maxFrame = this.host.peerMaxFrame;
    if (bodyBytes > Math.min(this.sendWindow, this.host.sendWindow) || bodyBytes === 0) {
      this.respond(headers, false);
      for (const p of body) this.write(p);
      this.end(trailers);
      return;
    }
    this.headersSent = true;
    if (bodyBytes > COPY_LIMIT) {
      this.answerParts(headers, body, bodyBytes, trailers);
      return;
    }
    const dataFrames = Math.max(1, Math.ceil(bodyBytes / maxFrame));
    const total = headerFramesBytes(headers.length, maxFrame) + dataFrames * FRAME_HEADER_BYTES + bodyBytes +
      headerFramesBytes(trailers.length, maxFrame) + (this.remoteEnded ? 0 : FRAME_HEADER_BYTES + 4);
    const buf = Buffer.allocUnsafe(total);
    let off = writeHeaderFrames(buf, 0, this.id, headers, false, maxFrame);
    // The parts copied in across frame boundaries.
    forEachDataFrame(body, bodyBytes, maxFrame, (len) => {
      off = writeFrameHeader(buf, off, len, FrameType.DATA, 0, this.id);
    }, (piece) => {
      buf.set(piece, off);
      off += piece.length;
    });
    this.sendWindow -= bodyBytes;
    this.host.sendWindow -= bodyBytes;
    off = writeHeaderFrames(buf, off, this.id, trailers, true, maxFrame);
    if (!this.remoteEnded) buf.set(rstStreamFrame(this.id, H2Error.NO_ERROR), off);
    this.host.send(buf);
    this.endLocal();
  }

  /** A large answer in one writev: frame headers between views of the body's parts, no copy of the body. */
  private answerParts(headers: Buffer, body: readonly Uint8Array[], bodyBytes: number, trailers: Buffer): void {
    const maxFrame = this.host.peerMaxFrame;
    const head = Buffer.allocUnsafe(headerFramesBytes(headers.length, maxFrame));
    writeHeaderFrames(head, 0, this.id, headers, false, maxFrame);
    const out: Uint8Array[] = [head];
    forEachDataFrame(body, bodyBytes, maxFrame, (len) => {
      const fh = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(fh, 0, len, FrameType.DATA, 0, this.id);
      out.push(fh);
    }, (piece) => out.push(piece));
    this.sendWindow -= bodyBytes;
    this.host.sendWindow -= bodyBytes;
    const tail = Buffer.allocUnsafe(headerFramesBytes(trailers.length, maxFrame) + (this.remoteEnded ? 0 : FRAME_HEADER_BYTES + 4));
    const off = writeHeaderFrames(tail, 0, this.id, trailers, true, maxFrame);
    if (!this.remoteEnded) tail.set(rstStreamFrame(this.id, H2Error.NO_ERROR), off);
    out.push(tail);
    this.host.sendParts(out);
    this.endLocal();
  }

  /** Queues DATA (after `respond`). false: the queue is past its high-water mark; `sink.drained` follows. */
  write(data: Uint8Array): boolean {
    if (this.done || this.localEnded) return true;
    if (data.length > 0) {
      this.queue.push(data);
      this.queuedBytes += data.length;
      this.flush();
    }
    const ok = this.queuedBytes + this.host.socketQueued < HIGH_WATER;
    if (!ok) this.wantsDrain = true;
    return ok;
  }

  get needDrain(): boolean {
    return !this.done && this.queuedBytes + this.host.socketQueued >= HIGH_WATER;
  }

  /** Ends the answer with this trailers block once the queued data is out. */
  end(trailers: Buffer): void {
    if (this.done || this.localEnded || this.trailers) return;
    this.trailers = trailers;
    this.flush();
  }

  /** Sends what the windows allow of the queue, then the trailers. The connection calls it on WINDOW_UPDATE. */
  flush(): void {
    if (this.done) return;
    const maxFrame = this.host.peerMaxFrame;
    const out: Buffer[] = [];
    while (this.queueHead < this.queue.length) {
      const allowed = Math.min(this.sendWindow, this.host.sendWindow, maxFrame);
      if (allowed <= 0) {
        this.host.blocked(this);
        break;
      }
      const p = this.queue[this.queueHead];
      const len = Math.min(allowed, p.length);
      const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
      writeFrameHeader(f, 0, len, FrameType.DATA, 0, this.id);
      f.set(len === p.length ? p : p.subarray(0, len), FRAME_HEADER_BYTES);
      out.push(f);
      this.sendWindow -= len;
      this.host.sendWindow -= len;
      this.queuedBytes -= len;
      if (len === p.length) {
        this.queue[this.queueHead++] = EMPTY;
      } else this.queue[this.queueHead] = p.subarray(len);
    }
    if (this.queueHead === this.queue.length && this.queueHead > 0) {
      this.queue = [];
      this.queueHead = 0;
    }
    const finishing = this.trailers !== undefined && this.queuedBytes === 0;
    if (finishing) {
      const t = this.trailers!;
      const buf = Buffer.allocUnsafe(headerFramesBytes(t.length, maxFrame));
      writeHeaderFrames(buf, 0, this.id, t, true, maxFrame);
      out.push(buf);
      if (!this.remoteEnded) out.push(rstStreamFrame(this.id, H2Error.NO_ERROR));
    }
    if (out.length > 0) this.host.send(out.length === 1 ? out[0] : Buffer.concat(out));
    if (finishing) this.endLocal();
    else this.checkDrain();
  }

  /** A writer waits for room (it may not have had a write refused): `sink.drained` follows once there is. */
  awaitDrain(): void {
    this.wantsDrain = true;
    this.checkDrain();
  }

  /** The connection's socket drained, or the queue moved: tell a waiting writer. */
  checkDrain(): void {
    if (this.wantsDrain && !this.done && !this.needDrain) {
      this.wantsDrain = false;
      this.sink.drained();
    }
  }

  /** Resets the stream (RST_STREAM with `code`) and closes it. */
  reset(code: number): void {
    if (this.done) return;
    this.host.send(rstStreamFrame(this.id, code));
    this.close();
  }

  /** The client reset the stream, or the connection went: close without sending. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.held = [];
    this.host.release(this);
    this.sink.closed();
  }

  private endLocal(): void {
    this.localEnded = true;
    // Answered before the request ended: RST_STREAM(NO_ERROR) went out with the END_STREAM (RFC 9113 §8.1).
    this.close();
  }

  private maybeClose(): void {
    if (this.localEnded && this.remoteEnded) this.close();
  }
}

/**
 * Walks `body` (its parts, bodyBytes in all) as DATA frames of at most maxFrame bytes: `frame(len)` before each frame,
 * then `piece(view)` for each part's share of it (a part whole, or a view of its slice across a frame boundary).
 */
function forEachDataFrame(body: readonly Uint8Array[], bodyBytes: number, maxFrame: number,
  frame: (len: number) => void, piece: (view: Uint8Array) => void): void {
  let part = 0;
  let partOff = 0;
  for (let left = bodyBytes; left > 0; left -= Math.min(maxFrame, left)) {
    const len = Math.min(maxFrame, left);
    frame(len);
    for (let need = len; need > 0;) {
      const p = body[part];
      const take = Math.min(need, p.length - partOff);
      piece(take === p.length ? p : p.subarray(partOff, partOff + take));
      need -= take;
      partOff += take;
      if (partOff === p.length) {
        part++;
        partOff = 0;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);
/** Answers with bodies up to this size are copied into one buffer; larger ones go out as views in one writev. */
const COPY_LIMIT = 64 * 1024;
