import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ONNX, writeOnnxModel } from '../../src/onnx-proto/index.js';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { type Running, binaryBody, binaryOutputs, bytesOf, call, postJson, startServer, tempRepo } from './helpers.js';

/** A model no other test uses, built here: sum = a + b, prod = a * b over FP64 [batch, 2]. */
function unseenModel(): Uint8Array {
  return writeOnnxModel({
    name: 'sum_prod',
    nodes: [
      { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
      { op: 'Mul', inputs: ['a', 'b'], outputs: ['prod'] },
    ],
    inputs: [{ name: 'a', elemType: ONNX.DOUBLE, dims: ['n', 2] }, { name: 'b', elemType: ONNX.DOUBLE, dims: ['n', 2] }],
    outputs: [{ name: 'sum', elemType: ONNX.DOUBLE, dims: ['n', 2] }, { name: 'prod', elemType: ONNX.DOUBLE, dims: ['n', 2] }],
  });
}

const MLP = mlpModel(3, 5, 2, 3);
const garbage = Uint8Array.from({ length: 300 }, (_, i) => (i * 73 + 11) & 0xff);

let srv: Running;
const repo = tempRepo();
const repo2 = tempRepo();

before(async () => {
  writeModel(repo.dir, 'good', MLP.bytes);
  writeModel(repo.dir, 'corrupt', garbage);
  writeModel(repo.dir, 'corrupt_configured', garbage, { config: `
name: "corrupt_configured"
platform: "onnxruntime_onnx"
max_batch_size: 2
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
` });
  writeModel(repo.dir, 'bad_config', MLP.bytes, { config: 'max_batch_size: 4\nflavour: "mint"\n' });
  writeModel(repo2.dir, 'sum_prod', unseenModel());
  writeFileSync(join(repo.dir, 'README.txt'), 'not a model');
  srv = await startServer({ modelRepositories: [repo.dir, repo2.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
  repo2.remove();
});

test('broken models are UNAVAILABLE with their reason in the index; good ones are READY', async () => {
  const r = await call(srv.base, '/v2/repository/index', { body: '{}' });
  assert.equal(r.status, 200);
  const by = new Map<string, { state: string; reason: string }>(r.json.map((e: { name: string }) => [e.name, e]));
  assert.deepEqual([...by.keys()].sort(), ['bad_config', 'corrupt', 'corrupt_configured', 'good', 'sum_prod']);
  assert.equal(by.get('good')!.state, 'READY');
  assert.equal(by.get('sum_prod')!.state, 'READY');
  for (const name of ['corrupt', 'corrupt_configured', 'bad_config']) {
    assert.equal(by.get(name)!.state, 'UNAVAILABLE', name);
    assert.ok(by.get(name)!.reason.length > 10, `${name} has a reason: '${by.get(name)!.reason}'`);
  }
  assert.match(by.get('bad_config')!.reason, /config\.pbtxt:2/);
});

test('a broken model answers 503 with its reason; the server is live but not ready (strict readiness)', async () => {
  const r = await postJson(srv.base, '/v2/models/corrupt_configured/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
  assert.equal(r.status, 503);
  assert.match(r.json.error, /not ready/);
  assert.equal((await call(srv.base, '/v2/models/corrupt/ready')).status, 503);
  assert.equal((await call(srv.base, '/v2/health/live')).status, 200);
  assert.equal((await call(srv.base, '/v2/health/ready')).status, 503);
});

test('the good model beside them serves correct answers', async () => {
  const x = Float32Array.from([1, -2, 0.25, 3, 0, -1]);
  const r = await postJson(srv.base, '/v2/models/good/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3], data: [...x] }] });
  assert.equal(r.status, 200);
  const want = MLP.reference(x, 2);
  r.json.outputs[0].data.forEach((v: number, i: number) => assert.ok(Math.abs(v - want[i]) < 1e-5));
});

test('a model dropped in without a config: metadata derived, served in JSON and in binary', async () => {
  const meta = await call(srv.base, '/v2/models/sum_prod');
  assert.equal(meta.status, 200);
  assert.deepEqual(meta.json.inputs, [{ name: 'a', datatype: 'FP64', shape: [-1, 2] }, { name: 'b', datatype: 'FP64', shape: [-1, 2] }]);
  const a = [1.5, -2, 1e10, 0.1];
  const b = [2, 4, 3, 0.2];
  const j = await postJson(srv.base, '/v2/models/sum_prod/infer', {
    id: 'sp', inputs: [{ name: 'a', datatype: 'FP64', shape: [2, 2], data: a }, { name: 'b', datatype: 'FP64', shape: [2, 2], data: b }],
  });
  assert.equal(j.status, 200, JSON.stringify(j.json));
  assert.equal(j.json.id, 'sp');
  const out = new Map(j.json.outputs.map((o: { name: string; data: number[] }) => [o.name, o.data]));
  assert.deepEqual(out.get('sum'), a.map((v, i) => v + b[i]));
  assert.deepEqual(out.get('prod'), a.map((v, i) => v * b[i]));

  const fa = Float64Array.from(a);
  const fb = Float64Array.from(b);
  const { body, headers } = binaryBody({
    inputs: [
      { name: 'a', datatype: 'FP64', shape: [2, 2], parameters: { binary_data_size: 32 } },
      { name: 'b', datatype: 'FP64', shape: [2, 2], parameters: { binary_data_size: 32 } },
    ],
    outputs: [{ name: 'prod', parameters: { binary_data: true } }],
  }, [bytesOf(fa), bytesOf(fb)]);
  const bin = await call(srv.base, '/v2/models/sum_prod/infer', { body, headers });
  assert.equal(bin.status, 200, JSON.stringify(bin.json));
  const prod = binaryOutputs(bin).get('prod')!;
  assert.deepEqual([...new Float64Array(prod.buffer, prod.byteOffset, 4)], a.map((v, i) => v * b[i]));
  assert.deepEqual(bin.json.outputs.map((o: { name: string }) => o.name), ['prod']);
});
