import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../../src/frontends/http/read-body.js';

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
