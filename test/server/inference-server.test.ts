import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceServer, InferenceError, type ModelConfig } from '../../src/index.js';
import { planInstances } from '../../src/server/load-model.js';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';

const MLP = mlpModel(8, 16, 3, 9);
let server: InferenceServer;
const repo = mkdtempSync(join(tmpdir(), 'autoglm-server-'));

before(async () => {
  writeModel(repo, 'mlp', MLP.bytes, { config: `
max_batch_size: 4
input [ { name: "input" data_type: TYPE_FP32 dims: [ 8 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 3 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
` });
  server = await InferenceServer.create({ modelRepositories: [repo], limits: { maxRank: 3 } });
});
after(async () => {
  await server.close();
  rmSync(repo, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (err: unknown) => {
    assert.ok(err instanceof InferenceError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('in-process infer: typed arrays in, typed arrays out, id echoed, version reported', async () => {
  const x = seededFloats(2 * 8, 3, 1);
  const res = await server.infer({ id: 'lib', model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 8], data: x }] });
  assert.equal(res.id, 'lib');
  assert.equal(res.version, '1');
  assert.deepEqual(res.outputs.map((o) => [o.name, o.datatype, o.shape]), [['output', 'FP32', [2, 3]]]);
  const y = res.outputs[0].data as Float32Array;
  assert.ok(y instanceof Float32Array);
  const want = MLP.reference(x, 2);
  y.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5));
});

test('in-process requests are validated too: storage type, shape, limits, names', async () => {
  const input = (over: object) => ({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32' as const, shape: [1, 8], data: new Float32Array(8), ...over }] });
  await rejectsWith(server.infer(input({ data: new Float64Array(8) })), 'INVALID_ARGUMENT', /FP32 data must be Float32Array/);
  await rejectsWith(server.infer(input({ data: new Float32Array(7) })), 'INVALID_ARGUMENT', /7 elements given/);
  await rejectsWith(server.infer(input({ shape: [1, 1, 1, 8] })), 'INVALID_ARGUMENT', /rank 4 exceeds the limit of 3/);
  await rejectsWith(server.infer(input({ shape: [1.5, 8] })), 'INVALID_ARGUMENT', /invalid dimension/);
  await rejectsWith(server.infer({ ...input({}), model: '../mlp' }), 'INVALID_ARGUMENT', /not a plain model name/);
  await rejectsWith(server.infer({ ...input({}), model: 'nope' }), 'NOT_FOUND');
  await rejectsWith(server.infer({ ...input({}), version: '2' }), 'NOT_FOUND', /no version 2/);
});

test('metadata, config, readiness and index through the library API', () => {
  assert.deepEqual(server.modelMetadata('mlp').inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 8] }]);
  assert.equal(server.modelConfig('mlp').max_batch_size, 4);
  assert.ok(server.isReady());
  assert.ok(server.isModelReady('mlp'));
  assert.ok(!server.isModelReady('nope'));
  assert.deepEqual(server.repositoryIndex(), [{ name: 'mlp', version: '1', state: 'READY', reason: '' }]);
  assert.throws(() => server.modelMetadata('nope'), (e: unknown) => e instanceof InferenceError && e.code === 'NOT_FOUND');
});

test('instances: one per count (per GPU for KIND_GPU), named by group and index', () => {
  const cfg = (groups: ModelConfig['instance_group']) => ({ name: 'm', instance_group: groups }) as unknown as ModelConfig;
  assert.deepEqual(planInstances(cfg([])), [{ instanceName: 'm_0_0', kind: 'KIND_CPU', gpu: undefined }]);
  assert.deepEqual(planInstances(cfg([
    { name: 'cpu', count: 2, kind: 'KIND_CPU', gpus: [] },
    { name: 'gpu', count: 2, kind: 'KIND_GPU', gpus: [0, 1] },
  ])).map((p) => `${p.instanceName}:${p.kind}:${p.gpu ?? '-'}`), [
    'cpu_0:KIND_CPU:-', 'cpu_1:KIND_CPU:-', 'gpu_0:KIND_GPU:0', 'gpu_1:KIND_GPU:0', 'gpu_2:KIND_GPU:1', 'gpu_3:KIND_GPU:1',
  ]);
});

test('close() lets running requests finish, then refuses new ones', async () => {
  const own = await InferenceServer.create({ modelRepositories: [repo] });
  const x = seededFloats(8, 1, 1);
  const running = Array.from({ length: 8 }, () => own.infer({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: x }] }));
  const closed = own.close();
  await rejectsWith(own.infer({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: x }] }), 'UNAVAILABLE', /shutting down/);
  const results = await Promise.all(running);
  assert.equal(results.length, 8);
  await closed;
  assert.ok(!own.isLive());
  assert.deepEqual(own.repositoryIndex().map((r) => r.state), ['UNAVAILABLE']);
});
