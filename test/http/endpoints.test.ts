import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { type Running, call, postJson, startServer, tempRepo } from './helpers.js';

const CONFIG = (name: string, policy = '') => `
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 4
${policy}
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
`;

let srv: Running;
const repo = tempRepo();
const v1 = mlpModel(3, 4, 2, 11);
const v2 = mlpModel(3, 4, 2, 22);
const x = Float32Array.from([0.5, -1, 2]);

before(async () => {
  writeModel(repo.dir, 'mlp', v1.bytes, { version: '1', config: CONFIG('mlp', 'version_policy: { all: {} }') });
  writeModel(repo.dir, 'mlp', v2.bytes, { version: '2' });
  writeModel(repo.dir, 'other', v1.bytes, { config: CONFIG('other') });
  srv = await startServer({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['*'] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const infer = (path: string) => postJson(srv.base, path, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [...x] }] });
const close = (a: number[], b: Float32Array) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-5);

test('GET /v2/health/live and /v2/health/ready → 200', async () => {
  assert.equal((await call(srv.base, '/v2/health/live')).status, 200);
  assert.equal((await call(srv.base, '/v2/health/ready')).status, 200);
});

test('GET /v2 → server metadata with extensions', async () => {
  const r = await call(srv.base, '/v2');
  assert.equal(r.status, 200);
  assert.equal(r.json.name, 'open-autoglm');
  assert.match(r.json.version, /^\d+\.\d+\.\d+/);
  assert.ok(r.json.extensions.includes('binary_tensor_data'));
});

test('GET /v2/models/{m}[/versions/{v}] → metadata with the batch dimension as -1', async () => {
  for (const path of ['/v2/models/mlp', '/v2/models/mlp/versions/1']) {
    const r = await call(srv.base, path);
    assert.equal(r.status, 200, path);
    assert.deepEqual(r.json, {
      name: 'mlp', versions: ['1', '2'], platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
    });
  }
});

test('GET …/ready per model and version; …/config is the normalized config', async () => {
  assert.equal((await call(srv.base, '/v2/models/mlp/ready')).status, 200);
  assert.equal((await call(srv.base, '/v2/models/mlp/versions/2/ready')).status, 200);
  assert.equal((await call(srv.base, '/v2/models/mlp/versions/3/ready')).status, 404);
  assert.equal((await call(srv.base, '/v2/models/nope/ready')).status, 404);
  const c = await call(srv.base, '/v2/models/mlp/config');
  assert.equal(c.status, 200);
  assert.equal(c.json.name, 'mlp');
  assert.equal(c.json.max_batch_size, 4);
  assert.deepEqual(c.json.input[0].dims, [3]);
});

test('POST …/infer: no version = the newest; a version picks its own model', async () => {
  const latest = await infer('/v2/models/mlp/infer');
  assert.equal(latest.status, 200);
  assert.equal(latest.json.model_version, '2');
  assert.ok(close(latest.json.outputs[0].data, v2.reference(x, 1)));
  const first = await infer('/v2/models/mlp/versions/1/infer');
  assert.equal(first.json.model_version, '1');
  assert.ok(close(first.json.outputs[0].data, v1.reference(x, 1)));
  assert.deepEqual(first.json.outputs[0].shape, [1, 2]);
});

test('unknown model / version → 404; unknown route → 404; wrong method → 405', async () => {
  assert.equal((await infer('/v2/models/nope/infer')).status, 404);
  assert.equal((await infer('/v2/models/mlp/versions/7/infer')).status, 404);
  assert.equal((await call(srv.base, '/v2/models/nope')).status, 404);
  const r = await call(srv.base, '/v2/models/mlp/whatever');
  assert.equal(r.status, 404);
  assert.match(r.json.error, /no endpoint/);
  assert.equal((await call(srv.base, '/v1/models')).status, 404);
  const m = await call(srv.base, '/v2/models/mlp/infer');
  assert.equal(m.status, 405);
  assert.equal(m.headers.get('allow'), 'POST');
  assert.equal((await call(srv.base, '/v2/health/live', { method: 'POST', body: '' })).status, 405);
});

test('model names that are not plain names → 400 (no path tricks)', async () => {
  // fetch would normalize a literal `..` away; node:http sends the path as written.
  const raw = await new Promise<number>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: srv.http.port, path: '/v2/models/../config' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject).end();
  });
  assert.equal(raw, 400);
  for (const bad of ['..%2F..%2Fetc', 'a%2Fb', '.hidden', '%00x', 'a%5Cb']) {
    const r = await call(srv.base, `/v2/models/${bad}/config`);
    assert.equal(r.status, 400, bad);
    assert.match(r.json.error, /not a plain model name/);
  }
  assert.equal((await call(srv.base, '/v2/models/mlp/versions/abc')).status, 400);
  assert.equal((await call(srv.base, '/v2/repository/models/..%2Fx/load', { body: '' })).status, 400);
});

test('POST /v2/repository/index lists every version with state and reason; ready: true filters', async () => {
  const r = await call(srv.base, '/v2/repository/index', { body: '' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, [
    { name: 'mlp', version: '2', state: 'READY', reason: '' },
    { name: 'mlp', version: '1', state: 'READY', reason: '' },
    { name: 'other', version: '1', state: 'READY', reason: '' },
  ]);
  const ready = await postJson(srv.base, '/v2/repository/index', { ready: true });
  assert.equal(ready.json.length, 3);
  assert.equal((await call(srv.base, '/v2/repository/index', { body: '{bad' })).status, 400);
});

test('repository unload → 503 on infer and not ready; load → serves again', async () => {
  assert.equal((await call(srv.base, '/v2/repository/models/other/unload', { body: '' })).status, 200);
  const r = await infer('/v2/models/other/infer');
  assert.equal(r.status, 503);
  assert.match(r.json.error, /not ready/);
  assert.equal((await call(srv.base, '/v2/models/other/ready')).status, 503);
  const idx = await call(srv.base, '/v2/repository/index', { body: '' });
  assert.deepEqual(idx.json.find((e: { name: string }) => e.name === 'other'), { name: 'other', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
  // An explicitly unloaded model does not make the server unready.
  assert.equal((await call(srv.base, '/v2/health/ready')).status, 200);
  assert.equal((await call(srv.base, '/v2/repository/models/other/load', { body: '' })).status, 200);
  assert.equal((await infer('/v2/models/other/infer')).status, 200);
  assert.equal((await call(srv.base, '/v2/repository/models/ghost/load', { body: '' })).status, 404);
});

test('repository load of a loaded model picks up a new version, with no failed request during the swap', async () => {
  const v3 = mlpModel(3, 4, 2, 33);
  writeModel(repo.dir, 'mlp', v3.bytes, { version: '3' });
  let reloading = true;
  const during: number[] = [];
  const traffic = (async () => {
    while (reloading) during.push((await infer('/v2/models/mlp/infer')).status);
  })();
  const r = await call(srv.base, '/v2/repository/models/mlp/load', { body: '' });
  reloading = false;
  await traffic;
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(during.length > 0 && during.every((s) => s === 200), `statuses during reload: ${during.join(',')}`);
  const meta = await call(srv.base, '/v2/models/mlp');
  assert.deepEqual(meta.json.versions, ['1', '2', '3']);
  const latest = await infer('/v2/models/mlp/infer');
  assert.equal(latest.json.model_version, '3');
  assert.ok(close(latest.json.outputs[0].data, v3.reference(x, 1)));
});
