/** Triton's statistics extension over HTTP: GET /v2/models[/{m}[/versions/{v}]]/stats, on a real server. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { ThreadedHttpFrontend } from '../../src/frontends/http/index.js';
import { type Running, call, postJson, startServer, tempRepo } from './helpers.js';

let srv: Running;
const repo = tempRepo('autoglm-stats-');

/** Doubles x; a batch holding the value 13 fails (a backend error, counted as a failure by the scheduler). */
const DOUBLE = `
module.exports = {
  execute(inputs) {
    const x = inputs.find((t) => t.name === 'x');
    if (x.data.includes(13)) throw new Error('13 is unlucky');
    return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => v * 2) }];
  },
};`;

before(async () => {
  mkdirSync(join(repo.dir, 'double'), { recursive: true });
  writeFileSync(join(repo.dir, 'double', 'config.pbtxt'), `name: "double"
backend: "js"
max_batch_size: 4
version_policy: { all: {} }
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]`);
  for (const v of ['1', '2']) {
    mkdirSync(join(repo.dir, 'double', v));
    writeFileSync(join(repo.dir, 'double', v, 'model.js'), DOUBLE);
  }
  writeModel(repo.dir, 'mlp', mlpModel(3, 4, 2, 5).bytes);
  // A model whose only version fails to load: listed nowhere in the statistics.
  mkdirSync(join(repo.dir, 'broken', '1'), { recursive: true });
  writeFileSync(join(repo.dir, 'broken', 'config.pbtxt'), `name: "broken"
backend: "no_such_backend"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]`);
  writeFileSync(join(repo.dir, 'broken', '1', 'model.js'), DOUBLE);
  srv = await startServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const x = (rows: number[][]) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [rows.length, 2], data: rows.flat() }] });
const ZERO = { count: 0, ns: 0 };

/** Every field of Triton's ModelStatistics is present, and every count and ns is an unsigned integer. */
function assertShape(s: any): void {
  assert.deepEqual(Object.keys(s).sort(), ['batch_stats', 'execution_count', 'inference_count', 'inference_stats', 'last_inference',
    'memory_usage', 'name', 'response_stats', 'version']);
  assert.equal(typeof s.name, 'string');
  assert.equal(typeof s.version, 'string');
  for (const k of ['last_inference', 'inference_count', 'execution_count']) assert.ok(Number.isSafeInteger(s[k]) && s[k] >= 0, k);
  assert.deepEqual(Object.keys(s.inference_stats), ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss']);
  const durations = [...Object.values(s.inference_stats)] as any[];
  for (const b of s.batch_stats) {
    assert.deepEqual(Object.keys(b), ['batch_size', 'compute_input', 'compute_infer', 'compute_output']);
    assert.ok(Number.isSafeInteger(b.batch_size) && b.batch_size >= 1);
    durations.push(b.compute_input, b.compute_infer, b.compute_output);
  }
  for (const d of durations) {
    assert.deepEqual(Object.keys(d), ['count', 'ns']);
    assert.ok(Number.isSafeInteger(d.count) && d.count >= 0 && Number.isSafeInteger(d.ns) && d.ns >= 0, JSON.stringify(d));
  }
  assert.deepEqual(s.response_stats, {});
  assert.deepEqual(s.memory_usage, []);
}

test('GET /v2 lists the statistics extension', async () => {
  const r = await call(srv.base, '/v2');
  assert.ok(r.json.extensions.includes('statistics'));
});

test('before any request: every READY version of every model, by name then version, every field present and 0', async () => {
  const r = await call(srv.base, '/v2/models/stats');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(r.json), ['model_stats']);
  assert.deepEqual(r.json.model_stats.map((s: any) => `${s.name}/${s.version}`), ['double/1', 'double/2', 'mlp/1']);
  for (const s of r.json.model_stats) {
    assertShape(s);
    assert.deepEqual({ ...s, name: '', version: '' }, {
      name: '', version: '', last_inference: 0, inference_count: 0, execution_count: 0,
      inference_stats: {
        success: ZERO, fail: ZERO, queue: ZERO, compute_input: ZERO, compute_infer: ZERO, compute_output: ZERO, cache_hit: ZERO, cache_miss: ZERO,
      },
      batch_stats: [], response_stats: {}, memory_usage: [],
    }, 'warm-up batches are not counted');
  }
});

test('counts follow requests: rows, executions, per-batch-size rows, failures, last_inference; other versions untouched', async () => {
  const t0 = Date.now();
  // One at a time, so each request is one batch of its own rows.
  assert.equal((await postJson(srv.base, '/v2/models/double/versions/2/infer', x([[1, 2]]))).status, 200);
  assert.equal((await postJson(srv.base, '/v2/models/double/versions/2/infer', x([[1, 2], [3, 4]]))).status, 200);
  assert.equal((await postJson(srv.base, '/v2/models/double/versions/2/infer', x([[5, 6], [7, 8]]))).status, 200);
  const failed = await postJson(srv.base, '/v2/models/double/versions/2/infer', x([[13, 0]]));
  assert.equal(failed.status, 500);
  const t1 = Date.now();

  const r = await call(srv.base, '/v2/models/double/versions/2/stats');
  assert.equal(r.status, 200);
  assert.equal(r.json.model_stats.length, 1);
  const s = r.json.model_stats[0];
  assertShape(s);
  assert.equal(s.name, 'double');
  assert.equal(s.version, '2');
  assert.ok(s.last_inference >= t0 && s.last_inference <= t1, `last_inference ${s.last_inference} in [${t0}, ${t1}]`);
  assert.equal(s.inference_count, 5, 'rows of the successful batches');
  assert.equal(s.execution_count, 3, 'successful batches');
  const is = s.inference_stats;
  assert.equal(is.success.count, 3);
  assert.equal(is.fail.count, 1);
  for (const k of ['queue', 'compute_input', 'compute_infer', 'compute_output']) assert.equal(is[k].count, 3, `${k} counts each success`);
  assert.ok(is.success.ns > 0, 'a request takes some time');
  assert.deepEqual(is.cache_hit, ZERO);
  assert.deepEqual(is.cache_miss, ZERO);
  assert.deepEqual(s.batch_stats.map((b: any) => [b.batch_size, b.compute_input.count, b.compute_infer.count, b.compute_output.count]),
    [[1, 1, 1, 1], [2, 2, 2, 2]]);
  const batchInferNs = s.batch_stats.reduce((n: number, b: any) => n + b.compute_infer.ns, 0);
  assert.equal(batchInferNs, is.compute_infer.ns, 'one request per batch: the per-request and per-batch sums agree');

  // The model's stats list both versions; version 1 saw nothing.
  const both = await call(srv.base, '/v2/models/double/stats');
  assert.deepEqual(both.json.model_stats.map((m: any) => m.version), ['1', '2']);
  assert.deepEqual(both.json.model_stats[1], s);
  assert.equal(both.json.model_stats[0].execution_count, 0);
  assert.equal(both.json.model_stats[0].last_inference, 0);

  // A later request moves the counts on.
  assert.equal((await postJson(srv.base, '/v2/models/double/infer', x([[0, 1], [2, 3], [4, 5]]))).status, 200);
  const after = (await call(srv.base, '/v2/models/double/versions/2/stats')).json.model_stats[0];
  assert.equal(after.inference_count, 8);
  assert.equal(after.execution_count, 4);
  assert.equal(after.inference_stats.success.count, 4);
  assert.ok(after.inference_stats.success.ns >= is.success.ns);
  assert.ok(after.last_inference >= s.last_inference);
  assert.deepEqual(after.batch_stats.map((b: any) => [b.batch_size, b.compute_infer.count]), [[1, 1], [2, 2], [3, 1]]);
});

test('unknown models and versions → 404, versions not READY → 503, bad versions → 400, all as {"error"}', async () => {
  for (const [path, status] of [
    ['/v2/models/nope/stats', 404],
    ['/v2/models/nope/versions/1/stats', 404],
    ['/v2/models/double/versions/9/stats', 404],
    ['/v2/models/broken/stats', 503],
    ['/v2/models/broken/versions/1/stats', 503],
    ['/v2/models/double/versions/x/stats', 400],
  ] as const) {
    const r = await call(srv.base, path);
    assert.equal(r.status, status, path);
    assert.equal(typeof r.json.error, 'string', path);
  }
  const post = await call(srv.base, '/v2/models/stats', { method: 'POST', body: '{}' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

test('InferenceService.modelStatistics takes gRPC\'s empty strings as absent, and refuses a version without a name', () => {
  const all = srv.server.modelStatistics('', '');
  assert.deepEqual(all.model_stats.map((s) => s.name), ['double', 'double', 'mlp']);
  assert.deepEqual(srv.server.modelStatistics('mlp', '').model_stats.map((s) => s.version), ['1']);
  assert.throws(() => srv.server.modelStatistics('', '1'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => srv.server.modelStatistics('nope'), { code: 'NOT_FOUND' });
});

test('the threaded frontend forwards the statistics to the main thread', async () => {
  const threaded = await ThreadedHttpFrontend.listen(srv.server, { threads: 1, port: 0, host: '127.0.0.1', logLevel: 'silent' });
  try {
    const base = `http://127.0.0.1:${threaded.port}`;
    const r = await call(base, '/v2/models/double/versions/2/stats');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, srv.server.modelStatistics('double', '2'));
    const missing = await call(base, '/v2/models/nope/stats');
    assert.equal(missing.status, 404);
    assert.match(missing.json.error, /nope/);
  } finally {
    await threaded.close();
  }
});
