/**
 * Readiness follows instance health (ModelVersion.readiness): a version none of whose instances is READY reports
 * not ready (model ready, server ready, repository index, and `…/ready` 503 over HTTP), and is ready again once
 * one is back. Worker deaths are real: the JS model calls process.exit on a marked input. Readiness is read inside
 * the health listener, at the moment of each change, so nothing waits on time.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceError, type Tensor } from '../../src/core/index.js';
import { createBackends } from '../../src/backends/index.js';
import { JsBackend } from '../../src/backends/js/js-backend.js';
import type { InstanceHealth, ModelInstance } from '../../src/backends/backend.js';
import { tmpRepo } from '../pipeline/helpers.js';
import { startServer, type Running } from '../http/helpers.js';

const POISON = 13;
const SOURCE = `export function execute(inputs) {
  const x = inputs[0];
  if (x.data[0] === ${POISON}) process.exit(7);
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => v + 1) }];
}`;

const repo = tmpRepo('autoglm-readiness-');
for (const [name, count] of [['single', 1], ['pair', 2]] as const) {
  mkdirSync(join(repo, name, '1'), { recursive: true });
  writeFileSync(join(repo, name, '1', 'model.mjs'), SOURCE);
  writeFileSync(join(repo, name, 'config.pbtxt'), `backend: "js"
max_batch_size: 4
default_model_filename: "model.mjs"
input [ { name: "x" data_type: TYPE_FP32 dims: [ 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 2 ] } ]
instance_group [ { count: ${count} kind: KIND_CPU } ]
`);
}

// The JS backend, with a record of the instances it creates (InferenceServerOptions.backends).
const created = new Map<string, ModelInstance[]>();
const js = new JsBackend();
const backends = createBackends();
backends.set('js', {
  name: 'js',
  async createInstance(spec) {
    const i = await js.createInstance(spec);
    created.set(spec.model, [...(created.get(spec.model) ?? []), i]);
    return i;
  },
});

let running: Running | undefined;
after(async () => {
  await running?.close();
  rmSync(repo, { recursive: true, force: true });
});

const input = (first: number): Tensor[] => [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([first, 0]) }];

interface Seen { health: InstanceHealth; modelReady: boolean; serverReady: boolean; state: string; reason: string }

/** Readiness as the server reports it at each health change of `model`'s instances. */
function watch(r: Running, model: string): Seen[] {
  const seen: Seen[] = [];
  for (const i of created.get(model)!) {
    i.onHealthChange!((health) => {
      const row = r.server.repositoryIndex().find((x) => x.name === model)!;
      seen.push({ health, modelReady: r.server.isModelReady(model), serverReady: r.server.isReady(), state: row.state, reason: row.reason });
    });
  }
  return seen;
}

const isUnavailable = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof InferenceError, String(err));
  assert.equal(err.code, 'UNAVAILABLE', err.message);
  assert.match(err.message, pattern);
  return true;
};

test('a dead worker makes its model not ready until the replacement is READY; past the restart budget it stays not ready and refuses at once', async () => {
  running = await startServer({ modelRepositories: [repo], backends }, 0);
  const r = running;
  assert.equal(r.server.isModelReady('single'), true);
  assert.equal(r.server.isReady(), true);
  const seen = watch(r, 'single');

  // The poisoned batch kills the worker, is retried once on the replacement (InstanceDiedError), kills it again.
  await assert.rejects(r.server.infer({ model: 'single', inputs: input(POISON) }), isUnavailable(/its worker exited with code 7; a new worker is starting/));
  const ok = await r.server.infer({ model: 'single', inputs: input(1) });
  assert.deepEqual(Array.from(ok.outputs[0].data as Float32Array), [2, 1]);
  assert.deepEqual(seen.map((s) => s.health), ['RESTARTING', 'READY', 'RESTARTING', 'READY']);
  for (const s of seen) {
    const ready = s.health === 'READY';
    assert.equal(s.modelReady, ready, `model ready while ${s.health}`);
    assert.equal(s.serverReady, ready, `server ready while ${s.health}`);
    assert.equal(s.state, ready ? 'READY' : 'UNAVAILABLE');
    if (!ready) assert.match(s.reason, /instance 'single_0_0' RESTARTING: its worker exited with code 7; a new worker is starting/);
    else assert.equal(s.reason, '');
  }

  // Two more deaths: the third restarts, the fourth within the minute is past the budget.
  await assert.rejects(r.server.infer({ model: 'single', inputs: input(POISON) }), isUnavailable(/not restarted: it died 4 times within 60 s/));
  assert.deepEqual(seen.slice(4).map((s) => [s.health, s.modelReady, s.state]), [['RESTARTING', false, 'UNAVAILABLE'], ['READY', true, 'READY'], ['FAILED', false, 'UNAVAILABLE']]);
  assert.equal(r.server.isModelReady('single'), false);
  assert.equal(r.server.isReady(), false);
  assert.match(r.server.repositoryIndex().find((x) => x.name === 'single')!.reason, /instance 'single_0_0' FAILED: .*not restarted.*next try at/);
  assert.deepEqual(r.server.repositoryIndex({ readyOnly: true }).map((x) => x.name), ['pair']);
  // Requests are refused at once, not queued behind an instance that cannot run.
  await assert.rejects(r.server.infer({ model: 'single', inputs: input(1) }), isUnavailable(/single_0_0' is unavailable: .*not restarted/));
  // Over HTTP: the model's and the server's readiness answer 503; another model stays ready.
  assert.equal((await fetch(`${r.base}/v2/models/single/ready`)).status, 503);
  assert.equal((await fetch(`${r.base}/v2/models/single/versions/1/ready`)).status, 503);
  assert.equal((await fetch(`${r.base}/v2/health/ready`)).status, 503);
  assert.equal((await fetch(`${r.base}/v2/models/pair/ready`)).status, 200);
});

test('a model stays ready while one of its instances restarts and another is READY', async () => {
  const r = running!;
  const seen = watch(r, 'pair');
  await assert.rejects(r.server.infer({ model: 'pair', inputs: input(POISON) }));
  const ok = await r.server.infer({ model: 'pair', inputs: input(2) });
  assert.deepEqual(Array.from(ok.outputs[0].data as Float32Array), [3, 1]);
  assert.ok(seen.some((s) => s.health === 'RESTARTING'));
  for (const s of seen) assert.equal(s.modelReady, true, `model ready while one instance is ${s.health}`);
});
