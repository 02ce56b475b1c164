import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelConfig, ConfigError, type LoadConfigOptions } from '../../src/repository/index.js';
import { writeOnnxModel, ONNX, type OnnxValueSpec } from '../../src/onnx-proto/index.js';
import { DATATYPES, dataTypeInfo } from '../../src/core/index.js';
import { mlpModel, identityAllTypesModel, writeModel } from '../fixtures/models.js';

const root = mkdtempSync(join(tmpdir(), 'repo-load-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** Identity model: each input `inN` → output `outN` with the same type and dims. */
function identity(values: { elemType: number; dims: (number | string)[] }[]): Uint8Array {
  const inputs: OnnxValueSpec[] = values.map((v, i) => ({ name: `in${i}`, ...v }));
  const outputs: OnnxValueSpec[] = values.map((v, i) => ({ name: `out${i}`, ...v }));
  return writeOnnxModel({ name: 'id', nodes: values.map((_, i) => ({ op: 'Identity', inputs: [`in${i}`], outputs: [`out${i}`] })), inputs, outputs });
}

/** A fresh model folder; returns its path. */
function model(bytes: Uint8Array, config?: string, name = `m${counter++}`, version = '1'): string {
  return writeModel(root, name, bytes, { config, version });
}

async function load(dir: string, opts?: LoadConfigOptions) {
  return loadModelConfig(dir, opts);
}

async function loadError(dir: string, opts?: LoadConfigOptions): Promise<ConfigError> {
  try {
    await loadModelConfig(dir, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${dir} to be refused`);
}

const mlp = mlpModel(8, 4, 3).bytes;

test('no config: a batchable model gets max_batch_size 64 (or the option) and dims without the batch dim', async () => {
  const dir = model(mlp, undefined, 'derived_mlp');
  const { config, warnings } = await load(dir);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, {
    name: 'derived_mlp', platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 64,
    version_policy: { latest: { num_versions: 1 } },
    input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [8], optional: false }],
    output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [3] }],
    instance_group: [{ name: 'derived_mlp_0', count: 1, kind: 'KIND_CPU', gpus: [] }],
    parameters: {}, default_model_filename: 'model.onnx',
  });
  assert.equal((await load(dir, { defaultMaxBatchSize: 8 })).config.max_batch_size, 8);
});

test('no config: fixed first dimension anywhere ⇒ max_batch_size 0 and full dims; symbolic dims become -1', async () => {
  let c = (await load(model(identity([{ elemType: ONNX.FLOAT, dims: [2, 3] }])))).config;
  assert.equal(c.max_batch_size, 0);
  assert.deepEqual(c.input[0].dims, [2, 3]);
  // One tensor with a dynamic first dim, another without: not batchable.
  c = (await load(model(identity([{ elemType: ONNX.FLOAT, dims: ['n', 3] }, { elemType: ONNX.INT64, dims: [5] }])))).config;
  assert.equal(c.max_batch_size, 0);
  assert.deepEqual(c.input.map((t) => t.dims), [[-1, 3], [5]]);
  c = (await load(model(identity([{ elemType: ONNX.FLOAT, dims: ['batch', 'h', 7, 'w'] }])))).config;
  assert.equal(c.max_batch_size, 64);
  assert.deepEqual(c.input[0].dims, [-1, 7, -1]);
  assert.deepEqual(c.output[0].dims, [-1, 7, -1]);
  // A scalar input is rank 0: no batch dimension to drop.
  c = (await load(model(identity([{ elemType: ONNX.FLOAT, dims: [] }])))).config;
  assert.equal(c.max_batch_size, 0);
  assert.deepEqual(c.input[0].dims, []);
});

test('no config: every datatype is derived to its TYPE_* name', async () => {
  const { config } = await load(model(identityAllTypesModel()));
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(config.input.map((t) => [t.name, t.data_type, t.dims]), DATATYPES.map((dt) => [`in_${dt}`, dataTypeInfo(dt).configName, [3]]));
  assert.deepEqual(config.output.map((t) => t.data_type), DATATYPES.map((dt) => dataTypeInfo(dt).configName));
  assert.ok(config.input.some((t) => t.data_type === 'TYPE_STRING'));
});

test('an ONNX type with no v2 datatype (bfloat16) cannot be derived', async () => {
  const dir = model(identity([{ elemType: 16, dims: ['b', 2] }]));
  const e = await loadError(dir);
  assert.equal(e.file, join(dir, '1', 'model.onnx'));
  assert.match(e.message, /input 'in0' has ONNX element type 16/);
});

test('partial config: an explicit max_batch_size 0 is kept; missing outputs are derived; unwritten max_batch_size follows the written dims', async () => {
  let c = (await load(model(mlp, 'max_batch_size: 0'))).config;
  assert.equal(c.max_batch_size, 0);
  assert.deepEqual(c.input[0].dims, [-1, 8]);
  c = (await load(model(mlp, 'max_batch_size: 4\ninput { name: "input" data_type: TYPE_FP32 dims: [8] }'))).config;
  assert.deepEqual(c.output, [{ name: 'output', data_type: 'TYPE_FP32', dims: [3] }]);
  // dims written with the batch dimension included: the config means "no batching".
  c = (await load(model(mlp, 'input { name: "input" data_type: TYPE_FP32 dims: [-1, 8] }'))).config;
  assert.equal(c.max_batch_size, 0);
  c = (await load(model(mlp, 'input { name: "input" data_type: TYPE_FP32 dims: [8] }'))).config;
  assert.equal(c.max_batch_size, 64);
});

test('the config is frozen all the way down', async () => {
  const { config } = await load(model(mlp, 'dynamic_batching { }'));
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.input) && Object.isFrozen(config.input[0].dims));
  assert.ok(Object.isFrozen(config.dynamic_batching!.priority_queue_policy));
  assert.throws(() => {
    (config.input[0].dims as number[]).push(1);
  }, TypeError);
});

test('config name: absent → folder name; different → error at its line', async () => {
  assert.equal((await load(model(mlp, 'max_batch_size: 2', 'named'))).config.name, 'named');
  const dir = model(mlp, '# c\nname: "other"', 'folder');
  const e = await loadError(dir);
  assert.equal(e.message, `${join(dir, 'config.pbtxt')}:2: name "other" differs from the model folder name "folder"`);
});

test('contradictions name the config file and line, the model file and the tensor', async () => {
  const cases: [string, RegExp][] = [
    ['max_batch_size: 4\ninput { name: "inp" data_type: TYPE_FP32 dims: [8] }', /:2: input 'inp': not an input of the model; its inputs are 'input'/],
    ['max_batch_size: 4\ninput { name: "input" data_type: TYPE_INT32 dims: [8] }', /:2: input 'input': config says TYPE_INT32 but the model declares TYPE_FP32/],
    ['max_batch_size: 4\ninput { name: "input" data_type: TYPE_FP32 dims: [9] }', /:2: input 'input': config dims \[-1, 9\] do not match the model's \[-1, 8\]/],
    ['max_batch_size: 4\ninput { name: "input" data_type: TYPE_FP32 dims: [-1] }', /config dims \[-1, -1\] do not match/],
    ['max_batch_size: 4\ninput { name: "input" data_type: TYPE_FP32 dims: [1, 8] }', /rank differs/],
    ['max_batch_size: 4\n\noutput { name: "output" data_type: TYPE_FP64 dims: [3] }', /:3: output 'output': config says TYPE_FP64 but the model declares TYPE_FP32/],
    ['max_batch_size: 4\noutput { name: "logits" data_type: TYPE_FP32 dims: [3] }', /:2: output 'logits': not an output of the model/],
    ['max_batch_size: 0\ninput { name: "input" data_type: TYPE_FP32 dims: [2, 4] }', /config dims \[2, 4\] do not match the model's \[-1, 8\]/],
  ];
  for (const [text, re] of cases) {
    const dir = model(mlp, text);
    const e = await loadError(dir);
    assert.match(e.message, re, text);
    assert.ok(e.message.startsWith(join(dir, 'config.pbtxt') + ':'), e.message);
    assert.ok(e.message.includes(join(dir, '1', 'model.onnx')), e.message);
  }
  // A fixed config dim where the model's is dynamic is a narrowing, not a contradiction.
  assert.deepEqual((await load(model(mlp, 'max_batch_size: 0\ninput { name: "input" data_type: TYPE_FP32 dims: [2, 8] }'))).config.input[0].dims, [2, 8]);
  // reshape: the model sees the reshape, not the dims.
  const ok = await load(model(mlp, 'max_batch_size: 4\ninput { name: "input" data_type: TYPE_FP32 dims: [2, 4] reshape { shape: [8] } }'));
  assert.deepEqual(ok.config.input[0].reshape, { shape: [8] });
  // A model input left out of a config that lists inputs.
  const two = identity([{ elemType: ONNX.FLOAT, dims: ['b', 2] }, { elemType: ONNX.FLOAT, dims: ['b', 2] }]);
  assert.match((await loadError(model(two, 'input { name: "in0" data_type: TYPE_FP32 dims: [2] }'))).message, /model input 'in1' of model file .* is missing from the config/);
});

test('max_batch_size > 0 with a model whose first dimension is fixed is an error', async () => {
  const dir = model(identity([{ elemType: ONNX.FLOAT, dims: [4, 2] }]), 'max_batch_size: 8');
  const e = await loadError(dir);
  assert.match(e.message, /input 'in0': max_batch_size is 8 but the model's first dimension is fixed \(model dims \[4, 2\]\)/);
  assert.match(e.message, /model file .*model\.onnx/);
});

test('structure errors', async () => {
  const cases: [string, RegExp][] = [
    ['max_batch_size: -1', /max_batch_size must be >= 0/],
    ['max_batch_size: 0\ndynamic_batching { }', /:2: dynamic_batching needs max_batch_size > 0/],
    ['max_batch_size: 4\ndynamic_batching { preferred_batch_size: [8] }', /preferred_batch_size 8 must be in 1..max_batch_size \(4\)/],
    ['max_batch_size: 4\ndynamic_batching { priority_levels: 2 default_priority_level: 3 }', /default_priority_level must be in 1..2/],
    ['max_batch_size: 4\ndynamic_batching { priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 5 value {} } }', /priority_queue_policy key 5 must be in 1..2/],
    ['max_batch_size: 4\ndynamic_batching { default_priority_level: 1 }', /default_priority_level needs priority_levels > 0/],
    ['instance_group { count: 0 }', /count must be >= 1/],
    ['instance_group { kind: KIND_CPU gpus: [0] }', /KIND_CPU cannot list gpus/],
    ['version_policy { latest { num_versions: 0 } }', /num_versions must be >= 1/],
    ['version_policy { specific { } }', /specific lists no versions/],
    ['input { name: "input" data_type: TYPE_BF16 dims: [-1, 8] }', /data_type TYPE_BF16 is not supported/],
    ['input { name: "input" data_type: TYPE_FP32 dims: [0, 8] }', /dims \[0, 8\] must be >= 1 or -1/],
    ['input [{ name: "input" data_type: TYPE_FP32 dims: [-1, 8] }, { name: "input" data_type: TYPE_FP32 dims: [-1, 8] }]', /input 'input' is listed twice/],
    ['default_model_filename: "../x.onnx"', /must be a plain file name/],
    ['ensemble_scheduling { step { model_name: "a" } }', /ensemble_scheduling needs platform "ensemble"/],
  ];
  for (const [text, re] of cases) assert.match((await loadError(model(mlp, text))).message, re, text);
});

test('strict: no auto-complete', async () => {
  const noConfig = model(mlp);
  assert.match((await loadError(noConfig, { strict: true })).message, /config.pbtxt: missing, and strict model config is on/);
  assert.match((await loadError(model(mlp, 'max_batch_size: 4'), { strict: true })).message, /must list its inputs and outputs/);
  const full = model(mlp, 'input { name: "input" data_type: TYPE_FP32 dims: [-1, 8] }\noutput { name: "output" data_type: TYPE_FP32 dims: [-1, 3] }');
  const { config } = await load(full, { strict: true });
  assert.equal(config.max_batch_size, 0); // not derived, even though the model could batch
  // Strict still validates against the model.
  const wrong = model(mlp, 'input { name: "input" data_type: TYPE_FP32 dims: [-1, 9] }\noutput { name: "output" data_type: TYPE_FP32 dims: [-1, 3] }');
  assert.match((await loadError(wrong, { strict: true })).message, /do not match/);
});

test('warnings come back from loadModelConfig with file:line', async () => {
  const dir = model(mlp, 'max_batch_size: 4\nruntime: "x"');
  const { warnings } = await load(dir);
  assert.deepEqual(warnings, [`${join(dir, 'config.pbtxt')}:2: field runtime in ModelConfig is not implemented by this server; ignored`]);
});

test('corrupt or missing model file: a clear error naming the file', async () => {
  const corrupt = model(new Uint8Array([1, 2, 3, 4, 5]));
  const e = await loadError(corrupt);
  assert.equal(e.file, join(corrupt, '1', 'model.onnx'));
  assert.match(e.message, /cannot derive the config from the model file/);
  const empty = join(root, 'no_versions');
  mkdirSync(empty);
  assert.match((await loadError(empty)).message, /no version folder matches the version policy \(found: none\)/);
});

test('versions: derived from the newest selected version; only selected versions are checked', async () => {
  const name = 'multi_version';
  model(identity([{ elemType: ONNX.INT32, dims: ['b', 2] }]), undefined, name, '1');
  model(mlp, undefined, name, '3');
  const dir = model(mlp, undefined, name, '10');
  let c = (await load(dir)).config;
  assert.equal(c.input[0].name, 'input');
  // All versions: version 1 contradicts the derived config.
  writeFileSync(join(dir, 'config.pbtxt'), 'version_policy { all { } }');
  assert.match((await loadError(dir)).message, /not an input of the model.*multi_version\/1\/model\.onnx/);
  writeFileSync(join(dir, 'config.pbtxt'), 'version_policy { specific { versions: [1] } }');
  c = (await load(dir)).config;
  assert.equal(c.input[0].data_type, 'TYPE_INT32');
});

test('backend js: needs inputs and outputs; picks model.mjs when that is the file', async () => {
  const dir = join(root, 'jsmodel');
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, '1', 'model.mjs'), 'export default {}');
  writeFileSync(join(dir, 'config.pbtxt'), 'backend: "js"');
  assert.match((await loadError(dir)).message, /backend "js" needs a config.pbtxt listing its inputs and outputs/);
  writeFileSync(join(dir, 'config.pbtxt'), 'backend: "js"\nmax_batch_size: 4\ninput { name: "t" data_type: TYPE_STRING dims: [1] }\noutput { name: "u" data_type: TYPE_STRING dims: [1] }');
  const { config } = await load(dir);
  assert.equal(config.default_model_filename, 'model.mjs');
  assert.equal(config.backend, 'js');
  assert.equal(config.platform, '');
  assert.equal(config.instance_group[0].name, 'jsmodel_0');
});

test('ensemble: structure only, no model file', async () => {
  const dir = join(root, 'ens');
  mkdirSync(join(dir, '1'), { recursive: true });
  const io = 'input { name: "IN" data_type: TYPE_FP32 dims: [8] }\noutput { name: "OUT" data_type: TYPE_FP32 dims: [3] }\nmax_batch_size: 4\n';
  writeFileSync(join(dir, 'config.pbtxt'), `platform: "ensemble"\n${io}ensemble_scheduling { step { model_name: "mlp" input_map { key: "input" value: "IN" } output_map { key: "output" value: "OUT" } } }`);
  const { config } = await load(dir);
  assert.deepEqual(config.instance_group, []);
  assert.equal(config.ensemble_scheduling!.step[0].model_version, -1);
  writeFileSync(join(dir, 'config.pbtxt'), `platform: "ensemble"\n${io}`);
  assert.match((await loadError(dir)).message, /an ensemble needs ensemble_scheduling with at least one step/);
  writeFileSync(join(dir, 'config.pbtxt'), `platform: "ensemble"\n${io}ensemble_scheduling {\n step { model_name: "mlp" output_map { key: "output" value: "OUT" } } }`);
  assert.match((await loadError(dir)).message, /config.pbtxt:6: ensemble step mlp has no input_map/);
  writeFileSync(join(dir, 'config.pbtxt'), 'platform: "ensemble"\nensemble_scheduling { step { model_name: "mlp" } }');
  assert.match((await loadError(dir)).message, /an ensemble needs a config.pbtxt listing its inputs and outputs/);
});

test('the example repository loads: mlp derived, multi_io from its config', async () => {
  const repo = join(import.meta.dirname, '..', '..', 'examples', 'model_repository');
  const mlpCfg = (await load(join(repo, 'mlp'))).config;
  assert.equal(mlpCfg.max_batch_size, 64);
  assert.deepEqual([mlpCfg.input[0].dims, mlpCfg.output[0].dims], [[64], [10]]);
  const multi = await load(join(repo, 'multi_io'));
  assert.deepEqual(multi.warnings, []);
  assert.equal(multi.config.max_batch_size, 8);
  assert.deepEqual(multi.config.input.map((t) => t.data_type), ['TYPE_INT32', 'TYPE_FP32', 'TYPE_INT64', 'TYPE_BOOL', 'TYPE_STRING']);
  assert.deepEqual(multi.config.output.map((t) => t.data_type), ['TYPE_FP32', 'TYPE_INT64', 'TYPE_BOOL', 'TYPE_STRING']);
});
