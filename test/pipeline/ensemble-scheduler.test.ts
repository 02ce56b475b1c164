import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceServer } from '../../src/server/inference-server.js';
import { InferenceError, type InferenceRequest, type Tensor } from '../../src/core/index.js';
import { tmpRepo } from './helpers.js';

/**
 * Real server, real JS models (worker threads), real schedulers: the ensembles below are loaded by the server from
 * config.pbtxt like any model.
 */
const repo = tmpRepo();
let server: InferenceServer;

function model(name: string, config: string, source?: string): void {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(join(repo, name, 'config.pbtxt'), `name: "${name}"\n${config}`);
  if (source) writeFileSync(join(repo, name, '1', 'model.mjs'), source);
}

// A stage: y = x + add after `ms` of waiting (an await, not a busy loop: the overlap test must not depend on free
// cores), reporting when it ran as [start, end] in ms since the epoch. x[0] = 13 makes stage b fail.
const stage = (add: number, ms: number, failOn13 = false) => `
export async function execute(inputs) {
  const start = Date.now();
  const x = inputs.find((t) => t.name === 'x');
  if (${failOn13} && x.data[0] === 13) throw new Error('thirteen is unlucky');
  await new Promise((r) => setTimeout(r, ${ms}));
  return [
    { name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => v + ${add}) },
    { name: 't', datatype: 'FP64', shape: [x.shape[0], 2], data: Array.from({ length: x.shape[0] }, () => [start, Date.now()]).flat() },
  ];
}`;
// max_batch_size 1: a batching scheduler must not merge the concurrent requests into one batch, which would move
// them through the stages in lockstep and hide the overlap under test.
const stageConfig = `backend: "js"
max_batch_size: 1
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] }, { name: "t" data_type: TYPE_FP64 dims: [ 2 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]`;

const stepOf = (m: string, input: string, y: string, t: string) =>
  `{ model_name: "${m}" model_version: -1 input_map { key: "x" value: "${input}" } output_map { key: "y" value: "${y}" } output_map { key: "t" value: "${t}" } }`;

before(async () => {
  model('stage_a', stageConfig, stage(1, 150));
  model('stage_b', stageConfig, stage(10, 150, true));
  model('stage_c', stageConfig, stage(100, 150));
  model('chain', `platform: "ensemble"
max_batch_size: 1
input [ { name: "in" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [
  { name: "out" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "ta" data_type: TYPE_FP64 dims: [ 2 ] }, { name: "tb" data_type: TYPE_FP64 dims: [ 2 ] }, { name: "tc" data_type: TYPE_FP64 dims: [ 2 ] }
]
ensemble_scheduling { step [ ${stepOf('stage_a', 'in', 'a', 'ta')}, ${stepOf('stage_b', 'a', 'b', 'tb')}, ${stepOf('stage_c', 'b', 'out', 'tc')} ] }`);
  // A diamond: stage_a feeds two branches (stage_b, stage_c) that a JS join adds up. Stage b fails on 13 - 1.
  model('join', `backend: "js"
max_batch_size: 1
input [ { name: "p" data_type: TYPE_FP32 dims: [ 2 ] }, { name: "q" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "sum" data_type: TYPE_FP32 dims: [ 2 ] } ]`, `
export function execute(inputs) {
  const p = inputs.find((t) => t.name === 'p'), q = inputs.find((t) => t.name === 'q');
  return [{ name: 'sum', datatype: 'FP32', shape: p.shape, data: p.data.map((v, i) => v + q.data[i]) }];
}`);
  model('diamond', `platform: "ensemble"
max_batch_size: 1
input [ { name: "in" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [
  { name: "sum" data_type: TYPE_FP32 dims: [ 2 ] }, { name: "right" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "tb" data_type: TYPE_FP64 dims: [ 2 ] }, { name: "tc" data_type: TYPE_FP64 dims: [ 2 ] }
]
ensemble_scheduling { step [
  { model_name: "stage_a" model_version: -1 input_map { key: "x" value: "in" } output_map { key: "y" value: "a" } },
  ${stepOf('stage_b', 'a', 'left', 'tb')},
  ${stepOf('stage_c', 'a', 'right', 'tc')},
  { model_name: "join" model_version: -1 input_map { key: "p" value: "left" } input_map { key: "q" value: "right" } output_map { key: "sum" value: "sum" } }
] }`);
  // An ensemble of ensembles (named to sort before the one it uses): chain, then stage_a once more.
  model('a_outer', `platform: "ensemble"
max_batch_size: 1
input [ { name: "in" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "out" data_type: TYPE_FP32 dims: [ 2 ] } ]
ensemble_scheduling { step [
  { model_name: "chain" model_version: -1 input_map { key: "in" value: "in" } output_map { key: "out" value: "mid" } },
  { model_name: "stage_a" model_version: -1 input_map { key: "x" value: "mid" } output_map { key: "y" value: "out" } }
] }`);
  server = await InferenceServer.create({ modelRepositories: [repo], modelControlMode: 'explicit', startupModels: ['*'] });
});

after(async () => {
  await server?.close();
  rmSync(repo, { recursive: true, force: true });
});

const input = (...v: number[]): Tensor => ({ name: 'in', datatype: 'FP32', shape: [v.length / 2, 2], data: Float32Array.from(v) });
const req = (m: string, inputs: Tensor[], outputs?: string[]): InferenceRequest =>
  ({ model: m, inputs, outputs: outputs?.map((name) => ({ name })) });
const out = (r: { outputs: Tensor[] }, name: string) => Array.from(r.outputs.find((t) => t.name === name)!.data as Float32Array | Float64Array);

test('an ensemble is a model: ready, with metadata, answering through its steps', async () => {
  assert.equal(server.isModelReady('chain'), true);
  assert.equal(server.isReady(), true);
  const md = server.modelMetadata('chain');
  assert.equal(md.platform, 'ensemble');
  assert.deepEqual(md.inputs, [{ name: 'in', datatype: 'FP32', shape: [-1, 2] }]);
  const r = await server.infer(req('chain', [input(1, 2)], ['out']));
  assert.equal(r.model, 'chain');
  assert.deepEqual(r.outputs.map((t) => t.name), ['out']);
  assert.deepEqual(r.outputs[0].shape, [1, 2]);
  assert.deepEqual(out(r, 'out'), [112, 113]);
});

test('an ensemble of ensembles loads after the one it uses and runs through it', async () => {
  assert.equal(server.isModelReady('a_outer'), true, JSON.stringify(server.repositoryIndex().filter((r) => r.name === 'a_outer')));
  assert.deepEqual(out(await server.infer(req('a_outer', [input(1, 2)])), 'out'), [113, 114]);
});

test('different requests occupy different stages at the same time', async () => {
  const rs = await Promise.all([0, 1, 2, 3].map((i) => server.infer(req('chain', [input(i, i)]))));
  rs.forEach((r, i) => assert.deepEqual(out(r, 'out'), [i + 111, i + 111]));
  const spans = rs.map((r) => ({ a: out(r, 'ta'), b: out(r, 'tb'), c: out(r, 'tc') }));
  // Some request ran stage a while another ran stage b or c: with one instance per stage and no overlap, every
  // request would go through all three stages before the next one started.
  const overlaps = (x: number[], y: number[]) => Math.min(x[1], y[1]) - Math.max(x[0], y[0]) > 0;
  const concurrent = spans.some((s, i) => spans.some((o, j) => i !== j && (overlaps(s.a, o.b) || overlaps(s.a, o.c) || overlaps(s.b, o.c))));
  assert.ok(concurrent, `no two stages of different requests overlapped: ${JSON.stringify(spans)}`);
  // Within a request the order holds: b starts after a ends, c after b.
  for (const s of spans) assert.ok(s.a[1] <= s.b[0] && s.b[1] <= s.c[0], JSON.stringify(s));
});

test('a failing step fails its request only, naming the step, with the step error code', async () => {
  const [bad, good] = await Promise.allSettled([
    server.infer(req('chain', [input(12, 0)])),
    server.infer(req('chain', [input(5, 0)])),
  ]);
  assert.equal(bad.status, 'rejected');
  const e = (bad as PromiseRejectedResult).reason;
  assert.ok(e instanceof InferenceError);
  assert.equal(e.code, 'INTERNAL');
  assert.match(e.message, /ensemble 'chain' step 2 \(stage_b\): .*thirteen is unlucky/);
  assert.equal(good.status, 'fulfilled');
  assert.deepEqual(out((good as PromiseFulfilledResult<{ outputs: Tensor[] }>).value, 'out'), [116, 111]);
});

test('a diamond runs both branches at once and joins them; only the steps an output needs run', async () => {
  const r = await server.infer(req('diamond', [input(1, 2)]));
  assert.deepEqual(out(r, 'sum'), [(1 + 1 + 10) + (1 + 1 + 100), (2 + 1 + 10) + (2 + 1 + 100)]);
  const [tb, tc] = [out(r, 'tb'), out(r, 'tc')];
  assert.ok(Math.min(tb[1], tc[1]) > Math.max(tb[0], tc[0]), `branches ran one after the other: ${tb} ${tc}`);
  // Asking only for `right` skips stage_b (which would fail on 13 − 1) and the join.
  const right = await server.infer(req('diamond', [input(12, 0)], ['right']));
  assert.deepEqual(right.outputs.map((t) => t.name), ['right']);
  assert.deepEqual(out(right, 'right'), [113, 101]);
  await assert.rejects(server.infer(req('diamond', [input(12, 0)], ['sum'])), /step 2 \(stage_b\)/);
});

test('bad requests are refused before any step runs', async () => {
  await assert.rejects(server.infer(req('chain', [{ name: 'in', datatype: 'FP64', shape: [1, 2], data: new Float64Array(2) }])),
    (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(server.infer(req('chain', [input(1, 2)], ['nope'])),
    (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT');
});

test('a step model unloaded under the pipeline fails its requests at that step until it is back', async () => {
  await server.unloadModel('stage_c');
  assert.equal(server.isModelReady('chain'), true);
  await assert.rejects(server.infer(req('chain', [input(1, 2)])),
    (e: unknown) => e instanceof InferenceError && e.code === 'UNAVAILABLE' && /ensemble 'chain' step 3 \(stage_c\)/.test(e.message));
  await server.loadModel('stage_c');
  assert.deepEqual(out(await server.infer(req('chain', [input(1, 2)], ['out'])), 'out'), [112, 113]);
});
