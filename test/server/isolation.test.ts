/**
 * Isolation (issue 14): a model that throws, loops forever (execute_timeout_ms) or exhausts its memory (max_heap_mb),
 * or an ONNX model whose run overruns its execute_timeout_ms, fails only its own requests; a healthy model served beside it keeps answering, correctly, and the misbehaving
 * model answers again once the bad input is gone. The latency side is measured in bench/isolation.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceError } from '../../src/core/index.js';
import { mlpModel, seededFloats, slowModel, writeModel } from '../fixtures/models.js';
import { type Running, postJson, startServer, tempRepo } from '../http/helpers.js';

const repo = tempRepo('autoglm-isolation-');
const mlp = mlpModel(4, 8, 2);
let srv: Running;

/** A JS model y = x that misbehaves when x[0] = 42 (so its load-time warm-up, on zeros, passes). */
function writeJsModel(name: string, misbehave: string, parameters: Record<string, string> = {}): void {
  const dir = join(repo.dir, name);
  mkdirSync(join(dir, '1'), { recursive: true });
  const params = Object.entries(parameters).map(([k, v]) => `parameters { key: "${k}" value: { string_value: "${v}" } }`).join('\n');
  writeFileSync(join(dir, 'config.pbtxt'), `name: "${name}"
backend: "js"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
${params}
`);
  writeFileSync(join(dir, '1', 'model.mjs'), `export function execute([x]) {
  if (x.data[0] === 42) { ${misbehave} }
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }];
}
`);
}

before(async () => {
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: `
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 2 ] } ]
` });
  writeJsModel('thrower', "throw new Error('boom');");
  writeJsModel('looper', 'for (;;) {}', { execute_timeout_ms: '300' });
  // ~8 ms at batch 1, ~2.6 s at batch 4096 on one core here: far on either side of its 250 ms limit.
  writeModel(repo.dir, 'slowpoke', slowModel(200), { config: `
backend: "onnxruntime"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ -1, 512 ] } ]
parameters { key: "execute_timeout_ms" value: { string_value: "250" } }
` });
  writeJsModel('hog', 'const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random()));', { max_heap_mb: '64' });
  srv = await startServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const jsInput = (v: number) => ({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [v] }] });

/** Healthy traffic on `mlp` until `until` settles: every answer 200 and right. Resolves how many were checked. */
async function healthyDuring(until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => { done = true; });
  let n = 0;
  const x = seededFloats(2 * 4, 3, 1);
  const want = mlp.reference(x, 2);
  while (!done || n < 5) {
    const r = await postJson(srv.base, '/v2/models/mlp/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: [...x] }] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    (r.json.outputs[0].data as number[]).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4));
    n++;
  }
  return n;
}

for (const [model, expected] of [
  ['thrower', /boom/],
  ['looper', /execute_timeout_ms/],
  ['hog', /out of memory|ERR_WORKER_OUT_OF_MEMORY|memory/i],
] as const) {
  test(`${model}: its bad request fails (5xx, error JSON), the healthy model keeps answering, ${model} recovers`, { timeout: 60_000 }, async () => {
    const bad = postJson(srv.base, `/v2/models/${model}/infer`, jsInput(42));
    const checked = await healthyDuring(bad);
    const r = await bad;
    assert.ok(r.status >= 500 && r.status < 600, `status ${r.status}`);
    assert.match(r.json.error, expected);
    assert.ok(checked >= 5);
    const good = await postJson(srv.base, `/v2/models/${model}/infer`, jsInput(7));
    assert.equal(good.status, 200, JSON.stringify(good.json));
    assert.deepEqual(good.json.outputs[0].data, [7]);
  });
}

test('an ONNX run past execute_timeout_ms fails its request (INTERNAL, naming the limit); requests queued behind it run on the new worker; none hangs', { timeout: 60_000 }, async () => {
  const x = (batch: number) => ({ name: 'x', datatype: 'FP32' as const, shape: [batch, 512], data: seededFloats(batch * 512, 4, 1) });
  const big = srv.server.infer({ model: 'slowpoke', inputs: [x(4096)] });
  const small = [1, 2, 3].map((n) => srv.server.infer({ model: 'slowpoke', inputs: [x(n)] }));
  const checked = await healthyDuring(Promise.allSettled([big, ...small]));
  await assert.rejects(big, (err: unknown) => {
    assert.ok(err instanceof InferenceError, String(err));
    assert.equal(err.code, 'INTERNAL');
    assert.match(err.message, /execute took longer than 250 ms \(execute_timeout_ms\); the batch was abandoned/);
    return true;
  });
  for (const [i, r] of (await Promise.all(small)).entries()) assert.deepEqual(r.outputs[0].shape, [i + 1, 512]);
  assert.ok(checked >= 5);
  // Over HTTP too, afterwards: a 200 from the replacement.
  const r = await postJson(srv.base, '/v2/models/slowpoke/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: [...seededFloats(512, 4, 1)] }] });
  assert.equal(r.status, 200, JSON.stringify(r.json).slice(0, 300));
});

test('every model is still ready afterwards', async () => {
  for (const m of ['mlp', 'thrower', 'looper', 'hog', 'slowpoke']) {
    const r = await fetch(`${srv.base}/v2/models/${m}/ready`);
    assert.equal(r.status, 200, m);
  }
});
