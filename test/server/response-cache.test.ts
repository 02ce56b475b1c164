/** The response cache through the real server: hits, misses, what is never cached, the config rules, two processes on one LMDB. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InferenceServer } from '../../src/server/inference-server.js';
import { InferenceError, type InferenceRequest } from '../../src/core/index.js';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { CacheConfigError, parseCacheConfig } from '../../src/cache/cache-config.js';
import { freePort } from '../fixtures/redis.js';

const IN = 8, OUT = 4;
const MLP = mlpModel(IN, 16, OUT, 3);
const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = (p: string) => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d; };

const config = (name: string, extra: string) => `name: "${name}"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${IN} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
${extra}`;

function repo(): string {
  const dir = tmp('autoglm-rc-');
  writeModel(dir, 'cached', MLP.bytes, { config: config('cached', 'response_cache { enable: true }') });
  writeModel(dir, 'plain', MLP.bytes, { config: config('plain', '') });
  // A JS model that fails for a marked input: failures must not be cached.
  mkdirSync(join(dir, 'flaky', '1'), { recursive: true });
  writeFileSync(join(dir, 'flaky', 'config.pbtxt'), `name: "flaky"
backend: "js"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
response_cache { enable: true }`);
  writeFileSync(join(dir, 'flaky', '1', 'model.js'), `let calls = 0;
module.exports = { execute(inputs) {
  calls++;
  const x = inputs[0];
  if (x.data[0] === 13 && calls < 100) throw new Error('unlucky');
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => v + calls) }];
} };`);
  return dir;
}

const req = (model: string, seed: number): InferenceRequest => ({
  model, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], data: seededFloats(IN, seed, 1) }],
});
const counter = (text: string, name: string, model: string) =>
  Number(new RegExp(`^${name}\\{model="${model}",version="1"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

test('a repeated request is answered from the cache, identically; another input, or a model without response_cache, runs', async () => {
  const server = await InferenceServer.create({ modelRepositories: [repo()], cache: parseCacheConfig(['local,size=1MiB']) });
  try {
    const first = await server.infer(req('cached', 1));
    const again = await server.infer({ ...req('cached', 1), id: 'second' });
    assert.equal(again.id, 'second');
    assert.deepEqual(Array.from(again.outputs[0].data as Float32Array), Array.from(first.outputs[0].data as Float32Array));
    const want = MLP.reference(seededFloats(IN, 1, 1), 1);
    (again.outputs[0].data as Float32Array).forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-5, `output ${k}`));
    await server.infer(req('cached', 2));
    await server.infer(req('plain', 1));
    await server.infer(req('plain', 1));
    const text = server.metrics.render();
    assert.equal(counter(text, 'nv_cache_num_hits_per_model', 'cached'), 1);
    assert.equal(counter(text, 'nv_cache_num_misses_per_model', 'cached'), 2);
    assert.ok(counter(text, 'nv_cache_hit_duration_per_model', 'cached') > 0);
    assert.ok(Number.isNaN(counter(text, 'nv_cache_num_hits_per_model', 'plain')), 'a model without response_cache has no cache series');
    assert.equal(counter(text, 'nv_inference_request_success', 'plain'), 2, 'and runs every time');
    assert.equal(counter(text, 'nv_inference_request_success', 'cached'), 2, 'the hit did not run');
    assert.match(text, /^autoglm_cache_hits\{tier="local"\} 1$/m);
    const stats = server.modelStatistics('cached').model_stats[0].inference_stats;
    assert.equal(stats.cache_hit.count, 1);
    assert.equal(stats.cache_miss.count, 2);
    assert.ok(stats.cache_hit.ns > 0);
  } finally {
    await server.close();
  }
});

test('a failed inference is not cached: the same request runs again', async () => {
  const server = await InferenceServer.create({ modelRepositories: [repo()], cache: parseCacheConfig(['local,size=1MiB']) });
  try {
    const x = { model: 'flaky', inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [1, 1], data: new Float32Array([13]) }] };
    await assert.rejects(server.infer(x), (e: unknown) => e instanceof InferenceError);
    await assert.rejects(server.infer(x), (e: unknown) => e instanceof InferenceError, 'ran again (and failed again), not served from the cache');
    assert.equal(counter(server.metrics.render(), 'nv_cache_num_hits_per_model', 'flaky'), 0);
  } finally {
    await server.close();
  }
});

test('response_cache with sequence_batching fails the load, naming why; without a server cache it is ignored', async () => {
  const dir = tmp('autoglm-rc-seq-');
  writeModel(dir, 'seq', MLP.bytes, { config: config('seq', 'sequence_batching { }\nresponse_cache { enable: true }') });
  writeModel(dir, 'ok', MLP.bytes, { config: config('ok', 'response_cache { enable: true }') });
  const server = await InferenceServer.create({ modelRepositories: [dir], cache: parseCacheConfig(['local,size=1MiB']) });
  try {
    const index = server.repositoryIndex();
    const seq = index.find((r) => r.name === 'seq')!;
    assert.equal(seq.state, 'UNAVAILABLE');
    assert.match(seq.reason, /response_cache cannot be enabled for a model with sequence_batching/);
  } finally {
    await server.close();
  }
  const none = await InferenceServer.create({ modelRepositories: [dir] });
  try {
    await none.infer(req('ok', 1));
    await none.infer(req('ok', 1));
    assert.equal(counter(none.metrics.render(), 'nv_inference_request_success', 'ok'), 2);
  } finally {
    await none.close();
  }
});

test('--cache-config: Triton\'s spelling, keys merged per cache, tiers in order, units; bad specs name the problem', () => {
  assert.deepEqual(parseCacheConfig(['local,size=1048576']), [{ kind: 'local', sizeBytes: 1048576 }]);
  assert.deepEqual(parseCacheConfig(['redis,host=r', 'local,size=2MiB', 'redis,port=7000,timeout=50', 'lmdb,path=/c,size=1GiB']), [
    { kind: 'redis', host: 'r', port: 7000, username: undefined, password: undefined, db: 0, timeoutMs: 50, ttlSec: 0 },
    { kind: 'local', sizeBytes: 2 << 20 },
    { kind: 'lmdb', path: '/c', sizeBytes: 1 << 30 },
  ]);
  for (const [flags, msg] of [
    [['memcached,size=1'], /unknown cache 'memcached'/],
    [['local'], /local needs size=/],
    [['local,size=lots'], /byte count/],
    [['local,sise=1'], /'sise=1' is not one of size=/],
    [['redis,port=99999'], /port must be an integer in 1\.\.65535/],
    [['lmdb,size=1MiB'], /lmdb needs path=/],
  ] as const) assert.throws(() => parseCacheConfig(flags), (e: unknown) => e instanceof CacheConfigError && msg.test(e.message), flags.join(' '));
});

test('two server processes on one LMDB directory: an answer computed by one is a hit on the other', async () => {
  const dir = repo();
  const lmdb = join(tmp('autoglm-rc-lmdb-'), 'cache');
  const start = async () => {
    const metricsPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model-repository', dir, '--http-port', '0',
      '--http-address', '127.0.0.1', '--grpc-port', '0', '--metrics-port', String(metricsPort), '--log-format', 'json',
      '--cache-config', `lmdb,path=${lmdb},size=16MiB`], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('the server did not listen within 60 s')); }, 60_000);
      createInterface({ input: child.stdout! }).on('line', (l) => {
        if (!l.includes('HTTP server listening')) return;
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${(JSON.parse(l) as { port: number }).port}`);
      });
      child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`server exited ${c}`)); });
    });
    return { child, url, metrics: `http://127.0.0.1:${metricsPort}/metrics` };
  };
  const [a, b] = await Promise.all([start(), start()]);
  try {
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], data: Array.from(seededFloats(IN, 5, 1)) }] });
    const post = (url: string) => fetch(`${url}/v2/models/cached/infer`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } }).then((r) => r.json());
    const fromA = await post(a.url);
    // A's write transaction commits asynchronously: B sees the entry once it has (polled, not timed).
    let fromB: unknown;
    for (let i = 0; i < 200; i++) {
      fromB = await post(b.url);
      const text = await (await fetch(b.metrics)).text();
      if (counter(text, 'nv_cache_num_hits_per_model', 'cached') >= 1) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const text = await (await fetch(b.metrics)).text();
    assert.ok(counter(text, 'nv_cache_num_hits_per_model', 'cached') >= 1, 'a hit on B');
    assert.deepEqual((fromB as { outputs: unknown[] }).outputs, (fromA as { outputs: unknown[] }).outputs);
  } finally {
    for (const s of [a, b]) s.child.kill('SIGTERM');
    await Promise.all([a, b].map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
  }
});
