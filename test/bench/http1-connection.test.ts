/**
 * The load generator's HTTP/1.1 connection against real servers that frame responses every legal way it supports:
 * Content-Length, chunked, split into tiny TCP segments, Connection: close; and that fail: reset mid-response,
 * refused connections, garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Http1Connection, encodeRequest, type HttpResult } from '../../src/bench/http1-connection.js';

/** A raw TCP server that answers each request (one per `\r\n\r\n`-terminated GET) with `reply(n)`. */
async function rawServer(reply: (n: number, socket: Socket) => void) {
  let n = 0;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        reply(n++, socket);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    accepted: () => accepted,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

const GET = encodeRequest('GET', 'x', '/', {}, undefined);
const send = (c: Http1Connection) => new Promise<HttpResult>((resolve) => c.send(GET, resolve));
const text = (r: HttpResult) => Buffer.concat(r.body as Buffer[]).toString();

/** Writes `data` one small piece at a time, so every parser state sees a boundary. */
async function trickle(socket: Socket, data: string, piece = 3): Promise<void> {
  for (let i = 0; i < data.length; i += piece) {
    socket.write(data.slice(i, i + piece));
    await new Promise((r) => setImmediate(r));
  }
}

test('Content-Length and chunked bodies, whole or trickled, on one kept-alive connection', async (t) => {
  const replies = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nInference-Header-Content-Length: 2\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n',
    'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n',
  ];
  const srv = await rawServer((n, socket) => {
    const r = replies[n % 3];
    if (n < 3) socket.write(r);
    else void trickle(socket, r);
  });
  t.after(() => srv.close());
  const c = new Http1Connection({ host: '127.0.0.1', port: srv.port });
  t.after(() => c.close());
  for (let round = 0; round < 2; round++) {
    const a = await send(c);
    assert.equal(a.status, 200);
    assert.equal(text(a), 'hello');
    assert.equal(a.inferenceHeaderLength, 2);
    const b = await send(c);
    assert.equal(b.status, 200);
    assert.equal(text(b), 'abcdefg');
    assert.equal(b.inferenceHeaderLength, -1);
    const d = await send(c);
    assert.equal(d.status, 404);
    assert.equal(d.networkError, undefined);
  }
  assert.equal(srv.accepted(), 1, 'all six requests used one connection');
});

test('Connection: close is honoured: the next request opens a new connection', async (t) => {
  const srv = await rawServer((_n, socket) => {
    socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
  });
  t.after(() => srv.close());
  const c = new Http1Connection({ host: '127.0.0.1', port: srv.port });
  t.after(() => c.close());
  for (let i = 0; i < 3; i++) {
    const r = await send(c);
    assert.equal(r.status, 200);
    assert.equal(text(r), 'ok');
  }
  assert.equal(srv.accepted(), 3);
});

test('failures are network errors of the right kind, and the connection recovers', async (t) => {
  const srv = await rawServer((n, socket) => {
    if (n === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); // then dies mid-body
    if (n === 0) setTimeout(() => socket.destroy(), 20);
    if (n === 1) socket.write('SSH-2.0-not-http\r\n\r\n');
    if (n === 2) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz');
  });
  t.after(() => srv.close());
  const c = new Http1Connection({ host: '127.0.0.1', port: srv.port });
  t.after(() => c.close());
  const cut = await send(c);
  assert.equal(cut.status, 0);
  assert.ok(cut.networkError === 'closed' || cut.networkError === 'reset', String(cut.networkError));
  const garbage = await send(c);
  assert.equal(garbage.status, 0);
  assert.equal(garbage.networkError, 'parse');
  const ok = await send(c);
  assert.equal(ok.status, 200);
  assert.equal(text(ok), 'z');

  const port = srv.port;
  await srv.close();
  const refused = await send(new Http1Connection({ host: '127.0.0.1', port }));
  assert.equal(refused.status, 0);
  assert.equal(refused.networkError, 'connect');
});
