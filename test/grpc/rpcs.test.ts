/**
 * Every RPC of inference.GRPCInferenceService and grpc.health.v1.Health/Check against a real server, checked
 * against what the same server says over HTTP; parameters as Triton's clients type them; ModelStreamInfer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { call, tempRepo } from '../http/helpers.js';
import { type Client, type GrpcRunning, expectFailure, expectOk, grpcClient, startGrpcServer } from './helpers.js';

const MLP = mlpModel(8, 4, 2, 9);
const CONFIG = `
name: "batched"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 8 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 priority_levels: 2 default_priority_level: 2 }
parameters { key: "note" value { string_value: "for the ModelConfig test" } }
`;

let srv: GrpcRunning;
let c: Client;
let health: Client;
const repo = tempRepo('autoglm-grpc-rpcs-');

before(async () => {
  writeModel(repo.dir, 'mlp', MLP.bytes);
  writeModel(repo.dir, 'batched', MLP.bytes, { config: CONFIG });
  writeModel(repo.dir, 'broken', Uint8Array.from([1, 2, 3]));
  srv = await startGrpcServer({ modelRepositories: [repo.dir], modelControlMode: 'explicit', startupModels: ['*'] });
  c = grpcClient(srv.target);
  health = grpcClient(srv.target, 'grpc.health.v1.Health');
});
after(async () => {
  c.close();
  health.close();
  await srv.close();
  repo.remove();
});

const x = seededFloats(8, 1, 1);
const raw = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const inferReq = (model: string, extra: Record<string, unknown> = {}) => ({
  model_name: model, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8] }], raw_input_contents: [raw(x)], ...extra,
});
const outputOf = (v: Record<string, any>) => new Float32Array(Uint8Array.from(v.raw_output_contents[0]).buffer);
const near = (got: Float32Array, want: Float32Array) => want.every((w, i) => Math.abs(got[i] - w) <= 1e-4 * (1 + Math.abs(w)));

test('ServerLive, ServerReady (not ready: a model failed to load), ServerMetadata as over HTTP', async () => {
  assert.deepEqual(expectOk(await c.call('ServerLive', {})), { live: true });
  assert.deepEqual(expectOk(await c.call('ServerReady', {})), { ready: false });
  const meta = expectOk(await c.call('ServerMetadata', {}));
  const http = (await call(srv.base, '/v2')).json;
  assert.deepEqual({ name: meta.name, version: meta.version, extensions: meta.extensions }, http);
});

test('ModelReady: ready, a version, unknown model and version (ready false, as Triton), a failed model', async () => {
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'mlp' })), { ready: true });
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'mlp', version: '1' })), { ready: true });
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'mlp', version: '2' })), { ready: false });
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'nope' })), { ready: false });
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'broken' })), { ready: false });
});

test('ModelMetadata as over HTTP (shapes as int64, -1 for the batch dimension); unknown model NOT_FOUND', async () => {
  const m = expectOk(await c.call('ModelMetadata', { name: 'batched' }));
  const http = (await call(srv.base, '/v2/models/batched')).json;
  const norm = (ts: { name: string; datatype: string; shape: (string | number)[] }[]) => ts.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) }));
  assert.deepEqual({ name: m.name, versions: m.versions, platform: m.platform, inputs: norm(m.inputs), outputs: norm(m.outputs) },
    { ...http, inputs: norm(http.inputs), outputs: norm(http.outputs) });
  assert.deepEqual(norm(m.inputs)[0].shape, [-1, 8]);
  const e = expectFailure(await c.call('ModelMetadata', { name: 'nope' }));
  assert.equal(e.code, grpc.status.NOT_FOUND);
  assert.match(e.details, /nope/);
});

test('ModelConfig: the config message carries what HTTP\'s config JSON says', async () => {
  const g = expectOk(await c.call('ModelConfig', { name: 'batched' })).config;
  const h = (await call(srv.base, '/v2/models/batched/config')).json;
  assert.equal(g.name, h.name);
  assert.equal(g.platform, h.platform);
  assert.equal(g.max_batch_size, h.max_batch_size);
  assert.deepEqual(g.input.map((i: any) => [i.name, i.data_type, i.dims.map(Number)]), h.input.map((i: any) => [i.name, i.data_type, i.dims]));
  assert.deepEqual(g.output.map((i: any) => [i.name, i.data_type, i.dims.map(Number)]), h.output.map((i: any) => [i.name, i.data_type, i.dims]));
  assert.equal(g.dynamic_batching.priority_levels, String(h.dynamic_batching.priority_levels));
  assert.equal(g.dynamic_batching.max_queue_delay_microseconds, String(h.dynamic_batching.max_queue_delay_microseconds));
  assert.deepEqual(g.parameters.note, { string_value: 'for the ModelConfig test' });
  assert.deepEqual(g.instance_group.map((i: any) => [i.kind, i.count]), h.instance_group.map((i: any) => [i.kind, i.count]));
  assert.equal(expectFailure(await c.call('ModelConfig', { name: 'nope' })).code, grpc.status.NOT_FOUND);
});

test('ModelStatistics: the server\'s statistics when it has the extension, else UNIMPLEMENTED saying so', async () => {
  const o = await c.call('ModelStatistics', { name: 'mlp' });
  if (typeof (srv.server as { modelStatistics?: unknown }).modelStatistics !== 'function') {
    assert.equal(expectFailure(o).code, grpc.status.UNIMPLEMENTED);
    return;
  }
  expectOk(await c.call('ModelInfer', inferReq('mlp')));
  const stats = expectOk(await c.call('ModelStatistics', { name: 'mlp' }));
  assert.equal(stats.model_stats.length, 1);
  const s = stats.model_stats[0];
  assert.equal(s.name, 'mlp');
  assert.equal(s.version, '1');
  assert.ok(Number(s.inference_count) >= 1);
  assert.ok(Number(s.inference_stats.success.count) >= 1);
  const http = (await call(srv.base, '/v2/models/mlp/stats')).json;
  assert.equal(Number(s.inference_stats.success.count), http.model_stats[0].inference_stats.success.count);
  assert.equal(expectFailure(await c.call('ModelStatistics', { name: 'nope' })).code, grpc.status.NOT_FOUND);
});

test('ModelInfer answers as the reference; raw_output_contents one per output; id echoed', async () => {
  const v = expectOk(await c.call('ModelInfer', inferReq('mlp', { id: 'abc' })));
  assert.equal(v.id, 'abc');
  assert.equal(v.model_name, 'mlp');
  assert.equal(v.model_version, '1');
  assert.equal(v.outputs.length, 1);
  assert.equal(v.raw_output_contents.length, 1);
  assert.deepEqual(v.outputs[0].shape.map(Number), [1, 2]);
  assert.ok(near(outputOf(v), MLP.reference(x, 1)));
});

test('typed parameters: priority as uint64 or int64, timeout int64, sequence_id 0, other keys pass', async () => {
  for (const parameters of [
    { priority: { uint64_param: 1 }, timeout: { int64_param: 5_000_000 } },
    { priority: { int64_param: 2 }, sequence_id: { int64_param: 0 }, sequence_start: { bool_param: false } },
    { custom: { string_param: 'x' }, ratio: { double_param: 0.5 }, triton_enable_empty_final_response: { bool_param: true } },
  ]) expectOk(await c.call('ModelInfer', inferReq('batched', { parameters })));
});

test('wrong parameter types and values are refused with INVALID_ARGUMENT and say why', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ priority: { string_param: '1' } }, /'priority'.*int64_param or uint64_param/],
    [{ priority: { int64_param: -1 } }, /'priority'.*>= 0/],
    [{ timeout: { uint64_param: 10 } }, /'timeout'.*int64_param/],
    [{ timeout: { int64_param: -5 } }, /'timeout'.*>= 0/],
    [{ sequence_id: { bool_param: true } }, /'sequence_id'.*int64_param, uint64_param or string_param/],
    [{ sequence_id: { int64_param: 42 } }, /sequence_id/],
    [{ sequence_start: { int64_param: 1 } }, /'sequence_start'.*bool_param/],
    [{ triton_enable_empty_final_response: { string_param: 'yes' } }, /bool_param/],
    [{ triton_secret: { bool_param: true } }, /'triton_' are reserved/],
  ];
  for (const [parameters, msg] of cases) {
    const e = expectFailure(await c.call('ModelInfer', inferReq('batched', { parameters })));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(parameters));
    assert.match(e.details, msg);
  }
});

test('RepositoryIndex: every version with state and reason; ready filter; repository_name refused', async () => {
  const all = expectOk(await c.call('RepositoryIndex', {})).models;
  const byName = new Map(all.map((m: any) => [m.name, m]));
  assert.deepEqual([...byName.keys()].sort(), ['batched', 'broken', 'mlp']);
  assert.equal((byName.get('mlp') as any).state, 'READY');
  assert.equal((byName.get('broken') as any).state, 'UNAVAILABLE');
  assert.ok((byName.get('broken') as any).reason.length > 0);
  const http = (await call(srv.base, '/v2/repository/index', { method: 'POST', body: '{}' })).json;
  assert.deepEqual(all.map((m: any) => [m.name, m.version, m.state]).sort(), http.map((m: any) => [m.name, m.version ?? '', m.state]).sort());
  const ready = expectOk(await c.call('RepositoryIndex', { ready: true })).models.map((m: any) => m.name).sort();
  assert.deepEqual(ready, ['batched', 'mlp']);
  assert.equal(expectFailure(await c.call('RepositoryIndex', { repository_name: 'other' })).code, grpc.status.UNIMPLEMENTED);
});

test('RepositoryModelUnload then ModelInfer is UNAVAILABLE; RepositoryModelLoad brings it back; load parameters refused', async () => {
  assert.deepEqual(expectOk(await c.call('RepositoryModelUnload', { model_name: 'batched', parameters: { unload_dependents: { bool_param: false } } })), {});
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'batched' })), { ready: false });
  const e = expectFailure(await c.call('ModelInfer', inferReq('batched')));
  assert.equal(e.code, grpc.status.UNAVAILABLE);
  assert.deepEqual(expectOk(await c.call('RepositoryModelLoad', { model_name: 'batched' })), {});
  assert.deepEqual(expectOk(await c.call('ModelReady', { name: 'batched' })), { ready: true });
  expectOk(await c.call('ModelInfer', inferReq('batched')));
  const p = expectFailure(await c.call('RepositoryModelLoad', { model_name: 'batched', parameters: { config: { string_param: '{}' } } }));
  assert.equal(p.code, grpc.status.UNIMPLEMENTED);
  assert.match(p.details, /config/);
  assert.equal(expectFailure(await c.call('RepositoryModelLoad', { model_name: 'nope' })).code, grpc.status.NOT_FOUND);
});

test('shared memory, trace and log settings: UNIMPLEMENTED with a reason; the *Unregister calls succeed (nothing registered)', async () => {
  for (const rpc of ['SystemSharedMemoryStatus', 'SystemSharedMemoryRegister', 'CudaSharedMemoryStatus', 'CudaSharedMemoryRegister']) {
    const e = expectFailure(await c.call(rpc, {}));
    assert.equal(e.code, grpc.status.UNIMPLEMENTED, rpc);
    assert.match(e.details, /shared-memory tensors are not supported/);
  }
  assert.deepEqual(expectOk(await c.call('SystemSharedMemoryUnregister', {})), {});
  assert.deepEqual(expectOk(await c.call('SystemSharedMemoryUnregister', { name: 'region' })), {});
  assert.deepEqual(expectOk(await c.call('CudaSharedMemoryUnregister', {})), {});
  assert.match(expectFailure(await c.call('TraceSetting', {})).details, /tracing is not supported/);
  assert.match(expectFailure(await c.call('LogSettings', {})).details, /log settings/);
  const shm = expectFailure(await c.call('ModelInfer', inferReq('mlp', {
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], parameters: { shared_memory_region: { string_param: 'r' } } }],
  })));
  assert.equal(shm.code, grpc.status.UNIMPLEMENTED);
});

test('grpc.health.v1.Health/Check: NOT_SERVING while a model is unavailable, SERVING once it is unloaded; unknown service NOT_FOUND', async () => {
  assert.deepEqual(expectOk(await health.call('Check', { service: '' })), { status: 'NOT_SERVING' });
  expectOk(await c.call('RepositoryModelUnload', { model_name: 'broken' }));
  assert.deepEqual(expectOk(await health.call('Check', {})), { status: 'SERVING' });
  assert.deepEqual(expectOk(await health.call('Check', { service: 'inference.GRPCInferenceService' })), { status: 'SERVING' });
  assert.deepEqual(expectOk(await c.call('ServerReady', {})), { ready: true });
  assert.equal(expectFailure(await health.call('Check', { service: 'other.Service' })).code, grpc.status.NOT_FOUND);
});

test('ModelStreamInfer: one response per request, in request order; errors in error_message with the id; the stream goes on', async () => {
  const reqs = [
    inferReq('mlp', { id: 'a' }),
    inferReq('nope', { id: 'b' }),
    inferReq('mlp', { id: 'c', parameters: { triton_enable_empty_final_response: { bool_param: true } } }),
    { model_name: 'mlp', id: 'd', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8] }], raw_input_contents: [] },
    inferReq('batched', { id: 'e' }),
  ];
  const { responses, status } = await c.stream(reqs);
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(responses.map((r) => r.infer_response.id), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(responses[0].error_message, '');
  assert.ok(near(outputOf(responses[0].infer_response), MLP.reference(x, 1)));
  assert.match(responses[1].error_message, /nope/);
  assert.equal(responses[2].error_message, '');
  assert.deepEqual(responses[2].infer_response.parameters.triton_final_response, { bool_param: true, parameter_choice: 'bool_param' });
  assert.match(responses[3].error_message, /no data/);
  assert.equal(responses[4].error_message, '');
  assert.equal(responses[4].infer_response.model_name, 'batched');
});

test('ModelStreamInfer with many requests at once: every one answered, in order, each with its own answer', async () => {
  const inputs = Array.from({ length: 40 }, (_, i) => seededFloats(8, 100 + i, 1));
  const reqs = inputs.map((v, i) => ({ model_name: 'batched', id: `r${i}`, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8] }], raw_input_contents: [raw(v)] }));
  const { responses, status } = await c.stream(reqs);
  assert.equal(status.code, grpc.status.OK);
  assert.equal(responses.length, 40);
  responses.forEach((r, i) => {
    assert.equal(r.infer_response.id, `r${i}`);
    assert.ok(near(outputOf(r.infer_response), MLP.reference(inputs[i], 1)), `r${i}`);
  });
});

test('an unknown method is UNIMPLEMENTED', async () => {
  const raw = new grpc.Client(srv.target, grpc.credentials.createInsecure());
  const o = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest('/inference.GRPCInferenceService/Nope', (b: Buffer) => b, (b: Buffer) => b,
    Buffer.alloc(0), (err) => resolve(err)));
  raw.close();
  assert.equal(o?.code, grpc.status.UNIMPLEMENTED);
  assert.match(o!.details, /unknown method/);
});
