import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { identityAllTypesModel, mlpModel, writeModel } from '../fixtures/models.js';
import { type Running, binaryBody, call, encodeBytesElements, postJson, startServer, tempRepo } from './helpers.js';

const MLP_CONFIG = `
name: "mlp"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
`;

let srv: Running;
const repo = tempRepo();
const LIMITS = { maxBodyBytes: 8192, maxTensorElements: 1000, maxRank: 4 };

before(async () => {
  writeModel(repo.dir, 'mlp', mlpModel(4, 8, 2).bytes, { config: MLP_CONFIG });
  writeModel(repo.dir, 'identity', identityAllTypesModel(['FP32', 'BYTES', 'INT8', 'BOOL']));
  srv = await startServer({ modelRepositories: [repo.dir], limits: LIMITS });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const input = (over: Record<string, unknown> = {}) => ({ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4], ...over });

async function expectError(r: Promise<{ status: number; json: any }>, status: number, pattern: RegExp): Promise<void> {
  const res = await r;
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(typeof res.json.error, 'string');
  assert.match(res.json.error, pattern);
}

test('a good request passes (the baseline the bad ones differ from)', async () => {
  const r = await postJson(srv.base, '/v2/models/mlp/infer', { inputs: [input()] });
  assert.equal(r.status, 200);
  assert.equal(r.json.outputs[0].data.length, 2);
});

const JSON_CASES: Array<[string, unknown, number, RegExp]> = [
  ['shape that does not match dims', { inputs: [input({ shape: [1, 5], data: [1, 2, 3, 4, 5] })] }, 400, /shape \[1,5\] does not match \[-1,4\]/],
  ['rank that does not match', { inputs: [input({ shape: [4], data: [1, 2, 3, 4] })] }, 400, /rank 1, expected 2/],
  ['batch over max_batch_size', { inputs: [input({ shape: [9, 4], data: new Array(36).fill(0) })] }, 400, /batch size 9 is outside 1\.\.8/],
  ['wrong datatype', { inputs: [input({ datatype: 'FP64' })] }, 400, /datatype FP64 does not match FP32/],
  ['unknown datatype', { inputs: [input({ datatype: 'FLOAT' })] }, 400, /unknown datatype "FLOAT"/],
  ['data length ≠ product(shape)', { inputs: [input({ data: [1, 2, 3] })] }, 400, /3 elements given, shape needs 4/],
  ['negative dimension', { inputs: [input({ shape: [1, -4] })] }, 400, /non-negative integers/],
  ['unknown input', { inputs: [input(), input({ name: 'nope' })] }, 400, /has no input 'nope'/],
  ['duplicate input', { inputs: [input(), input()] }, 400, /more than once/],
  ['unknown output', { inputs: [input()], outputs: [{ name: 'nope' }] }, 400, /has no output 'nope'/],
  ['no inputs', { inputs: [] }, 400, /non-empty array/],
  ['a string in FP32 data', { inputs: [input({ data: [1, 'x', 3, 4] })] }, 400, /element 1 \("x"\) is not a valid FP32/],
  ['input without data', { inputs: [input({ data: undefined })] }, 400, /neither 'data' nor binary_data_size/],
  ['non-string id', { id: 5, inputs: [input()] }, 400, /'id' must be a string/],
  ['rank over the limit', { inputs: [input({ shape: [1, 1, 1, 1, 4] })] }, 400, /rank 5 exceeds the limit of 4/],
  ['elements over the limit', { inputs: [input({ shape: [1, 1001], data: [] })] }, 413, /1001 elements exceed the limit of 1000/],
];

for (const [what, body, status, pattern] of JSON_CASES) {
  test(`JSON: ${what} → ${status}`, () => expectError(postJson(srv.base, '/v2/models/mlp/infer', body), status, pattern));
}

test('element values are checked per datatype (range, booleans, strings)', async () => {
  const id = (name: string, datatype: string, data: unknown[]) => ({ inputs: [{ name, datatype, shape: [1, 3], data }] });
  await expectError(postJson(srv.base, '/v2/models/identity/infer', id('in_INT8', 'INT8', [1, 300, 2])), 400, /element 1 \(300\) is not a valid INT8/);
  await expectError(postJson(srv.base, '/v2/models/identity/infer', id('in_INT8', 'INT8', [1, 1.5, 2])), 400, /not a valid INT8/);
  await expectError(postJson(srv.base, '/v2/models/identity/infer', id('in_BOOL', 'BOOL', [true, 1, false])), 400, /not a valid BOOL/);
  await expectError(postJson(srv.base, '/v2/models/identity/infer', id('in_BYTES', 'BYTES', ['a', 2, 'c'])), 400, /not a valid BYTES/);
});

test('a missing required input → 400', () => expectError(
  postJson(srv.base, '/v2/models/identity/infer', { inputs: [{ name: 'in_FP32', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }),
  400, /required input 'in_\w+' is missing/,
));

test('inputs whose batch sizes differ → 400', () => {
  const inputs = [
    { name: 'in_FP32', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] },
    { name: 'in_INT8', datatype: 'INT8', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
    { name: 'in_BOOL', datatype: 'BOOL', shape: [1, 3], data: [true, true, false] },
    { name: 'in_BYTES', datatype: 'BYTES', shape: [1, 3], data: ['a', 'b', 'c'] },
  ];
  return expectError(postJson(srv.base, '/v2/models/identity/infer', { inputs }), 400, /batch size 2 differs/);
});

test('malformed JSON, non-object JSON and invalid UTF-8 → 400', async () => {
  const h = { 'Content-Type': 'application/json' };
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: '{"inputs": [', headers: h }), 400, /malformed request JSON/);
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: '[1,2]', headers: h }), 400, /must be an object/);
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: new Uint8Array([0x7b, 0xff, 0x7d]), headers: h }), 400, /not valid UTF-8/);
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: '', headers: h }), 400, /malformed request JSON/);
});

test('bad binary framing → 400, each case with its own message', async () => {
  const fp = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const head = (size: number) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: size } }] });
  const post = (b: { body: Uint8Array; headers: Record<string, string> }) => call(srv.base, '/v2/models/mlp/infer', b);

  const ok = binaryBody(head(16), [fp]);
  assert.equal((await post(ok)).status, 200);
  await expectError(post(binaryBody(head(32), [fp])), 400, /runs past the end of the body/);
  await expectError(post(binaryBody(head(16), [fp, new Uint8Array(4)])), 400, /4 bytes of binary data that no input declares/);
  await expectError(post(binaryBody(head(12), [fp.subarray(0, 12)])), 400, /binary_data_size 12 does not match 4 FP32 elements \(16 bytes\)/);
  await expectError(post({ body: ok.body, headers: { 'Inference-Header-Content-Length': String(ok.body.length + 1) } }), 400, /exceeds the body/);
  await expectError(post({ body: ok.body, headers: { 'Inference-Header-Content-Length': 'abc' } }), 400, /is not a byte count/);
  await expectError(post({ body: ok.body, headers: { 'Inference-Header-Content-Length': '10' } }), 400, /malformed request JSON/);
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: JSON.stringify(head(16)) }), 400, /no Inference-Header-Content-Length/);
  const bytesHead = { inputs: [{ name: 'in_BYTES', datatype: 'BYTES', shape: [1, 3], parameters: { binary_data_size: 0 } }] };
  const good = encodeBytesElements(['a', 'bb', 'ccc']);
  const lying = Uint8Array.from(good);
  lying[0] = 200; // first element claims 200 bytes
  bytesHead.inputs[0].parameters.binary_data_size = lying.length;
  await expectError(post(binaryBody(bytesHead, [lying])), 400, /element 0 \(length 200\) runs past/);
  await expectError(post(binaryBody({ inputs: [{ ...bytesHead.inputs[0], parameters: { binary_data_size: 5 } }] }, [good.subarray(0, 5)])), 400, /ends inside element 1/);
});

test('a body over the limit → 413, with or without Content-Length, and the server keeps serving', async () => {
  const big = JSON.stringify({ inputs: [input({ data: new Array(5000).fill(1) })] });
  assert.ok(big.length > LIMITS.maxBodyBytes);
  await expectError(call(srv.base, '/v2/models/mlp/infer', { body: big }), 413, /exceeds the limit of 8192 bytes/);
  // Chunked, no Content-Length: refused while reading, before the client has sent it all.
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${srv.base}/v2/models/mlp/infer`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    const chunk = Buffer.alloc(4096, 0x20);
    let sent = 0;
    const pump = () => {
      // Keep sending until the answer comes (at most 1 MiB); the server must answer long before.
      while (sent < 1 << 20 && req.write(chunk)) sent += chunk.length;
      if (sent < 1 << 20) req.once('drain', pump);
    };
    pump();
  });
  assert.equal(status, 413);
  assert.equal((await postJson(srv.base, '/v2/models/mlp/infer', { inputs: [input()] })).status, 200);
});
