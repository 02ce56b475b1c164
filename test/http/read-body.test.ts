import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { readBody } from '../../src/frontends/http/read-body.js';
import { InferenceError } from '../../src/core/index.js';

/** Posts `body` to a one-shot server that reads it with readBody(…, alignAt); resolves with what readBody gave. */
async function roundTrip(body: Buffer, alignAt: number): Promise<Uint8Array> {
  let got!: Uint8Array;
  const server = createServer((req, res) => {
    readBody(req, 1 << 20, alignAt).then((b) => { got = b; res.end(); }, (e: Error) => { res.statusCode = 400; res.end(e.message); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: 'POST', headers: { 'Content-Length': body.length } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    server.close();
  }
  return got;
}

test('readBody places byte alignAt (where binary tensor data starts) on an 8-byte boundary, so tensors are viewed in place', async () => {
  const body = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 251));
  for (const alignAt of [0, 1, 5, 8, 157]) {
    const got = await roundTrip(body, alignAt);
    assert.deepEqual(Buffer.from(got), body);
    assert.equal((got.byteOffset + alignAt) % 8, 0, `alignAt ${alignAt}: byteOffset ${got.byteOffset}`);
  }
});

/** Posts `body` to a one-shot server that reads it with readBody(…, limit, alignAt, coding): the body, or the error. */
async function roundTripCoded(body: Buffer, limit: number, alignAt: number, coding: 'gzip' | 'deflate'): Promise<Uint8Array | Error> {
  let got!: Uint8Array | Error;
  const server = createServer((req, res) => {
    readBody(req, limit, alignAt, coding).then((b) => { got = b; res.end(); }, (e: Error) => { got = e; req.resume(); res.end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: 'POST', headers: { 'Content-Length': body.length } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    server.close();
  }
  return got;
}

test('readBody inflates gzip/deflate bodies, placing byte alignAt of the inflated body on an 8-byte boundary', async () => {
  const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 251));
  for (const [coding, pack] of [['gzip', gzipSync], ['deflate', deflateSync]] as const) {
    for (const alignAt of [0, 3, 157]) {
      const got = await roundTripCoded(pack(body), 1 << 20, alignAt, coding);
      assert.ok(got instanceof Uint8Array, String(got));
      assert.deepEqual(Buffer.from(got), body);
      assert.equal((got.byteOffset + alignAt) % 8, 0);
      assert.equal(got.buffer.byteLength, got.byteOffset + got.byteLength, 'a buffer of its own');
    }
  }
});

test('readBody applies the limit to the inflated size: exactly the limit passes, one byte more is PAYLOAD_TOO_LARGE', async () => {
  const limit = 100_000;
  const exact = await roundTripCoded(gzipSync(Buffer.alloc(limit, 7)), limit, 0, 'gzip');
  assert.ok(exact instanceof Uint8Array && exact.length === limit);
  const over = await roundTripCoded(gzipSync(Buffer.alloc(limit + 1, 7)), limit, 0, 'gzip');
  assert.ok(over instanceof InferenceError);
  assert.equal(over.code, 'PAYLOAD_TOO_LARGE');
  // A bomb: 64 MiB inflated from ~64 KiB; reading stops at the limit.
  const bomb = await roundTripCoded(deflateSync(Buffer.alloc(64 << 20)), limit, 0, 'deflate');
  assert.ok(bomb instanceof InferenceError && bomb.code === 'PAYLOAD_TOO_LARGE');
});
