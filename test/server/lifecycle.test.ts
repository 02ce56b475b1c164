/**
 * Model lifecycle (issue 12; docs/lifecycle.md): control modes and the control token over HTTP and gRPC, version
 * policy and the index, Triton's model_warmup (and the automatic warm-up of BYTES models), canary traffic splits,
 * poll mode, reload while requests flow, and metric series removed with their model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { InferenceServer } from '../../src/server/inference-server.js';
import type { InferenceRequest } from '../../src/core/index.js';
import { compileWarmup } from '../../src/server/warmup-samples.js';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { call, startServer, tempRepo } from '../http/helpers.js';
import { grpcClient, startGrpcServer } from '../grpc/helpers.js';

const MLP_CONFIG = (extra = '') => `
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
${extra}`;

/** An MLP per version, each with its own weights (seed), so an answer says which version computed it. */
function writeMlp(repo: string, name: string, version: string, seed: number, config = MLP_CONFIG()): void {
  writeModel(repo, name, mlpModel(4, 8, 2, seed).bytes, { version, config });
}

const request = (model: string, extra: Partial<InferenceRequest> = {}): InferenceRequest => ({
  model, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }], ...extra,
});

test('control mode none (the default): load and unload are refused 403 / PERMISSION_DENIED, every model loads', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'a', '1', 1);
  writeMlp(repo.dir, 'b', '1', 2);
  const srv = await startGrpcServer({ modelRepositories: [repo.dir] });
  const http = await startServer({ modelRepositories: [repo.dir] });
  try {
    assert.equal(http.server.isModelReady('a') && http.server.isModelReady('b'), true);
    for (const op of ['load', 'unload']) {
      const r = await call(http.base, `/v2/repository/models/a/${op}`, { body: '' });
      assert.equal(r.status, 403);
      assert.match(r.json.error, /model control mode is 'none'.*--model-control-mode explicit/);
    }
    const g = await grpcCall(srv.grpc.port, 'RepositoryModelLoad', { model_name: 'a' });
    assert.equal(g.code, grpc.status.PERMISSION_DENIED);
    assert.equal(http.server.isModelReady('a'), true, 'still served');
  } finally {
    await srv.close();
    await http.close();
    repo.remove();
  }
});

test('explicit mode: only --load-model models (and an ensemble\'s steps) load; the rest are listed, not loaded, and load on request', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'a', '1', 1);
  writeMlp(repo.dir, 'b', '1', 2);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['a'] });
  try {
    assert.equal(server.isModelReady('a'), true);
    assert.equal(server.isModelReady('b'), false);
    assert.equal(server.isReady(), true, 'a model explicit mode did not load does not count against readiness');
    const b = server.repositoryIndex().find((r) => r.name === 'b')!;
    assert.equal(b.state, 'UNAVAILABLE');
    assert.match(b.reason, /not loaded/);
    await server.loadModel('b');
    assert.equal(server.isModelReady('b'), true);
    await server.unloadModel('a');
    assert.equal(server.isModelReady('a'), false);
    await assert.rejects(InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['ghost'] }), /--load-model: no model 'ghost'/);
  } finally {
    await server.close();
    repo.remove();
  }
});

/** A unary call with `authorization` metadata when given; resolves its status code (0 = OK). */
function grpcCall(port: number, rpc: string, req: object, auth?: string): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const c = grpcClient(`127.0.0.1:${port}`);
    const md = new grpc.Metadata();
    if (auth !== undefined) md.set('authorization', auth);
    (c.raw as unknown as Record<string, (r: object, m: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void>)[rpc](req, md, (err) => {
      c.close();
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '' });
    });
  });
}

test('readiness: loading a model that was unloaded (or is new) leaves a serving server ready; a failed load then counts', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'a', '1', 1);
  const dir = join(repo.dir, 'slow', '1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(repo.dir, 'slow', 'config.pbtxt'), `backend: "js"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
`);
  writeFileSync(join(dir, 'model.mjs'), `export async function initialize() { await new Promise((r) => setTimeout(r, 400)); }
export function execute([x]) { return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }]; }
`);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['a'] });
  try {
    assert.equal(server.isReady(), true);
    const loading = server.loadModel('slow');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.repositoryIndex().find((r) => r.name === 'slow')?.state, 'LOADING');
    assert.equal(server.isReady(), true, 'still ready while it loads');
    await loading;
    await server.unloadModel('slow');
    const again = server.loadModel('slow');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.isReady(), true, 'ready while an unloaded model loads again');
    await again;
    assert.equal(server.isReady(), true);
    writeFileSync(join(dir, 'model.mjs'), 'export function execute() { throw new Error("x"); }\nthrow new Error("broken module");\n');
    await server.unloadModel('slow');
    await assert.rejects(server.loadModel('slow'), /broken module/);
    assert.equal(server.isReady(), false, 'a model asked for and failed counts against readiness');
  } finally {
    await server.close();
    repo.remove();
  }
});

test('control token: load/unload need Authorization: Bearer <token> (401 + WWW-Authenticate otherwise), over HTTP and gRPC', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'a', '1', 1);
  const opts = { modelRepositories: [repo.dir], modelControlMode: 'explicit' as const, startupModels: ['*'], controlToken: 's3cret-token' };
  const http = await startServer(opts);
  const g = await startGrpcServer(opts);
  try {
    const none = await call(http.base, '/v2/repository/models/a/unload', { body: '' });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.match(none.json.error, /needs the control token/);
    const wrong = await call(http.base, '/v2/repository/models/a/unload', { body: '', headers: { Authorization: 'Bearer s3cret-tokeN' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.error, /wrong/);
    assert.equal(http.server.isModelReady('a'), true);
    const ok = await call(http.base, '/v2/repository/models/a/unload', { body: '', headers: { Authorization: 'Bearer s3cret-token' } });
    assert.equal(ok.status, 200);
    assert.equal(http.server.isModelReady('a'), false);
    assert.equal((await call(http.base, '/v2/repository/models/a/load', { body: '', headers: { Authorization: 'bearer s3cret-token' } })).status, 200);
    // The index stays readable without the token (it changes nothing).
    assert.equal((await call(http.base, '/v2/repository/index', { body: '' })).status, 200);

    assert.equal((await grpcCall(g.grpc.port, 'RepositoryModelUnload', { model_name: 'a' })).code, grpc.status.UNAUTHENTICATED);
    assert.equal((await grpcCall(g.grpc.port, 'RepositoryModelUnload', { model_name: 'a' }, 'Bearer nope')).code, grpc.status.UNAUTHENTICATED);
    assert.equal((await grpcCall(g.grpc.port, 'RepositoryModelUnload', { model_name: 'a' }, 'Bearer s3cret-token')).code, 0);
    assert.equal(g.server.isModelReady('a'), false);
  } finally {
    await http.close();
    await g.close();
    repo.remove();
  }
});

test('version policy: latest 2 serves the two newest; requests without a version go to the newest READY; the index lists each', async () => {
  const repo = tempRepo();
  for (const v of ['1', '2', '3']) writeMlp(repo.dir, 'm', v, Number(v), MLP_CONFIG('version_policy: { latest: { num_versions: 2 } }'));
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  try {
    assert.deepEqual(server.repositoryIndex().map((r) => [r.version, r.state]), [['3', 'READY'], ['2', 'READY']]);
    assert.equal((await server.infer(request('m'))).version, '3');
    assert.equal((await server.infer(request('m', { version: '2' }))).version, '2');
    await assert.rejects(server.infer(request('m', { version: '1' })), /no version 1/);
  } finally {
    await server.close();
    repo.remove();
  }
});

/** A JS model that appends "<instance> <first input element>" to a log file on each execute. */
function writeLoggingJsModel(repo: string, name: string, log: string, config: string): void {
  const dir = join(repo, name, '1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.mjs'), `
import { appendFileSync } from 'node:fs';
let instance = '';
export function initialize(ctx) { instance = ctx.instanceName; }
export function execute(inputs) {
  const x = inputs.find((t) => t.name === 'x');
  const first = x.datatype === 'BYTES' ? 'bytes:' + x.data.length + ':' + (x.data[0]?.length ?? -1) : String(x.data[0]);
  if (first === '13') throw Object.assign(new Error('thirteen is unlucky'), { code: 'INVALID_ARGUMENT' });
  appendFileSync(${JSON.stringify(log)}, instance + ' ' + first + '\\n');
  return [{ name: 'y', datatype: 'FP32', shape: [x.shape[0], 1], data: new Float32Array(x.shape[0]) }];
}
`);
  writeFileSync(join(repo, name, 'config.pbtxt'), config);
}

test('model_warmup: every instance runs each sample count times before READY; a failing sample fails the load, named', async () => {
  const repo = tempRepo();
  const log = join(repo.dir, 'calls.log');
  const base = `backend: "js"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
`;
  writeLoggingJsModel(repo.dir, 'warm', log, `${base}
model_warmup [ { name: "sevens" batch_size: 3 count: 2 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 2 ] input_data_file: "sevens.bin" } } } ]`);
  mkdirSync(join(repo.dir, 'warm', 'warmup'));
  writeFileSync(join(repo.dir, 'warm', 'warmup', 'sevens.bin'), Buffer.from(new Float32Array([7, 7]).buffer));
  writeLoggingJsModel(repo.dir, 'unlucky', join(repo.dir, 'unlucky.log'), `${base}
model_warmup [ { name: "thirteens" batch_size: 1 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 2 ] input_data_file: "x.bin" } } } ]`);
  mkdirSync(join(repo.dir, 'unlucky', 'warmup'));
  writeFileSync(join(repo.dir, 'unlucky', 'warmup', 'x.bin'), Buffer.from(new Float32Array([13, 13]).buffer));
  writeLoggingJsModel(repo.dir, 'nofile', join(repo.dir, 'nofile.log'), `${base}
model_warmup [ { name: "missing" batch_size: 1 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 2 ] input_data_file: "none.bin" } } } ]`);
  writeLoggingJsModel(repo.dir, 'badinput', join(repo.dir, 'badinput.log'), `${base}
model_warmup [ { name: "typo" batch_size: 1 inputs { key: "z" value: { data_type: TYPE_FP32 dims: [ 2 ] zero_data: true } } } ]`);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  try {
    const lines = readFileSync(log, 'utf8').trim().split('\n').sort();
    assert.deepEqual(lines, ['warm_0_0 7', 'warm_0_0 7', 'warm_0_1 7', 'warm_0_1 7'], 'each of 2 instances ran the sample twice');
    assert.equal(server.isModelReady('warm'), true);
    const reasons = new Map(server.repositoryIndex().map((r) => [r.name, r]));
    assert.equal(reasons.get('unlucky')!.state, 'UNAVAILABLE');
    assert.match(reasons.get('unlucky')!.reason, /warm-up sample 'thirteens' failed on instance 'unlucky_0_\d': thirteen is unlucky/);
    assert.match(reasons.get('nofile')!.reason, /warm-up sample 'missing': input 'x': cannot read warmup\/none.bin \(ENOENT\)/);
    assert.match(reasons.get('badinput')!.reason, /warm-up sample 'typo': input 'z' is not an input of the model/);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('automatic warm-up: a model without model_warmup runs zero inputs on each instance, BYTES inputs as empty elements', async () => {
  const repo = tempRepo();
  const log = join(repo.dir, 'calls.log');
  writeLoggingJsModel(repo.dir, 'texts', log, `backend: "js"
max_batch_size: 2
input [ { name: "x" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
`);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  try {
    assert.equal(server.isModelReady('texts'), true);
    assert.ok(existsSync(log), 'the BYTES model ran before READY');
    assert.match(readFileSync(log, 'utf8'), /^texts_0_0 bytes:\d+:0$/m);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('canary: version_traffic "1:90,2:10" splits requests without a version 90/10; a request id pins its version; an explicit version wins', async () => {
  const repo = tempRepo();
  const config = MLP_CONFIG('version_policy: { all: { } }\nparameters { key: "version_traffic" value: { string_value: "1:90,2:10" } }');
  writeMlp(repo.dir, 'm', '1', 1, config);
  writeMlp(repo.dir, 'm', '2', 2, config);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['*'] });
  try {
    const count = new Map<string, number>();
    for (let wave = 0; wave < 40; wave++) {
      const answers = await Promise.all(Array.from({ length: 250 }, () => server.infer(request('m'))));
      for (const r of answers) count.set(r.version, (count.get(r.version) ?? 0) + 1);
    }
    const share1 = (count.get('1') ?? 0) / 10_000;
    assert.ok(Math.abs(share1 - 0.9) <= 0.02, `version 1 took ${(share1 * 100).toFixed(1)} %`);
    // Readiness questions do not take turns of the split: 10 requests, each after one, are split 9 / 1.
    const ten: string[] = [];
    for (let i = 0; i < 10; i++) {
      assert.equal(server.isModelReady('m'), true);
      ten.push((await server.infer(request('m'))).version);
    }
    assert.equal(ten.filter((v) => v === '2').length, 1, `versions: ${ten}`);
    for (const id of ['client-a', 'client-b', 'user-42', 'x']) {
      const seen = new Set<string>();
      for (let i = 0; i < 50; i++) seen.add((await server.infer(request('m', { id }))).version);
      assert.equal(seen.size, 1, `id ${id} always lands on one version`);
    }
    const pinned = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const v = (await server.infer(request('m', { id: `req-${i}` }))).version;
      pinned.set(v, (pinned.get(v) ?? 0) + 1);
    }
    assert.ok(Math.abs((pinned.get('1') ?? 0) / 4000 - 0.9) <= 0.03, 'ids spread by the weights too');
    assert.equal((await server.infer(request('m', { version: '2' }))).version, '2');
    // Changing the split is a reload: the new weights take over.
    writeFileSync(join(repo.dir, 'm', 'config.pbtxt'), MLP_CONFIG('version_policy: { all: { } }\nparameters { key: "version_traffic" value: { string_value: "1:0,2:1" } }'));
    await server.loadModel('m');
    for (let i = 0; i < 20; i++) assert.equal((await server.infer(request('m'))).version, '2');
    // A split naming a version the policy does not serve fails the load, and the serving copy stays.
    writeFileSync(join(repo.dir, 'm', 'config.pbtxt'), MLP_CONFIG('version_policy: { all: { } }\nparameters { key: "version_traffic" value: { string_value: "1:50,7:50" } }'));
    await assert.rejects(server.loadModel('m'), /version_traffic: version 7 is not served/);
    assert.equal((await server.infer(request('m'))).version, '2');
  } finally {
    await server.close();
    repo.remove();
  }
});

test('poll mode: a new version, a new model, a broken change (the serving copy stays, the index says why), a removed model', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'm', '1', 1);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'poll', pollSecs: 3600 });
  try {
    await assert.rejects(server.loadModel('m'), /model control mode is 'poll'/);
    writeMlp(repo.dir, 'm', '2', 2);
    writeMlp(repo.dir, 'n', '1', 3);
    await server.pollRepositories();
    assert.equal((await server.infer(request('m'))).version, '2');
    assert.equal(server.isModelReady('n'), true);
    writeFileSync(join(repo.dir, 'm', 'config.pbtxt'), 'max_batch_size: -3 this is not pbtxt');
    await server.pollRepositories();
    assert.equal((await server.infer(request('m'))).version, '2', 'the serving copy stays');
    const row = server.repositoryIndex().find((r) => r.name === 'm')!;
    assert.equal(row.state, 'READY');
    assert.match(row.reason, /reload failed \(this copy keeps serving\): .*config.pbtxt/);
    rmSync(join(repo.dir, 'n'), { recursive: true });
    await server.pollRepositories();
    assert.equal(server.repositoryIndex().some((r) => r.name === 'n'), false);
    await assert.rejects(server.infer(request('n')), /unknown model 'n'/);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('reload while requests flow: none fails, each answer comes from version 1 or 2; unloading removes the metric series', async () => {
  const repo = tempRepo();
  writeMlp(repo.dir, 'm', '1', 1);
  const server = await InferenceServer.create({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['*'] });
  try {
    const expected = new Map<string, number>();
    for (const v of ['1', '2']) {
      // Each version's answer to the request, computed alone first (version 2 is loaded once to learn it).
      if (v === '2') { writeMlp(repo.dir, 'm', '2', 2); await server.loadModel('m'); }
      expected.set(v, ((await server.infer(request('m'))).outputs[0].data as Float32Array)[0]);
    }
    rmSync(join(repo.dir, 'm', '2'), { recursive: true });
    await server.loadModel('m');
    assert.equal((await server.infer(request('m'))).version, '1');
    let stop = false;
    const seen = new Map<string, number>();
    const clients = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const r = await server.infer(request('m'));
        assert.equal((r.outputs[0].data as Float32Array)[0], expected.get(r.version), `version ${r.version}'s own answer`);
        seen.set(r.version, (seen.get(r.version) ?? 0) + 1);
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    writeMlp(repo.dir, 'm', '2', 2);
    await server.loadModel('m');
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(clients);
    assert.ok((seen.get('1') ?? 0) > 0 && (seen.get('2') ?? 0) > 0, `answers by version: ${[...seen]}`);
    assert.match(server.metrics.render(), /nv_inference_request_success\{model="m",version="2"\}/);
    assert.doesNotMatch(server.metrics.render(), /model="m",version="1"/, 'version 1 left with its reload');
    await server.unloadModel('m');
    assert.doesNotMatch(server.metrics.render(), /model="m"/, 'no series of an unloaded model');
  } finally {
    await server.close();
    repo.remove();
  }
});


test('model_warmup on a model its scheduler cannot warm (an ensemble, a sequence model) fails the load, named', () => {
  const base = {
    name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 4, version_policy: { latest: { num_versions: 1 } },
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }], output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2] }],
    instance_group: [], parameters: {}, default_model_filename: 'model.onnx',
    model_warmup: [{ name: 'w', batch_size: 1, count: 1, inputs: { x: { data_type: 'TYPE_FP32', dims: [2], zero_data: true as const } } }],
  };
  assert.equal(compileWarmup(base, '/nowhere').length, 1);
  assert.throws(() => compileWarmup({ ...base, platform: 'ensemble' }, '/nowhere'), /warm-up sample 'w': an ensemble warms up through its steps/);
  assert.throws(() => compileWarmup({ ...base, sequence_batching: {} as never }, '/nowhere'), /warm-up sample 'w': model_warmup is not supported for a model with sequence_batching/);
});
