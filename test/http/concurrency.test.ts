import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { mlpModel, seededFloats, slowModel, writeModel } from '../fixtures/models.js';
import { type Running, binaryBody, bytesOf, call, postJson, startServer, tempRepo } from './helpers.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import type { CancelSignal, InferenceRequest } from '../../src/core/index.js';
import { InferenceError } from '../../src/core/index.js';

const IN = 16;
const OUT = 4;
const MLP = mlpModel(IN, 32, OUT, 5);

let srv: Running;
const repo = tempRepo();

before(async () => {
  writeModel(repo.dir, 'mlp', MLP.bytes, { config: `
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${IN} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
instance_group [ { count: 2 kind: KIND_CPU } ]
` });
  writeModel(repo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
parameters { key: "batching_policy" value { string_value: "none" } }
` }); // one request per execution: the 429 test keeps the queue full by replacing each answered request
  srv = await startServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

test('64 concurrent distinct requests each get their own answer (JSON and binary mixed)', async () => {
  const n = 64;
  const replies = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const batch = 1 + (i % 3);
    const x = seededFloats(batch * IN, 1000 + i, 2);
    const id = `req-${i}`;
    if (i % 2 === 0) {
      const r = await postJson(srv.base, '/v2/models/mlp/infer', { id, inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, IN], data: [...x] }] });
      return { i, x, batch, id, status: r.status, gotId: r.json.id, y: Float32Array.from(r.json.outputs?.[0]?.data ?? []) };
    }
    const { body, headers } = binaryBody({
      id, inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, IN], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }, [bytesOf(x)]);
    const r = await call(srv.base, '/v2/models/mlp/infer', { body, headers });
    const b = r.binary.slice();
    return { i, x, batch, id, status: r.status, gotId: r.json.id, y: new Float32Array(b.buffer, 0, b.byteLength / 4) };
  }));
  for (const r of replies) {
    assert.equal(r.status, 200, `request ${r.i}`);
    assert.equal(r.gotId, r.id);
    const want = MLP.reference(r.x, r.batch);
    assert.equal(r.y.length, want.length, `request ${r.i}`);
    for (let k = 0; k < want.length; k++) assert.ok(Math.abs(r.y[k] - want[k]) < 1e-4, `request ${r.i} element ${k}: ${r.y[k]} vs ${want[k]}`);
  }
});

test('the event loop stays free: /v2/health/live answers while a slow model computes', async () => {
  // Measure how long the slow request takes alone, then probe health while it runs again.
  const x = seededFloats(256 * 512, 9, 1);
  const { body, headers } = binaryBody({
    inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], parameters: { binary_data_size: x.byteLength } }],
    parameters: { binary_data_output: true },
  }, [bytesOf(x)]);
  const t0 = performance.now();
  assert.equal((await call(srv.base, '/v2/models/slow/infer', { body, headers })).status, 200);
  const alone = performance.now() - t0;

  const agent = new Agent({ keepAlive: true });
  const probe = () => new Promise<number>((resolve, reject) => {
    const s = performance.now();
    httpRequest(`${srv.base}/v2/health/live`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - s));
    }).on('error', reject).end();
  });
  await probe(); // open the probe's connection first
  let done = false;
  const slow = call(srv.base, '/v2/models/slow/infer', { body, headers }).then((r) => {
    done = true;
    return r;
  });
  const probes: number[] = [];
  while (!done && probes.length < 200) probes.push(await probe());
  const r = await slow;
  agent.destroy();
  assert.equal(r.status, 200);
  // If compute ran on the event loop, no probe could be answered until the slow request finished: at most one
  // probe would complete during it, taking about as long as the request. With workers, many complete, each quickly.
  assert.ok(probes.length >= 3, `only ${probes.length} health probes answered during a ${alone.toFixed(0)} ms computation`);
  const sorted = [...probes].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  assert.ok(median < alone / 2, `median probe ${median.toFixed(1)} ms vs ${alone.toFixed(1)} ms computation`);
});

test('a client that disconnects aborts its request: queued behind a slow one, it is dropped (CANCELLED)', async () => {
  // The real server, seen through a wrapper that records each request's signal and outcome.
  const seen: Array<{ signal: CancelSignal; outcome: Promise<string> }> = [];
  const real = srv.server;
  const spy = new Proxy(real, {
    get(target, key) {
      if (key === 'infer') {
        return (r: InferenceRequest) => {
          const p = target.infer(r);
          seen.push({ signal: r.signal!, outcome: p.then(() => 'OK', (e: unknown) => (e instanceof InferenceError ? e.code : String(e))) });
          return p;
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const fe = await HttpFrontend.listen(spy, { port: 0, host: '127.0.0.1' });
  try {
    const base = `http://127.0.0.1:${fe.port}`;
    const waitSeen = async (n: number) => {
      while (seen.length < n) await new Promise((r) => setTimeout(r, 1));
    };
    const x = seededFloats(256 * 512, 3, 1);
    const { body, headers } = binaryBody({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }, [bytesOf(x)]);
    const first = call(base, '/v2/models/slow/infer', { body, headers });
    await waitSeen(1);
    const second = httpRequest(`${base}/v2/models/slow/infer`, { method: 'POST', headers: { ...headers, 'Content-Length': body.length } });
    second.on('error', () => undefined);
    second.end(body);
    await waitSeen(2);
    assert.ok(!seen[1].signal.aborted);
    second.destroy();
    await new Promise<void>((resolve) => seen[1].signal.addEventListener('abort', () => resolve(), { once: true }));
    assert.equal((await first).status, 200);
    assert.equal(await seen[0].outcome, 'OK');
    assert.equal(await seen[1].outcome, 'CANCELLED');
    assert.equal((await call(base, '/v2/health/live')).status, 200);
  } finally {
    await fe.close();
  }
});

test('a full queue answers 429 with Retry-After, and the server recovers', async () => {
  // Fill the slow model's queue in-process (one instance; more requests than any queue bound) and keep it full:
  // each completion enqueues a replacement in the same microtask turn, before the server reads more I/O, so the
  // HTTP request can only find the queue full.
  const x = seededFloats(512, 5, 1);
  const req = { model: 'slow', inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [1, 512], data: x }] };
  const outcomes: Array<Promise<string>> = [];
  let flooding = true;
  const one = (): void => {
    outcomes.push(srv.server.infer(req).then(() => {
      if (flooding) one();
      return 'OK';
    }, (e: unknown) => (e as InferenceError).code));
  };
  for (let i = 0; i < 1100; i++) one();
  const r = await postJson(srv.base, '/v2/models/slow/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: [...x] }] });
  flooding = false;
  assert.equal(r.status, 429, `status ${r.status}`);
  assert.match(r.json.error, /queue/);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  const all = await Promise.all(outcomes);
  assert.ok(all.includes('QUEUE_FULL') && all.includes('OK'));
  assert.equal((await postJson(srv.base, '/v2/models/slow/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: [...x] }] })).status, 200);
});
