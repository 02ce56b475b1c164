import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelConfig, ConfigError } from '../../src/repository/index.js';
import { writeModel } from '../fixtures/models.js';
import { accumulatorConfig, accumulatorModel } from '../fixtures/sequence-models.js';
import { tempRepo } from '../http/helpers.js';

const repo = tempRepo('autoglm-seqcfg-');
after(() => repo.remove());
let n = 0;

async function load(config: string) {
  const name = `m${n++}`;
  const dir = writeModel(repo.dir, name, accumulatorModel(), { config: config.replace(/name: "[^"]*"/, `name: "${name}"`) });
  return loadModelConfig(dir);
}

async function refused(config: string, msg: RegExp): Promise<void> {
  const err = await load(config).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ConfigError, `expected a ConfigError matching ${msg}, got ${String(err)}`);
  assert.match(err.message, msg);
}

test('sequence_batching maps with Triton defaults: direct strategy, 1 s idle, control inputs and state', async () => {
  const { config, warnings } = await load(accumulatorConfig('x').replace(/max_sequence_idle_microseconds: \d+/, ''));
  assert.deepEqual(warnings, []);
  const sb = config.sequence_batching!;
  assert.equal(sb.max_sequence_idle_microseconds, 1_000_000);
  assert.deepEqual(sb.direct, { max_queue_delay_microseconds: 0, minimum_slot_utilization: 0 });
  assert.deepEqual(sb.control_input.map((c) => [c.name, c.control[0].kind]), [
    ['START', 'CONTROL_SEQUENCE_START'], ['END', 'CONTROL_SEQUENCE_END'], ['READY', 'CONTROL_SEQUENCE_READY'], ['CORRID', 'CONTROL_SEQUENCE_CORRID'],
  ]);
  assert.deepEqual(sb.state[0], {
    input_name: 'ACC_IN', output_name: 'ACC_OUT', data_type: 'TYPE_FP32', dims: [1],
    initial_state: [{ name: 'zero', data_type: 'TYPE_FP32', dims: [1], zero_data: true }],
  });
});

test('without inputs in the config, auto-complete leaves the control and state tensors to the server', async () => {
  const text = accumulatorConfig('x').replace(/input \[[^\]]*\]\n/, '').replace(/output \[[\s\S]*?\n\]\n/, '');
  const { config } = await load(text);
  assert.deepEqual(config.input.map((t) => t.name), ['INPUT']);
  assert.deepEqual(config.output.map((t) => t.name), ['OUTPUT', 'START_OUT', 'END_OUT', 'READY_OUT', 'CORRID_OUT']);
});

test('a sequence_batching that cannot work is refused at load, naming the line and why', async () => {
  const base = accumulatorConfig('x');
  await refused(base.replace('max_batch_size: 8', 'max_batch_size: 0'), /sequence_batching here needs max_batch_size >= 1/);
  await refused(base + 'dynamic_batching { }\n', /fields dynamic_batching and sequence_batching in ModelConfig exclude each other/);
  await refused(base.replace('direct { }', 'direct { } oldest { max_candidate_sequences: 2 }'), /exclude each other/);
  await refused(base.replace('oldest', '').replace('direct { }', 'oldest { }'), /max_candidate_sequences must be >= 1/);
  await refused(base.replace('input [{ name: "INPUT"', 'input [{ name: "START" data_type: TYPE_FP32 dims: [1] }, { name: "INPUT"'), /control input 'START' is also an input of the config/);
  await refused(base.replace('fp32_false_true: [0, 1]', 'fp32_false_true: [0]'), /'START': CONTROL_SEQUENCE_START needs exactly one of .* with two values/);
  await refused(base.replace('fp32_false_true: [0, 1]', 'int32_false_true: [0, 1]'), /control input 'START' is TYPE_INT32 by the config but TYPE_FP32 in the model file/);
  await refused(base.replace('data_type: TYPE_UINT64 }', 'data_type: TYPE_FP32 }'), /CONTROL_SEQUENCE_CORRID needs data_type/);
  await refused(base.replace('output_name: "ACC_OUT"', 'output_name: "NOPE"'), /state tensor 'NOPE' is not in the model file/);
  await refused(base.replace('dims: [1] initial_state', 'dims: [2] initial_state'), /initial_state must have the state's data_type and dims/);
  await refused(base.replace('zero_data: true', 'data_file: "s.bin"'), /data_file is not supported/);
  await refused(base.replace('{ name: "OUTPUT" data_type: TYPE_FP32 dims: [1] },', '{ name: "OUTPUT" data_type: TYPE_FP32 dims: [1] }, { name: "ACC_OUT" data_type: TYPE_FP32 dims: [1] },'), /state output 'ACC_OUT' is also an output of the config/);
});

test('a decoupled ONNX model is refused at load, naming why (only JS models answer with several responses)', async () => {
  await refused(accumulatorConfig('x') + 'model_transaction_policy { decoupled: true }\n', /model_transaction_policy \{ decoupled: true \}: only models of the js backend/);
  const { config } = await load(accumulatorConfig('x') + 'model_transaction_policy { decoupled: false }\n');
  assert.equal(config.sequence_batching?.direct?.max_queue_delay_microseconds, 0);
  assert.deepEqual(config.model_transaction_policy, { decoupled: false });
});
