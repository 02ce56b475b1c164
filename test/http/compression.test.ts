/**
 * Request and response compression on a real server, seen on the wire (node:http, not fetch, which inflates out of
 * sight): Content-Encoding gzip/deflate on requests under the body limit counted after inflating (a zip bomb is a
 * 413), Accept-Encoding on infer responses, 415 for codings the server does not read.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { seededRandom } from '../fixtures/random.js';
import { type Running, bytesOf, startServer, tempRepo } from './helpers.js';

const CONFIG = `
name: "mlp"
platform: "onnxruntime_onnx"
max_batch_size: 256
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
`;
const LIMIT = 64 * 1024;

let srv: Running;
const repo = tempRepo('autoglm-zip-');
const mlp = mlpModel(3, 4, 2, 7);

before(async () => {
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: CONFIG });
  srv = await startServer({ modelRepositories: [repo.dir], limits: { maxBodyBytes: LIMIT } });
});
after(async () => {
  await srv.close();
  repo.remove();
});

interface Raw { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** One request as written: `body` (with its Content-Length) or `chunks` (chunked, no Content-Length). */
function raw(path: string, o: { method?: string; headers?: Record<string, string | number>; body?: Buffer; chunks?: Buffer[] } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined) headers['Content-Length'] = o.body.length;
    const req = httpRequest({ host: '127.0.0.1', port: srv.http.port, path, method: o.method ?? 'POST', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.chunks) {
      for (const c of o.chunks) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

const rowsOf = (n: number) => Float32Array.from({ length: n * 3 }, (_, i) => ((i * 7) % 11) / 5 - 1);
const jsonRequest = (x: Float32Array, extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [x.length / 3, 3], data: [...x] }], ...extra,
}));
const close = (a: ArrayLike<number>, b: Float32Array) => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) < 1e-5);
const errorOf = (r: Raw): string => {
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const e = JSON.parse(r.body.toString('utf8')).error;
  assert.equal(typeof e, 'string');
  return e;
};

test('gzip and deflate JSON requests are inflated and answered like the plain one', async () => {
  const x = rowsOf(2);
  const body = jsonRequest(x);
  for (const [coding, packed] of [['gzip', gzipSync(body)], ['deflate', deflateSync(body)], ['GZip', gzipSync(body)], ['identity', body]] as const) {
    const r = await raw('/v2/models/mlp/infer', { body: packed, headers: { 'Content-Type': 'application/json', 'Content-Encoding': coding } });
    assert.equal(r.status, 200, `${coding}: ${r.body.toString()}`);
    assert.equal(r.headers['content-encoding'], undefined, 'no Accept-Encoding, no compressed answer');
    const out = JSON.parse(r.body.toString('utf8')).outputs[0];
    assert.ok(close(out.data, mlp.reference(x, 2)), coding);
  }
});

test('a deflated binary request: Inference-Header-Content-Length counts in the inflated body', async () => {
  const x = rowsOf(3);
  const header = Buffer.from(JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 3], parameters: { binary_data_size: x.byteLength } }],
  }));
  const body = Buffer.concat([header, bytesOf(x)]);
  const r = await raw('/v2/models/mlp/infer', {
    body: deflateSync(body), headers: { 'Content-Encoding': 'deflate', 'Inference-Header-Content-Length': header.length },
  });
  assert.equal(r.status, 200, r.body.toString());
  assert.ok(close(JSON.parse(r.body.toString('utf8')).outputs[0].data, mlp.reference(x, 3)));
});

test('a chunked gzip body (no Content-Length) is inflated as it arrives', async () => {
  const x = rowsOf(1);
  const packed = gzipSync(jsonRequest(x));
  const r = await raw('/v2/models/mlp/infer', { chunks: [packed.subarray(0, 7), packed.subarray(7, 20), packed.subarray(20)], headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(r.status, 200, r.body.toString());
  assert.ok(close(JSON.parse(r.body.toString('utf8')).outputs[0].data, mlp.reference(x, 1)));
});

test('a zip bomb (small on the wire, far over the limit inflated) → 413 with the error JSON; the server keeps serving', async () => {
  const bomb = gzipSync(Buffer.alloc(16 << 20, 0x20)); // 16 MiB of spaces: ~16 KiB of gzip
  assert.ok(bomb.length < LIMIT);
  const bombs: Array<Parameters<typeof raw>[1]> = [
    { body: bomb, headers: { 'Content-Encoding': 'gzip' } },
    { chunks: [bomb.subarray(0, 1000), bomb.subarray(1000)], headers: { 'Content-Encoding': 'gzip' } },
    { body: deflateSync(Buffer.alloc(16 << 20)), headers: { 'Content-Encoding': 'deflate', 'Inference-Header-Content-Length': 10 } },
  ];
  for (const req of bombs) {
    const r = await raw('/v2/models/mlp/infer', req);
    assert.equal(r.status, 413);
    assert.match(errorOf(r), new RegExp(`exceeds the limit of ${LIMIT} bytes once decompressed`));
  }
  // Just under the limit inflated is read (and then refused as JSON, which it is not).
  const spaces = Buffer.alloc(LIMIT, 0x20);
  const under = await raw('/v2/models/mlp/infer', { body: gzipSync(spaces), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(under.status, 400, under.body.toString());
  // A compressed body over the limit on the wire is refused before inflating.
  const rnd = seededRandom(5);
  const noise = gzipSync(Buffer.from(Array.from({ length: LIMIT + 100 }, () => Math.floor(rnd() * 256))));
  assert.ok(noise.length > LIMIT);
  assert.equal((await raw('/v2/models/mlp/infer', { body: noise, headers: { 'Content-Encoding': 'gzip' } })).status, 413);
  const ok = await raw('/v2/models/mlp/infer', { body: gzipSync(jsonRequest(rowsOf(1))), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(ok.status, 200);
});

test('corrupt or truncated compressed bodies → 400 with the error JSON', async () => {
  const packed = gzipSync(jsonRequest(rowsOf(1)));
  const corrupt = Buffer.from(packed);
  corrupt[12] ^= 0xff;
  corrupt[20] ^= 0xff;
  for (const [coding, body] of [
    ['gzip', corrupt], ['gzip', packed.subarray(0, packed.length - 10)], ['gzip', Buffer.from('not gzip at all')],
    ['deflate', gzipSync(Buffer.from('{}'))],
  ] as const) {
    const r = await raw('/v2/models/mlp/infer', { body, headers: { 'Content-Encoding': coding } });
    assert.equal(r.status, 400, `${coding} ${r.body.toString()}`);
    assert.match(errorOf(r), new RegExp(`not valid ${coding} data`));
  }
});

test('unknown codings → 415 with Accept-Encoding listing what the server reads, before the body is read', async () => {
  for (const coding of ['br', 'compress', 'gzip, deflate', 'zstd']) {
    const r = await raw('/v2/models/mlp/infer', { body: jsonRequest(rowsOf(1)), headers: { 'Content-Encoding': coding } });
    assert.equal(r.status, 415, coding);
    assert.equal(r.headers['accept-encoding'], 'gzip, deflate');
    assert.match(errorOf(r), /unsupported Content-Encoding/);
  }
  assert.equal((await raw('/v2/repository/index', { body: Buffer.from('{}'), headers: { 'Content-Encoding': 'br' } })).status, 415);
});

test('other POST endpoints read compressed bodies too (repository index with {"ready": true})', async () => {
  const r = await raw('/v2/repository/index', { body: gzipSync(Buffer.from('{"ready": true}')), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(JSON.parse(r.body.toString()), [{ name: 'mlp', version: '1', state: 'READY', reason: '' }]);
  const empty = await raw('/v2/repository/index', { body: Buffer.alloc(0), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(empty.status, 200, 'an empty body is empty whatever its coding');
});

test('Accept-Encoding: infer responses come back in the preferred coding; Inference-Header-Content-Length counts uncompressed', async () => {
  const x = rowsOf(64); // a JSON answer over the 1 KiB below which nothing is compressed
  const body = jsonRequest(x);
  const cases: Array<[string, string | undefined, (b: Buffer) => Buffer]> = [
    ['gzip', 'gzip', gunzipSync],
    ['deflate', 'deflate', inflateSync],
    ['gzip, deflate', 'gzip', gunzipSync],
    ['deflate;q=0.5, gzip;q=0.9', 'gzip', gunzipSync],
    ['gzip;q=0, deflate;q=0.1', 'deflate', inflateSync],
    ['gzip;q=0', undefined, (b) => b],
    ['br, identity', undefined, (b) => b],
  ];
  for (const [accept, coding, inflate] of cases) {
    const r = await raw('/v2/models/mlp/infer', { body, headers: { 'Accept-Encoding': accept } });
    assert.equal(r.status, 200, accept);
    assert.equal(r.headers['content-encoding'], coding, accept);
    assert.equal(Number(r.headers['content-length']), r.body.length);
    const out = JSON.parse(inflate(r.body).toString('utf8')).outputs[0];
    assert.ok(close(out.data, mlp.reference(x, 64)), accept);
  }
  // Binary outputs: the header length refers to the inflated body.
  const xb = rowsOf(200);
  const bin = await raw('/v2/models/mlp/infer', { body: jsonRequest(xb, { parameters: { binary_data_output: true } }), headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(bin.headers['content-encoding'], 'gzip');
  const plain = gunzipSync(bin.body);
  const hl = Number(bin.headers['inference-header-content-length']);
  const header = JSON.parse(plain.subarray(0, hl).toString('utf8'));
  assert.equal(header.outputs[0].parameters.binary_data_size, 200 * 2 * 4);
  const y = new Float32Array(plain.buffer.slice(plain.byteOffset + hl, plain.byteOffset + plain.length));
  assert.ok(close(y, mlp.reference(xb, 200)));
  // Small answers go as they are.
  const small = await raw('/v2/models/mlp/infer', { body: jsonRequest(rowsOf(1)), headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(small.status, 200);
  assert.equal(small.headers['content-encoding'], undefined);
});
