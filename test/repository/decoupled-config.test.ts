/** model_transaction_policy: decoupled JS models load; every combination the server cannot serve is refused by name. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelConfig, ConfigError } from '../../src/repository/index.js';
import { tempRepo } from '../http/helpers.js';

const repo = tempRepo('autoglm-decoupled-cfg-');
after(() => repo.remove());
let n = 0;

const BASE = `backend: "js"
max_batch_size: 0
model_transaction_policy { decoupled: true }
input [ { name: "IN" data_type: TYPE_INT32 dims: [ -1 ] } ]
output [ { name: "OUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
`;

async function load(body: string) {
  const name = `d${n++}`;
  const dir = join(repo.dir, name);
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.pbtxt'), `name: "${name}"\n${body}`);
  writeFileSync(join(dir, '1', 'model.mjs'), 'export async function* execute() {}\n');
  return loadModelConfig(dir);
}

async function refused(body: string, msg: RegExp): Promise<void> {
  const err = await load(body).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigError, `expected a ConfigError matching ${msg}, got ${String(err)}`);
  assert.match(err.message, /model_transaction_policy \{ decoupled: true \}/);
  assert.match(err.message, msg);
}

test('a decoupled JS model loads, its config saying so', async () => {
  const { config, warnings } = await load(BASE);
  assert.deepEqual(config.model_transaction_policy, { decoupled: true });
  assert.deepEqual(warnings, []);
  const batched = await load(BASE.replace('max_batch_size: 0', 'max_batch_size: 4'));
  assert.equal(batched.config.max_batch_size, 4);
});

test('decoupled with what answers once per request, or batches requests, is refused naming why', async () => {
  await refused(BASE.replace('max_batch_size: 0', 'max_batch_size: 4') + 'dynamic_batching { }\n', /dynamic_batching is not supported/);
  await refused(BASE + 'response_cache { enable: true }\n', /response_cache is not supported/);
  await refused(BASE + 'model_warmup [ { name: "w" batch_size: 1 inputs { key: "IN" value { data_type: TYPE_INT32 dims: [ 1 ] zero_data: true } } } ]\n',
    /model_warmup is not supported/);
});
