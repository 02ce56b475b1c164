/**
 * Issue 12: a model's metric series live as long as the model version they count. `autoglm serve --metrics-port 0`
 * with models loaded and unloaded through the repository API (in `--model-control-mode explicit` where the server
 * has control modes): an unloaded model's series leave /metrics, a version replaced by a reload takes its series
 * with it, a later load counts from 0, and a reload that keeps a version (a config change) keeps its series counting.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';

const config = (name: string, count: number) => `name: "${name}"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 16 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { count: ${count} kind: KIND_CPU } ]
`;

const repo = tempRepo('autoglm-unload-metrics-');
let child: ChildProcess;
let exited: Promise<number | null>;
let stderr = '';
let http = '';
let metrics = '';

before(async () => {
  writeModel(repo.dir, 'mlp', mlpModel(16, 32, 4, 1).bytes, { config: config('mlp', 1) });
  writeModel(repo.dir, 'other', mlpModel(16, 32, 4, 2).bytes, { config: config('other', 1) });
  // Servers with control modes refuse load/unload unless started in explicit mode (issue 12).
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--help'], { encoding: 'utf8' }).stdout;
  const control = help.includes('--model-control-mode') ? ['--model-control-mode', 'explicit', '--load-model', 'mlp', '--load-model', 'other'] : [];
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model-repository', repo.dir, ...control,
    '--http-port', '0', '--grpc-port', '0', '--http-address', '127.0.0.1', '--metrics-port', '0', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'HTTP server listening') http = `http://127.0.0.1:${rec.port}`;
      if (rec.msg === 'metrics server listening') metrics = `http://127.0.0.1:${rec.port}/metrics`;
      if (http && metrics) resolve();
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
});

after(async () => {
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  repo.remove();
});

async function infer(model: string): Promise<string> {
  const r = await fetch(`${http}/v2/models/${model}/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...seededFloats(16, 3, 1)] }] }),
  });
  const body = await r.json() as { model_version?: string; error?: string };
  assert.equal(r.status, 200, body.error);
  return body.model_version!;
}

async function repository(model: string, action: 'load' | 'unload'): Promise<void> {
  const r = await fetch(`${http}/v2/repository/models/${model}/${action}`, { method: 'POST', body: '' });
  assert.equal(r.status, 200, await r.text());
}

/** The sample lines (no # HELP/TYPE) of one model, optionally of one version. */
async function series(model: string, version?: string): Promise<string[]> {
  const text = await (await fetch(metrics)).text();
  return text.split('\n').filter((l) => !l.startsWith('#') && l.includes(`model="${model}"`) && (version === undefined || l.includes(`version="${version}"`)));
}

const successOf = async (model: string, version: string): Promise<number | undefined> => {
  const line = (await series(model, version)).find((l) => l.startsWith('nv_inference_request_success{'));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

test('a config change reloads version 1 beside itself: its series stay and keep counting', async () => {
  await infer('mlp');
  await infer('mlp');
  assert.equal(await successOf('mlp', '1'), 2);
  writeFileSync(join(repo.dir, 'mlp', 'config.pbtxt'), config('mlp', 2));
  await repository('mlp', 'load');
  assert.equal(await infer('mlp'), '1');
  const after = await successOf('mlp', '1');
  assert.ok(after !== undefined && after >= 1, `nv_inference_request_success of the reloaded version 1: ${after}`);
});

test('unload removes the model\'s metric series; a replaced version\'s series go; a later load counts from 0', async () => {
  await infer('other');
  assert.equal(await successOf('other', '1'), 1);
  // A reload that brings version 2 (latest 1: version 1 goes): version 1's series go with it.
  writeModel(repo.dir, 'mlp', mlpModel(16, 32, 4, 7).bytes, { version: '2' });
  await repository('mlp', 'load');
  assert.equal(await infer('mlp'), '2');
  assert.deepEqual(await series('mlp', '1'), [], 'series of the replaced version 1');
  assert.equal(await successOf('mlp', '2'), 1);
  // Unloading: none of the model's series is left; other models' stay.
  await repository('mlp', 'unload');
  assert.deepEqual(await series('mlp'), [], 'series of the unloaded model');
  assert.equal(await successOf('other', '1'), 1);
  // Loaded again: it starts over.
  await repository('mlp', 'load');
  assert.equal(await successOf('mlp', '2'), 0);
  assert.equal(await infer('mlp'), '2');
  assert.equal(await successOf('mlp', '2'), 1);
});
