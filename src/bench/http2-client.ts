/**
 * A minimal HTTP/2 client connection (RFC 9113) on node:net for the load generator's gRPC calls: POST streams, each
 * one header block (built once per connection: literals without indexing, so no encoder table) and the request's
 * DATA with END_STREAM; responses parsed frame by frame, their header blocks through one HPACK decoder per
 * connection. Why not node:http2: its per-stream objects and events cost 138–207 µs of client CPU per call, so one
 * client core drove ~0.86× what h2load drives against the same server (issue 11).
 *
 * It reuses the server's frame layout and HPACK pieces (src/frontends/grpc/http2): the same wire format, read from
 * the other side.
 */
import { connect, type Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FRAME_HEADER_BYTES, Flag, FrameType, H2Error, MAX_WINDOW, PREFACE, Setting,
  frame, goawayFrame, settingsFrame, windowUpdateFrame, writeFrameHeader, writeHeaderFrames, headerFramesBytes,
} from '../frontends/grpc/http2/frames.js';
import { ConnectionError, HeaderBlock, headersFragment, readSettings, unpad } from '../frontends/grpc/http2/frame-rules.js';
import { HpackDecoder, HpackError, encodeHeaders, type HeaderList } from '../frontends/grpc/http2/hpack.js';
import type { ConnectionTarget, NetworkErrorKind } from './http1-connection.js';

/** Our receive window, per stream and for the connection: replies of a few MiB are never throttled. */
const RECEIVE_WINDOW = 16 << 20;
/** Window returned to the server once this much of it was consumed. */
const WINDOW_REFILL = RECEIVE_WINDOW / 2;
/** Header lists we accept from the server (a gRPC reply's are a few hundred bytes). */
const MAX_HEADER_LIST = 64 << 10;
const MAX_STREAM_ID = 2 ** 31 - 1;

/** What one stream hears; exactly one of `end` / `fail` is called, once. */
export interface StreamHandler {
  headers(list: HeaderList): void;
  data(chunk: Buffer): void;
  /** The server ended the stream (END_STREAM). */
  end(): void;
  fail(kind: NetworkErrorKind): void;
}

interface Stream {
  readonly id: number;
  readonly handler: StreamHandler;
  readonly path: string;
  /** The whole request, for a retry after REFUSED_STREAM. */
  readonly body: Buffer;
  /** Request bytes not yet sent (flow control or frame size held them back). */
  pending: Buffer;
  sendWindow: number;
  /** DATA bytes received since the last stream WINDOW_UPDATE. */
  received: number;
}

export class Http2ClientConnection {
  private readonly socket: Socket;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, Stream>();
  /** Calls waiting for a stream slot (SETTINGS_MAX_CONCURRENT_STREAMS). */
  private readonly queued: { path: string; body: Buffer; handler: StreamHandler }[] = [];
  /** Streams with request bytes waiting for window. */
  private readonly blocked = new Set<Stream>();
  /** Each path's request header block, encoded once. */
  private readonly requestBlocks = new Map<string, Buffer>();
  private readonly authority: string;
  private nextId = 1;
  private connected = false;
  private corked = false;
  private input: Buffer | undefined;
  private header: HeaderBlock | undefined;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxStreams = Infinity;
  private connSendWindow = DEFAULT_WINDOW;
  private connReceived = 0;
  /** No new streams: GOAWAY received, ids used up, or the socket is gone. */
  closing = false;
  private closed = false;

  constructor(target: ConnectionTarget, private readonly onClose: () => void) {
    this.authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => { this.connected = true; });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.teardown(!this.connected ? 'connect' : err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed');
    });
    socket.on('close', () => this.teardown('closed'));
    this.write(Buffer.concat([
      PREFACE,
      settingsFrame([[Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, RECEIVE_WINDOW], [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST]]),
      windowUpdateFrame(0, RECEIVE_WINDOW - DEFAULT_WINDOW),
    ]));
  }

  /** Opens a stream: a POST to `path` carrying `body`. The handler hears the reply or the failure. */
  request(path: string, body: Buffer, handler: StreamHandler): void {
    if (this.closed || this.nextId > MAX_STREAM_ID) {
      queueMicrotask(() => handler.fail('closed'));
      return;
    }
    if (this.streams.size >= this.peerMaxStreams) {
      this.queued.push({ path, body, handler });
      return;
    }
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_STREAM_ID) this.closing = true;
    const stream: Stream = { id, handler, path, body, pending: body, sendWindow: this.peerInitialWindow, received: 0 };
    this.streams.set(id, stream);
    let block = this.requestBlocks.get(path);
    if (!block) {
      block = encodeHeaders([
        [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', this.authority],
        ['content-type', 'application/grpc'], ['te', 'trailers'],
      ]);
      this.requestBlocks.set(path, block);
    }
    const chunk = Math.min(body.length, this.peerMaxFrame, this.connSendWindow, stream.sendWindow);
    const headerBytes = headerFramesBytes(block.length, this.peerMaxFrame);
    // HEADERS and (the common case) the whole request in one DATA frame: one buffer, one write.
    const out = Buffer.allocUnsafe(headerBytes + FRAME_HEADER_BYTES + chunk);
    let off = writeHeaderFrames(out, 0, id, block, false, this.peerMaxFrame);
    off = writeFrameHeader(out, off, chunk, FrameType.DATA, chunk === body.length ? Flag.END_STREAM : 0, id);
    body.copy(out, off, 0, chunk);
    this.consumeSendWindow(stream, chunk);
    this.write(out);
    if (stream.pending.length > 0) this.blocked.add(stream);
  }

  /** Ends the connection; streams still open fail as 'closed'. */
  close(): void {
    this.teardown('closed', H2Error.NO_ERROR, '');
  }

  private consumeSendWindow(stream: Stream, n: number): void {
    stream.pending = stream.pending.subarray(n);
    stream.sendWindow -= n;
    this.connSendWindow -= n;
  }

  /** Sends what window now allows of blocked requests' bodies. */
  private sendBlocked(): void {
    for (const s of this.blocked) {
      while (s.pending.length > 0) {
        const n = Math.min(s.pending.length, this.peerMaxFrame, this.connSendWindow, s.sendWindow);
        if (n <= 0) break;
        const last = n === s.pending.length;
        this.write(frame(FrameType.DATA, last ? Flag.END_STREAM : 0, s.id, s.pending.subarray(0, n)));
        this.consumeSendWindow(s, n);
      }
      if (s.pending.length === 0) this.blocked.delete(s);
      if (this.connSendWindow <= 0) return;
    }
  }

  /** Writes made in one tick leave in one syscall. */
  private write(buf: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(buf);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let buf = this.input ? Buffer.concat([this.input, chunk]) : chunk;
    this.input = undefined;
    try {
      while (buf.length >= FRAME_HEADER_BYTES) {
        const length = (buf[0] << 16) | (buf[1] << 8) | buf[2];
        if (length > DEFAULT_MAX_FRAME) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `a frame of ${length} bytes (we allow ${DEFAULT_MAX_FRAME})`);
        if (buf.length < FRAME_HEADER_BYTES + length) break;
        const type = buf[3];
        const flags = buf[4];
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
        buf = buf.subarray(FRAME_HEADER_BYTES + length);
        this.onFrame(type, flags, id, payload);
        if (this.closed) return;
      }
    } catch (err) {
      if (!(err instanceof ConnectionError || err instanceof HpackError)) throw err;
      const code = err instanceof ConnectionError ? err.code : H2Error.COMPRESSION_ERROR;
      this.teardown('parse', code, err.message);
      return;
    }
    // A partial frame: kept as a copy, since the next chunk is joined to it.
    if (buf.length > 0) this.input = Buffer.from(buf);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.header && type !== FrameType.CONTINUATION) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    switch (type) {
      case FrameType.DATA: {
        const s = this.streams.get(id);
        this.received(s, payload.length);
        if (!s) return;
        const data = unpad(flags, payload, 'DATA');
        if (data.length > 0) s.handler.data(data);
        if (flags & Flag.END_STREAM) this.endStream(s);
        return;
      }
      case FrameType.HEADERS: {
        const block = new HeaderBlock(id, (flags & Flag.END_STREAM) !== 0, headersFragment(flags, payload), MAX_HEADER_LIST);
        if (flags & Flag.END_HEADERS) this.onHeaderBlock(block);
        else this.header = block;
        return;
      }
      case FrameType.CONTINUATION: {
        const block = this.header;
        if (!block || block.stream !== id) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
        block.add(payload);
        if (flags & Flag.END_HEADERS) {
          this.header = undefined;
          this.onHeaderBlock(block);
        }
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM not 4 bytes');
        const s = this.streams.get(id);
        if (!s) return;
        // §8.7: a refused stream was not processed, so it is retried once another of ours ends (calls sent before
        // the server's SETTINGS arrived may exceed its stream limit); with none open, retrying could not help.
        if (payload.readUInt32BE(0) === H2Error.REFUSED_STREAM && this.streams.size > 1) {
          this.streams.delete(s.id);
          this.blocked.delete(s);
          this.queued.unshift({ path: s.path, body: s.body, handler: s.handler });
          return;
        }
        this.failStream(s, 'reset');
        return;
      }
      case FrameType.SETTINGS: {
        if (flags & Flag.ACK) return;
        const got = readSettings(payload);
        for (let off = 0; off + 6 <= payload.length; off += 6) {
          if (payload.readUInt16BE(off) === Setting.MAX_CONCURRENT_STREAMS) this.peerMaxStreams = payload.readUInt32BE(off + 2);
        }
        if (got.maxFrame !== undefined) this.peerMaxFrame = got.maxFrame;
        if (got.initialWindow !== undefined) {
          // §6.9.2: a new initial window moves every open stream's window by the difference.
          const delta = got.initialWindow - this.peerInitialWindow;
          this.peerInitialWindow = got.initialWindow;
          for (const s of this.streams.values()) s.sendWindow += delta;
        }
        this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
        this.sendBlocked();
        this.startQueued();
        return;
      }
      case FrameType.PING:
        if (!(flags & Flag.ACK)) this.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY: {
        if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        this.closing = true;
        for (const s of [...this.streams.values()]) if (s.id > last) this.failStream(s, 'closed');
        for (const q of this.queued.splice(0)) queueMicrotask(() => q.handler.fail('closed'));
        if (this.streams.size === 0) this.close();
        return;
      }
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE not 4 bytes');
        const inc = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          this.connSendWindow += inc;
          if (this.connSendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
        } else {
          const s = this.streams.get(id);
          if (s) s.sendWindow += inc;
        }
        this.sendBlocked();
        return;
      }
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE after SETTINGS_ENABLE_PUSH 0');
      default:
        // PRIORITY and unknown types are ignored (§5.5).
    }
  }

  /** Flow control of received DATA (padding included): window handed back as it is consumed. */
  private received(s: Stream | undefined, n: number): void {
    this.connReceived += n;
    if (this.connReceived >= WINDOW_REFILL) {
      this.write(windowUpdateFrame(0, this.connReceived));
      this.connReceived = 0;
    }
    if (!s) return;
    s.received += n;
    if (s.received >= WINDOW_REFILL) {
      this.write(windowUpdateFrame(s.id, s.received));
      s.received = 0;
    }
  }

  private onHeaderBlock(block: HeaderBlock): void {
    // Decoded even for a stream we no longer track, so the decoder's table stays in step with the server's encoder.
    const list = this.decoder.decode(block.whole(), MAX_HEADER_LIST);
    const s = this.streams.get(block.stream);
    if (!s) return;
    if (list.oversized) {
      this.failStream(s, 'parse');
      return;
    }
    s.handler.headers(list);
    if (block.endStream) this.endStream(s);
  }

  private endStream(s: Stream): void {
    this.forget(s);
    s.handler.end();
  }

  private failStream(s: Stream, kind: NetworkErrorKind): void {
    this.forget(s);
    s.handler.fail(kind);
  }

  private forget(s: Stream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    this.startQueued();
    if (this.closing && this.streams.size === 0 && this.queued.length === 0) this.close();
  }

  private startQueued(): void {
    while (this.queued.length > 0 && this.streams.size < this.peerMaxStreams && !this.closed) {
      const q = this.queued.shift()!;
      this.request(q.path, q.body, q.handler);
    }
  }

  /** With `goaway`, the server is told why (and the socket ends gracefully); without, the socket is dropped. */
  private teardown(kind: NetworkErrorKind, goaway?: number, debug = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    if (goaway !== undefined && this.connected) {
      const socket = this.socket;
      socket.end(goawayFrame(0, goaway, debug));
      setTimeout(() => socket.destroy(), 1000).unref();
    } else this.socket.destroy();
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const s of open) s.handler.fail(kind);
    for (const q of this.queued.splice(0)) q.handler.fail(kind);
    this.onClose();
  }
}
