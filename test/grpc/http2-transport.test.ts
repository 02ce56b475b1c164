/**
 * The gRPC port's HTTP/2 layer (src/frontends/grpc/http2) on its own, under an echo server: flow control both ways
 * past the 64 KiB default windows, header blocks split over CONTINUATION, the header list limit, stream limits,
 * protocol errors answered with GOAWAY and the right code (the server keeps serving new connections), and a client
 * that never reads (the server stops reading it instead of queueing without bound).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as h2connect } from 'node:http2';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { H2Connection, type H2Limits } from '../../src/frontends/grpc/http2/connection.js';
import { encodeHeaders } from '../../src/frontends/grpc/http2/hpack.js';
import { FrameType, Flag, H2Error, PREFACE, Setting, frame, goawayFrame, settingsFrame, windowUpdateFrame } from '../../src/frontends/grpc/http2/frames.js';

const LIMITS: H2Limits = { maxConcurrentStreams: 100, streamWindow: 65_535, connectionWindow: 65_535, maxHeaderListSize: 64 * 1024, maxQueuedBytes: 1 << 20 };

interface Echo { server: Server; port: number; answered: number; sockets: Socket[]; close(): Promise<void> }

/**
 * Answers each stream, once its request ended, with the request body (or `x-reply-bytes` zero bytes) and trailers
 * saying how long its `x-big` header was.
 */
async function echoServer(limits: Partial<H2Limits> = {}): Promise<Echo> {
  const echo = { answered: 0, sockets: [] as Socket[] } as Echo;
  const server = createServer((socket) => {
    echo.sockets.push(socket);
    new H2Connection(socket, { ...LIMITS, ...limits }, (stream, headers) => {
      const parts: Buffer[] = [];
      stream.sink = {
        data: (c) => parts.push(Buffer.from(c)),
        end: () => {
          echo.answered++;
          const body = headers['x-reply-bytes'] ? [Buffer.alloc(Number(headers['x-reply-bytes']))] : parts;
          stream.answer(encodeHeaders([[':status', '200'], ['content-type', 'application/grpc']]), body,
            encodeHeaders([['grpc-status', '0'], ['x-big-length', String(headers['x-big']?.length ?? 0)]]));
        },
        closed() {},
        drained() {},
      };
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  echo.server = server;
  echo.port = (server.address() as AddressInfo).port;
  echo.close = () => new Promise<void>((r) => { for (const s of echo.sockets) s.destroy(); server.close(() => r()); });
  return echo;
}

/** One request over node:http2's client: the response body and trailers. */
function request(port: number, body: Buffer, headers: Record<string, string> = {}, windowBytes?: number): Promise<{ body: Buffer; trailers: Record<string, unknown>; status: number }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`, windowBytes ? { settings: { initialWindowSize: windowBytes } } : {});
    if (windowBytes) session.on('connect', () => session.setLocalWindowSize(windowBytes));
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/echo', 'content-type': 'application/grpc', ...headers });
    const chunks: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve({ body: Buffer.concat(chunks), trailers, status });
    });
    req.end(body);
  });
}

test('flow control: 1 MiB each way through 64 KiB windows (WINDOW_UPDATEs both ways), bytes intact; and in one write when the client\'s windows hold it', async () => {
  const echo = await echoServer();
  try {
    const body = randomBytes(1 << 20);
    const r = await request(echo.port, body);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(body), 'the echoed body is the request body');
    assert.equal(r.trailers['grpc-status'], '0');
    // The client's windows hold the whole answer: it goes out at once, as frame headers between views of the body.
    const wide = await request(echo.port, body, {}, 8 << 20);
    assert.ok(wide.body.equals(body), 'the echoed body, sent in one write');
    assert.equal(wide.trailers['grpc-status'], '0');
  } finally {
    await echo.close();
  }
});

test('a 40 KB header arrives over HEADERS + CONTINUATION frames; a header list over the limit is answered 431', async () => {
  const echo = await echoServer({ maxHeaderListSize: 48 * 1024 });
  try {
    const r = await request(echo.port, Buffer.from('x'), { 'x-big': 'b'.repeat(40_000) });
    assert.equal(r.trailers['x-big-length'], '40000');
    const big = await request(echo.port, Buffer.from('x'), { 'x-big': 'b'.repeat(40_000), 'x-big2': 'c'.repeat(20_000) });
    assert.equal(big.status, 431);
  } finally {
    await echo.close();
  }
});

/** A raw client: the preface and SETTINGS, then `bytes`; every frame the server sent until it closed (or `ms`). */
function raw(port: number, bytes: Buffer[], ms = 3000): Promise<{ type: number; flags: number; stream: number; payload: Buffer }[]> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseFrames(Buffer.concat(chunks)));
    };
    const timer = setTimeout(done, ms);
    socket.on('close', done);
    socket.write(Buffer.concat([PREFACE, settingsFrame([]), ...bytes]));
  });
}

function parseFrames(buf: Buffer): { type: number; flags: number; stream: number; payload: Buffer }[] {
  const frames = [];
  for (let off = 0; off + 9 <= buf.length;) {
    const len = buf.readUIntBE(off, 3);
    if (off + 9 + len > buf.length) break;
    frames.push({ type: buf[off + 3], flags: buf[off + 4], stream: buf.readUInt32BE(off + 5) & 0x7fffffff, payload: buf.subarray(off + 9, off + 9 + len) });
    off += 9 + len;
  }
  return frames;
}

const REQUEST_BLOCK = encodeHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', '/echo'], ['content-type', 'application/grpc']]);
const headersFrame = (stream: number, flags = Flag.END_HEADERS | Flag.END_STREAM, block = REQUEST_BLOCK) => frame(FrameType.HEADERS, flags, stream, block);

test('protocol errors end the connection with GOAWAY carrying the code and the last stream id; new connections are served', async () => {
  const echo = await echoServer();
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const cases: [string, Buffer[], number][] = [
    ['DATA on stream 0', [frame(FrameType.DATA, 0, 0, Buffer.from('x'))], H2Error.PROTOCOL_ERROR],
    ['HEADERS on an even stream', [headersFrame(2)], H2Error.PROTOCOL_ERROR],
    ['a frame over SETTINGS_MAX_FRAME_SIZE', [frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))], H2Error.FRAME_SIZE_ERROR],
    ['PING of 7 bytes', [frame(FrameType.PING, 0, 0, Buffer.alloc(7))], H2Error.FRAME_SIZE_ERROR],
    ['CONTINUATION without HEADERS', [frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, REQUEST_BLOCK)], H2Error.PROTOCOL_ERROR],
    ['another frame inside a header block', [headersFrame(1, 0), frame(FrameType.PING, 0, 0, Buffer.alloc(8))], H2Error.PROTOCOL_ERROR],
    ['an HPACK index past the tables', [headersFrame(1, Flag.END_HEADERS, Buffer.from([0xff, 0x10]))], H2Error.COMPRESSION_ERROR],
    ['WINDOW_UPDATE of 0 on the connection', [frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0))], H2Error.PROTOCOL_ERROR],
    ['connection window past 2^31-1', [windowUpdateFrame(0, 2 ** 31 - 1)], H2Error.FLOW_CONTROL_ERROR],
    ['SETTINGS of 5 bytes', [frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))], H2Error.FRAME_SIZE_ERROR],
    ['SETTINGS_INITIAL_WINDOW_SIZE 2^31', [settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]])], H2Error.FLOW_CONTROL_ERROR],
    ['SETTINGS_MAX_FRAME_SIZE under 16384', [settingsFrame([[Setting.MAX_FRAME_SIZE, 100]])], H2Error.PROTOCOL_ERROR],
    ['PUSH_PROMISE from a client', [frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4))], H2Error.PROTOCOL_ERROR],
    ['RST_STREAM on an idle stream', [frame(FrameType.RST_STREAM, 0, 7, u32(0))], H2Error.PROTOCOL_ERROR],
    ['DATA on an idle stream', [frame(FrameType.DATA, 0, 9, Buffer.from('x'))], H2Error.PROTOCOL_ERROR],
    ['DATA with padding as long as the frame', [headersFrame(1, Flag.END_HEADERS), frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([3, 0, 0]))], H2Error.PROTOCOL_ERROR],
  ];
  try {
    for (const [what, bytes, code] of cases) {
      const frames = await raw(echo.port, bytes);
      const goaway = frames.find((f) => f.type === FrameType.GOAWAY);
      assert.ok(goaway, `${what}: GOAWAY sent`);
      assert.equal(goaway.payload.readUInt32BE(4), code, `${what}: error code (${goaway.payload.subarray(8).toString()})`);
    }
    // The last stream id: stream 1 was answered, then a bad frame.
    const frames = await raw(echo.port, [headersFrame(1), frame(FrameType.PING, 0, 0, Buffer.alloc(3))]);
    const goaway = frames.find((f) => f.type === FrameType.GOAWAY)!;
    assert.equal(goaway.payload.readUInt32BE(0), 1);
    assert.ok(frames.some((f) => f.type === FrameType.HEADERS && f.stream === 1 && (f.flags & Flag.END_STREAM)), 'stream 1 was answered first');
    // Not HTTP/2 at all.
    const http1 = await new Promise<Buffer>((resolve) => {
      const s = connect(echo.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (c) => chunks.push(c));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.equal(parseFrames(http1).find((f) => f.type === FrameType.GOAWAY)?.payload.readUInt32BE(4), H2Error.PROTOCOL_ERROR);
    assert.equal((await request(echo.port, Buffer.from('still serving'))).body.toString(), 'still serving');
  } finally {
    await echo.close();
  }
});

test('PING is answered with its payload; streams past SETTINGS_MAX_CONCURRENT_STREAMS are refused; a malformed request is answered 400', async () => {
  const echo = await echoServer({ maxConcurrentStreams: 2 });
  try {
    const ping = Buffer.from('12345678');
    const open = Flag.END_HEADERS; // requests left open: each stream stays active
    const frames = await raw(echo.port, [frame(FrameType.PING, 0, 0, ping), headersFrame(1, open), headersFrame(3, open), headersFrame(5, open)], 500);
    const settings = frames.find((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK))!;
    assert.ok(settings.payload.includes(Buffer.from([0, Setting.MAX_CONCURRENT_STREAMS, 0, 0, 0, 2])), 'SETTINGS_MAX_CONCURRENT_STREAMS 2 announced');
    assert.ok(frames.some((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) && f.payload.equals(ping)));
    const rst = frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 5);
    assert.equal(rst?.payload.readUInt32BE(0), H2Error.REFUSED_STREAM);
    assert.ok(!frames.some((f) => f.type === FrameType.RST_STREAM && (f.stream === 1 || f.stream === 3)));
    // Uppercase in a name, no :scheme: a malformed request, answered 400 with END_STREAM; not a connection error.
    const bad = await raw(echo.port, [headersFrame(7, Flag.END_HEADERS | Flag.END_STREAM, encodeHeaders([[':method', 'POST'], [':path', '/x'], ['Upper', 'x']]))], 500);
    const s7 = bad.find((f) => f.type === FrameType.HEADERS && f.stream === 7);
    assert.ok(s7 && (s7.flags & Flag.END_STREAM), 'stream 7 answered and ended');
    assert.equal(s7.payload[0], 0x8c, ':status 400 (static index 12)');
    assert.ok(!frames.some((f) => f.type === FrameType.GOAWAY) && !bad.some((f) => f.type === FrameType.GOAWAY));
  } finally {
    await echo.close();
  }
});

test('a client that never reads: the server stops reading its requests (bounded queue), then answers every one once it reads', { timeout: 60_000 }, async () => {
  const echo = await echoServer({ maxQueuedBytes: 1 << 20, maxConcurrentStreams: 10_000 });
  const N = 3000;
  const socket = connect(echo.port, '127.0.0.1');
  try {
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause();
    // Windows wide open (flow control would otherwise hold the answers in the server, not on the socket).
    const reqs = [PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]), windowUpdateFrame(0, 2 ** 31 - 1 - 65_535)];
    const block = encodeHeaders([[':method', 'POST'], [':scheme', 'http'], [':path', '/echo'], ['x-reply-bytes', '65536']]);
    for (let i = 0; i < N; i++) reqs.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2 * i + 1, block));
    socket.write(Buffer.concat(reqs));
    let last = -1;
    for (let i = 0; i < 50 && echo.answered !== last; i++) {
      last = echo.answered;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(echo.answered < N / 2, `the server answered ${echo.answered} of ${N} requests for a client reading nothing`);
    assert.ok(echo.sockets[0].writableLength < (1 << 20) + 2 * 65_536 + 4096, `queued on the server's socket: ${echo.sockets[0].writableLength} bytes`);
    // Now read: every answer comes.
    let ended = 0;
    let pending: Buffer = Buffer.alloc(0);
    await new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        pending = pending.length ? Buffer.concat([pending, c]) : c;
        let off = 0;
        while (off + 9 <= pending.length) {
          const len = pending.readUIntBE(off, 3);
          if (off + 9 + len > pending.length) break;
          if (pending[off + 3] === FrameType.HEADERS && (pending[off + 4] & Flag.END_STREAM)) ended++;
          off += 9 + len;
        }
        pending = pending.subarray(off);
        if (ended === N) resolve();
      });
      socket.resume();
    });
    assert.equal(echo.answered, N);
  } finally {
    socket.destroy();
    await echo.close();
  }
});

test('a client GOAWAY in the same read as other frames: every answer of that read goes out before the socket ends', async () => {
  const echo = await echoServer();
  try {
    // PING before the GOAWAY: answered; frames after it are not (the server has ended the connection).
    const frames = await raw(echo.port, [frame(FrameType.PING, 0, 0, Buffer.from('pingpong')), goawayFrame(0, H2Error.NO_ERROR)]);
    assert.ok(frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK)), 'SETTINGS ACK');
    const pong = frames.find((f) => f.type === FrameType.PING && (f.flags & Flag.ACK));
    assert.equal(pong?.payload.toString(), 'pingpong', 'PING ACK');
    assert.ok(frames.some((f) => f.type === FrameType.GOAWAY), 'the server\'s GOAWAY');
  } finally {
    await echo.close();
  }
});
