import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelConfig, ConfigError } from '../../src/repository/index.js';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { tinyGptConfig, tinyGptModel } from '../../scripts/tiny-gpt.js';

const repo = tempRepo('autoglm-gencfg-');
after(() => repo.remove());
const GPT = tinyGptModel().bytes;
let n = 0;

async function load(config: string, bytes: Uint8Array = GPT) {
  const name = `m${n++}`;
  return loadModelConfig(writeModel(repo.dir, name, bytes, { config: config.replace(/name: "[^"]*"/, `name: "${name}"`) }));
}

async function refused(config: string, msg: RegExp, bytes?: Uint8Array): Promise<void> {
  const err = await load(config, bytes).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigError, `expected a ConfigError matching ${msg}, got ${String(err)}`);
  assert.match(err.message, msg);
}

const param = (key: string, value: string) => `  { key: "${key}" value { string_value: "${value}" } },\n`;
const withParam = (key: string, value: string) => tinyGptConfig('x').replace('parameters [\n', `parameters [\n${param(key, value)}`);

test('the generation parameters and the step model\'s cache layout make the config\'s generation', async () => {
  const { config } = await load(tinyGptConfig('x', { maxActive: 8, batching: 'request' }));
  assert.deepEqual(config.generation, {
    batching: 'request', max_active: 8, max_length: 256, max_prompt: 128, max_tokens: 128, eos_token: 256, max_queue: 1024,
    layers: 2, heads: 4, head_dim: 32, vocab: 257,
  });
});

test('a generation config is refused at load, naming what is wrong', async () => {
  await refused(tinyGptConfig('x').replace('"iteration"', '"bogus"'), /parameter generation must be one of iteration, request \(got 'bogus'\)/);
  await refused(tinyGptConfig('x').replace('max_batch_size: 0', 'max_batch_size: 8'), /max_batch_size must be 0/);
  await refused(withParam('generation_max_actives', '3'), /unknown parameter generation_max_actives/);
  await refused(tinyGptConfig('x').replace(/"generation_max_active" value \{ string_value: "\d+"/, '"generation_max_active" value { string_value: "0"'), /generation_max_active must be an integer >= 1 \(got '0'\)/);
  await refused(tinyGptConfig('x').replace(/"generation_max_length" value \{ string_value: "\d+"/, '"generation_max_length" value { string_value: "200"'), /generation_max_prompt \(128\) \+ generation_max_tokens \(128\) exceed generation_max_length \(200\)/);
  await refused(tinyGptConfig('x', { eosToken: 300 }), /generation_eos_token 300 is not in the vocabulary \(0…256\)/);
  await refused(tinyGptConfig('x').replace('name: "text_input"', 'name: "prompt"'), /lists one input: \{ name: "text_input"/);
  await refused(tinyGptConfig('x').replace('name: "token_id" data_type: TYPE_INT32', 'name: "token_id" data_type: TYPE_INT64'), /lists two outputs/);
  await refused(tinyGptConfig('x').replace('parameters [', 'dynamic_batching { }\nparameters ['), /batched by its own scheduler/);
  await refused(tinyGptConfig('x'), /the step model has no input 'input_ids'/, mlpModel(4, 4, 4).bytes);
});
