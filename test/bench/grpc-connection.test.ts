/**
 * The load generator's HTTP/2 gRPC client (src/bench/http2-client.ts via grpc-connection.ts) against node:http2's
 * server — another implementation than the project's own — set up to exercise what the client must honour: a tiny
 * initial window (request DATA waits for WINDOW_UPDATE), replies larger than the default window, a stream limit,
 * trailers-only answers, percent-encoded grpc-message, RST_STREAM, GOAWAY, PING, refused connections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Http2Server, type Http2Session, type ServerHttp2Stream, type Settings } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { GrpcChannel } from '../../src/bench/grpc-connection.js';
import type { HttpResult } from '../../src/bench/http1-connection.js';

type Handler = (stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>, body: Buffer, session: Http2Session) => void;

async function h2Server(handler: Handler, settings: Settings = {}) {
  const sessions = new Set<Http2Session>();
  const server: Http2Server = createServer({ settings });
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('stream', (stream, headers) => {
    const parts: Buffer[] = [];
    // Streams refused past the limit, or cut by GOAWAY, end in an error here: expected.
    stream.on('error', () => {});
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => handler(stream, headers, Buffer.concat(parts), stream.session!));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    sessions,
    close: () => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); }),
  };
}

const framed = (message: Buffer) => {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
};
const call = (ch: GrpcChannel, path: string, body: Buffer) => new Promise<HttpResult>((resolve) => ch.call(path, body, resolve));

/** Echoes the framed request as the reply, grpc-status 0 in trailers. */
const echo: Handler = (stream, _h, body) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(body);
};

test('a request larger than the server\'s window waits for WINDOW_UPDATE; a reply larger than 64 KiB arrives whole', async () => {
  const seen: Record<string, unknown>[] = [];
  const srv = await h2Server((stream, h, body, s) => { seen.push({ ...h }); echo(stream, h, body, s); }, { initialWindowSize: 1000 });
  const ch = new GrpcChannel(srv.target);
  try {
    const message = Buffer.alloc(300_000);
    for (let i = 0; i < message.length; i++) message[i] = (i * 7) & 0xff;
    const r = await call(ch, '/svc/Method', framed(message));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.grpcStatus, 0);
    assert.ok(r.body[0].equals(message));
    assert.equal(seen[0][':method'], 'POST');
    assert.equal(seen[0][':path'], '/svc/Method');
    assert.equal(seen[0][':scheme'], 'http');
    assert.equal(seen[0][':authority'], `127.0.0.1:${srv.target.port}`);
    assert.equal(seen[0]['content-type'], 'application/grpc');
    assert.equal(seen[0].te, 'trailers');
  } finally {
    ch.close();
    await srv.close();
  }
});

test('many calls on one connection past the server\'s stream limit all complete; the server\'s PING is answered', async () => {
  const srv = await h2Server(echo, { maxConcurrentStreams: 4 });
  const ch = new GrpcChannel(srv.target);
  try {
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => call(ch, '/a', framed(Buffer.from(`call ${i}`)))));
    results.forEach((r, i) => assert.equal(r.body[0].toString(), `call ${i}`));
    assert.equal(srv.sessions.size, 1);
    const [session] = srv.sessions;
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
  } finally {
    ch.close();
    await srv.close();
  }
});

test('error statuses: in trailers and trailers-only, grpc-message percent-decoded, mapped to HTTP status', async () => {
  const srv = await h2Server((stream, h) => {
    if (h[':path'] === '/only') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'busy' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': encodeURIComponent('unknown model “x”') }));
    stream.end();
  });
  const ch = new GrpcChannel(srv.target);
  try {
    const a = await call(ch, '/trailers', framed(Buffer.alloc(0)));
    assert.deepEqual([a.status, a.grpcStatus, a.grpcMessage], [404, 5, 'unknown model “x”']);
    const b = await call(ch, '/only', framed(Buffer.alloc(0)));
    assert.deepEqual([b.status, b.grpcStatus, b.grpcMessage], [503, 14, 'busy']);
  } finally {
    ch.close();
    await srv.close();
  }
});

test('RST_STREAM fails the call as reset; GOAWAY fails calls past its last stream, and the next call reconnects', async () => {
  let n = 0;
  const srv = await h2Server((stream, h, body, session) => {
    n++;
    if (h[':path'] === '/rst') stream.close(8);
    else if (h[':path'] === '/goaway') session.goaway(0, 1);
    else echo(stream, h, body, session);
  });
  const ch = new GrpcChannel(srv.target);
  try {
    const r = await call(ch, '/rst', framed(Buffer.from('x')));
    assert.deepEqual([r.status, r.networkError], [0, 'reset']);
    const g = await call(ch, '/goaway', framed(Buffer.from('x')));
    assert.equal(g.status, 0);
    const ok = await call(ch, '/ok', framed(Buffer.from('after')));
    assert.equal(ok.body[0].toString(), 'after');
    assert.equal(n, 3);
  } finally {
    ch.close();
    await srv.close();
  }
});

test('a refused connection is a connect error; a server that closes mid-call, closed', async () => {
  const srv = await h2Server((_s, _h, _b, session) => session.destroy());
  const ch = new GrpcChannel(srv.target);
  try {
    const r = await call(ch, '/x', framed(Buffer.from('x')));
    assert.equal(r.status, 0);
    assert.ok(r.networkError === 'closed' || r.networkError === 'reset', r.networkError);
  } finally {
    ch.close();
    await srv.close();
  }
  const refused = new GrpcChannel(srv.target);
  const r = await call(refused, '/x', framed(Buffer.from('x')));
  assert.deepEqual([r.status, r.networkError], [0, 'connect']);
  refused.close();
});
