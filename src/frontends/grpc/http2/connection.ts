/**
 * The server side of one HTTP/2 connection (RFC 9113) over a node:net socket — the subset gRPC uses: the preface,
 * SETTINGS, HEADERS and CONTINUATION (HPACK, RFC 7541), DATA under both flow-control windows, RST_STREAM, PING,
 * WINDOW_UPDATE, GOAWAY; PRIORITY and unknown frame types are ignored, PUSH_PROMISE from a client is an error.
 * Protocol errors end the connection with GOAWAY and the error's code; stream errors reset the stream.
 *
 * Why not node:http2: it costs ~20 µs of CPU per call (node:http ~12.5) and writes every unary answer in two
 * syscalls, the trailers apart; here an answer is one buffer and one write (bench/grpc-h2-transport.ts).
 *
 * Output written while a socket read is being handled goes out in one write at its end (WINDOW_UPDATEs, PING and
 * SETTINGS ACKs, errors); answers produced later go out at once, each in its own write — holding a batch's answers
 * to the end of the tick measured no better (bench/README.md, "gRPC"). Past `maxQueuedBytes` waiting on the socket (a
 * client that does not read) the connection stops reading it until it drains.
 */
import type { Socket } from 'node:net';
import { HpackDecoder, HpackError, type HeaderList } from './hpack.js';
import { requestHeaders, type RequestHeaders } from './request-headers.js';
import { DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FRAME_HEADER_BYTES, Flag, FrameType, H2Error, MAX_WINDOW, PREFACE, Setting,
  frame, goawayFrame, rstStreamFrame, settingsFrame, windowUpdateFrame } from './frames.js';
import { H2Stream, type StreamHost } from './stream.js';
import { ConnectionError, HeaderBlock, headersFragment, readSettings, unpad } from './frame-rules.js';

export type { RequestHeaders } from './request-headers.js';

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams past it are refused (RST_STREAM REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before the server reads it. */
  readonly streamWindow: number;
  /** The connection's receive window (WINDOW_UPDATE on stream 0 at the start). */
  readonly connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a larger request header list is answered 431. */
  readonly maxHeaderListSize: number;
  /** Socket bytes waiting to be written past which reading the connection pauses. */
  readonly maxQueuedBytes: number;
}

/** Called for each new stream with its headers; must set `stream.sink` before returning. */
export type StreamListener = (stream: H2Stream, headers: RequestHeaders) => void;

const STATUS_431 = Buffer.from([0x08, 3, 0x34, 0x33, 0x31]); // :status 431 (name from static index 8, literal value)
const STATUS_400 = Buffer.from([0x8c]); // :status 400, indexed: static index 12
/** After the server ends a connection, how long the peer has to close its side before the socket is destroyed. */
const END_GRACE_MS = 5_000;

export class H2Connection implements StreamHost {
  readonly streams = new Map<number, H2Stream>();
  peerMaxFrame = DEFAULT_MAX_FRAME;
  sendWindow = DEFAULT_WINDOW;
  readonly recvWindow: number;
  private peerStreamWindow = DEFAULT_WINDOW;
  private readonly decoder = new HpackDecoder();
  /** Highest stream id the client opened. */
  private lastStream = 0;
  private prefaceSeen = false;
  private settingsSeen = false;
  private connRecvWindow: number;
  private connUnacked = 0;
  /** A header block in progress: HEADERS without END_HEADERS, waiting for CONTINUATION. */
  private headerBlock: HeaderBlock | undefined;
  /** Socket bytes not yet a whole frame. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private need = PREFACE.length;
  private inRead = false;
  private out: Buffer[] = [];
  private outBytes = 0;
  private readonly blockedStreams = new Set<H2Stream>();
  private goingAway = false;
  private dead = false;
  private readPaused = false;

  constructor(private readonly socket: Socket, private readonly limits: H2Limits, private readonly onStream: StreamListener,
    private readonly onError: (err: Error) => void = () => {}) {
    this.recvWindow = limits.streamWindow;
    socket.setNoDelay(true);
    const start = [settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, limits.streamWindow], [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize]])];
    if (limits.connectionWindow > DEFAULT_WINDOW) start.push(windowUpdateFrame(0, limits.connectionWindow - DEFAULT_WINDOW));
    socket.write(Buffer.concat(start));
    this.connRecvWindow = Math.max(limits.connectionWindow, DEFAULT_WINDOW);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('drain', () => this.drained());
    socket.on('error', (err) => this.onError(err));
    socket.on('close', () => this.closeAll());
  }

  get socketQueued(): number {
    return this.socket.writableLength;
  }

  /** Graceful close (GOAWAY NO_ERROR): no new streams; the socket ends once the open ones are done. */
  close(): void {
    if (this.goingAway || this.dead) return;
    this.goingAway = true;
    this.send(goawayFrame(this.lastStream, H2Error.NO_ERROR));
    if (this.streams.size === 0) this.endSocket();
  }

  /** Cuts the connection now. */
  destroy(): void {
    this.socket.destroy();
    this.closeAll();
  }

  send(bytes: Buffer): void {
    if (this.dead) return;
    if (this.inRead) {
      this.out.push(bytes);
      this.outBytes += bytes.length;
      this.checkQueued();
      return;
    }
    this.socket.write(bytes);
    this.checkQueued();
  }

  sendParts(parts: readonly Uint8Array[]): void {
    if (this.dead) return;
    if (this.inRead) {
      for (const p of parts) this.send(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      return;
    }
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
    this.checkQueued();
  }

  release(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.blockedStreams.delete(stream);
    if (this.goingAway && this.streams.size === 0 && !this.dead) this.endSocket();
  }

  blocked(stream: H2Stream): void {
    this.blockedStreams.add(stream);
  }

  /** Past the bound of queued output, frames already read wait too (one socket read can hold thousands of requests). */
  private checkQueued(): void {
    if (!this.readPaused && this.socket.writableLength + this.outBytes > this.limits.maxQueuedBytes) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  private drained(): void {
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
      this.read(undefined);
    }
    // Outside a read's try: a handler that throws while its stream resumes must end this connection, not the process.
    try {
      for (const s of this.streams.values()) s.checkDrain();
    } catch (err) {
      this.fail(new ConnectionError(H2Error.INTERNAL_ERROR, (err as Error).message));
    }
  }

  private flushOut(): void {
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    this.outBytes = 0;
    this.socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    this.checkQueued();
  }

  private closeAll(): void {
    this.dead = true;
    for (const s of [...this.streams.values()]) s.close();
  }

  /** Ends the connection for a protocol violation: GOAWAY with the error, then close. */
  private fail(err: ConnectionError): void {
    if (this.dead) return;
    this.out.push(goawayFrame(this.lastStream, err.code, err.message));
    this.endSocket();
    this.onError(err);
    this.closeAll();
  }

  /**
   * Ends the socket after everything queued (a read's batched output included: ending first would drop it, and its
   * writes would fail after the end); nothing is sent after. A peer that does not close its side in END_GRACE_MS
   * (or never reads) is cut, so it cannot hold the connection's slot.
   */
  private endSocket(): void {
    this.flushOut();
    this.dead = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  /** A socket read (or, with none, going on with frames held back while output was over its bound). */
  private read(chunk: Buffer | undefined): void {
    if (this.dead) return;
    if (chunk) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    if (this.readPaused || this.pendingBytes < this.need || this.pendingBytes === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.inRead = true;
    let off = 0;
    try {
      off = this.frames(buf);
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err);
      else this.fail(new ConnectionError(H2Error.INTERNAL_ERROR, (err as Error).message));
    } finally {
      this.inRead = false;
    }
    if (this.dead) return;
    const rest = buf.length - off;
    this.pending = rest > 0 ? [buf.subarray(off)] : [];
    this.pendingBytes = rest;
    this.flushOut();
    // Paused for output the socket took at once: no 'drain' will come, so go on (after this turn).
    if (this.readPaused && !this.socket.writableNeedDrain) setImmediate(() => this.drained());
  }

  /** Handles every whole frame in `buf`; returns the offset after the last. */
  private frames(buf: Buffer): number {
    let off = 0;
    if (!this.prefaceSeen) {
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'not the HTTP/2 connection preface');
      this.prefaceSeen = true;
      off = PREFACE.length;
    }
    while (buf.length - off >= FRAME_HEADER_BYTES) {
      const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (len > DEFAULT_MAX_FRAME) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `a frame of ${len} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME}`);
      if (buf.length - off < FRAME_HEADER_BYTES + len) {
        this.need = FRAME_HEADER_BYTES + len;
        return off;
      }
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
      const payload = buf.subarray(off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + len);
      off += FRAME_HEADER_BYTES + len;
      this.frame(type, flags, id, payload);
      if (this.dead) return off;
      if (this.readPaused) {
        this.need = FRAME_HEADER_BYTES;
        return off;
      }
    }
    this.need = FRAME_HEADER_BYTES;
    return off;
  }

  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (!this.settingsSeen) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK)) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the connection preface must be followed by SETTINGS');
      this.settingsSeen = true;
    }
    if (this.headerBlock && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `a ${type} frame arrived inside a header block (CONTINUATION expected)`);
    }
    switch (type) {
      case FrameType.DATA: return this.data(flags, id, payload);
      case FrameType.HEADERS: return this.headers(flags, id, payload);
      case FrameType.CONTINUATION: return this.continuation(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.streams.get(id)?.reset(H2Error.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM: return this.rstStream(id, payload);
      case FrameType.SETTINGS: return this.settings(flags, id, payload);
      case FrameType.PUSH_PROMISE: throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `PING of ${payload.length} bytes`);
        if (!(flags & Flag.ACK)) this.send(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `GOAWAY of ${payload.length} bytes`);
        this.close();
        return;
      case FrameType.WINDOW_UPDATE: return this.windowUpdate(id, payload);
      default: return; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  private data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    const data = unpad(flags, payload, 'DATA');
    // The whole frame counts against both windows, padding included (§6.9.1); the connection's is returned at once
    // (each stream's own window bounds what it holds).
    this.connRecvWindow -= payload.length;
    if (this.connRecvWindow < 0) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA past the connection window');
    this.connUnacked += payload.length;
    if (this.connUnacked >= this.limits.connectionWindow / 2) {
      this.send(windowUpdateFrame(0, this.connUnacked));
      this.connRecvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStream) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // A stream already closed (answered or reset): late frames are ignored (§5.4.2).
    }
    if (s.remoteEnded) {
      s.reset(H2Error.STREAM_CLOSED);
      return;
    }
    s.recvWindow -= payload.length;
    if (s.recvWindow < 0) {
      s.reset(H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    s.receive(data, (flags & Flag.END_STREAM) !== 0);
    if (payload.length > data.length) s.consumed(payload.length - data.length);
  }

  private headers(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || id % 2 === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${id} (client streams are odd)`);
    const fragment = headersFragment(flags, payload);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) this.headerList(id, endStream, fragment);
    else this.headerBlock = new HeaderBlock(id, endStream, fragment, this.limits.maxHeaderListSize);
  }

  private continuation(flags: number, id: number, payload: Buffer): void {
    const hb = this.headerBlock;
    if (!hb || hb.stream !== id) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `CONTINUATION on stream ${id} without a header block in progress there`);
    hb.add(payload);
    if (flags & Flag.END_HEADERS) {
      this.headerBlock = undefined;
      this.headerList(id, hb.endStream, hb.whole());
    }
  }

  private headerList(id: number, endStream: boolean, block: Buffer): void {
    let list: HeaderList;
    try {
      list = this.decoder.decode(block, this.limits.maxHeaderListSize);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const existing = this.streams.get(id);
    if (existing) {
      // Trailers: they must end the stream (§8.1); gRPC requests have none to read.
      if (existing.remoteEnded || !endStream) existing.reset(existing.remoteEnded ? H2Error.STREAM_CLOSED : H2Error.PROTOCOL_ERROR);
      else existing.receive(EMPTY, true);
      return;
    }
    if (id <= this.lastStream) return; // A closed stream's late trailers: ignored, the block decoded for the table.
    this.lastStream = id;
    if (this.goingAway) return; // Past our GOAWAY's last stream id: not processed (§6.8).
    const s = new H2Stream(id, this, this.peerStreamWindow);
    if (this.streams.size >= this.limits.maxConcurrentStreams) {
      this.send(rstStreamFrame(id, H2Error.REFUSED_STREAM));
      return;
    }
    this.streams.set(id, s);
    if (endStream) s.remoteEnded = true;
    if (list.oversized) {
      s.respond(STATUS_431, true);
      return;
    }
    const headers = requestHeaders(list);
    if (typeof headers === 'string') {
      // A malformed request (§8.1.1): a stream error; answered 400 first so a client sees why.
      s.respond(STATUS_400, true);
      return;
    }
    this.onStream(s, headers);
    if (endStream) {
      s.remoteEnded = false;
      s.receive(EMPTY, true);
    }
  }

  private rstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `RST_STREAM of ${payload.length} bytes`);
    if (id > this.lastStream) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    this.streams.get(id)?.close();
  }

  private settings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    const peer = readSettings(payload);
    if (peer.initialWindow !== undefined) {
      const delta = peer.initialWindow - this.peerStreamWindow;
      this.peerStreamWindow = peer.initialWindow;
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'a stream window past 2^31-1');
      }
      if (delta > 0) this.unblock();
    }
    if (peer.maxFrame !== undefined) this.peerMaxFrame = peer.maxFrame;
    this.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
  }

  private windowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${payload.length} bytes`);
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.sendWindow += inc;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window past 2^31-1');
      this.unblock();
      return;
    }
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStream) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (inc === 0) return s.reset(H2Error.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return s.reset(H2Error.FLOW_CONTROL_ERROR);
    s.flush();
  }

  /** Window grew: streams held back send what they now may. */
  private unblock(): void {
    const blocked = [...this.blockedStreams];
    this.blockedStreams.clear();
    for (const s of blocked) s.flush();
  }
}

const EMPTY = Buffer.alloc(0);
