import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { configFromPbtxt, ConfigError } from '../../src/repository/index.js';

const FILE = 'm/config.pbtxt';

function configError(text: string): ConfigError {
  try {
    configFromPbtxt(text, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected config to be refused:\n${text}`);
}

test('every implemented field maps to the normalized ModelConfig', () => {
  const text = `
name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 16
version_policy { specific { versions: [1, 3] } }
input [
  { name: "x" data_type: TYPE_FP32 dims: [ -1, 3 ] reshape { shape: [ 3, -1 ] } optional: true },
  { name: "ids" data_type: TYPE_INT64 dims: 4 }
]
output { name: "y" data_type: TYPE_STRING dims: [ 2 ] reshape: { shape: [] } }
instance_group [ { name: "g" count: 2 kind: KIND_CPU }, { kind: KIND_GPU gpus: [0, 1] }, { count: 3 } ]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 100
  preserve_ordering: true
  priority_levels: 2
  default_priority_level: 1
  default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 5000 allow_timeout_override: true max_queue_size: 10 }
  priority_queue_policy { key: 1 value { max_queue_size: 3 } }
  priority_queue_policy { key: 2 value { timeout_action: 1 } }
}
parameters { key: "threads" value { string_value: "2" } }
parameters [ { key: "empty" value { } } ]
default_model_filename: "net.onnx"
optimization {
  graph { level: 1 }
  execution_accelerators {
    cpu_execution_accelerator [ { name: "openvino" parameters { key: "precision" value: "FP16" } } ]
    gpu_execution_accelerator { name: "tensorrt" }
  }
}
`;
  const { config, warnings, present } = configFromPbtxt(text, FILE);
  assert.deepEqual(warnings, []);
  assert.ok(present.has('max_batch_size') && !present.has('backend'));
  assert.deepEqual(config, {
    name: 'm',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: 16,
    version_policy: { specific: { versions: [1, 3] } },
    input: [
      { name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3], reshape: { shape: [3, -1] }, optional: true },
      { name: 'ids', data_type: 'TYPE_INT64', dims: [4], optional: false },
    ],
    output: [{ name: 'y', data_type: 'TYPE_STRING', dims: [2], reshape: { shape: [] } }],
    instance_group: [
      { name: 'g', count: 2, kind: 'KIND_CPU', gpus: [] },
      { name: '', count: 1, kind: 'KIND_GPU', gpus: [0, 1] },
      { name: '', count: 3, kind: 'KIND_CPU', gpus: [] },
    ],
    dynamic_batching: {
      preferred_batch_size: [4, 8],
      max_queue_delay_microseconds: 100,
      preserve_ordering: true,
      priority_levels: 2,
      default_priority_level: 1,
      default_queue_policy: { timeout_action: 'DELAY', default_timeout_microseconds: 5000, allow_timeout_override: true, max_queue_size: 10 },
      priority_queue_policy: {
        1: { timeout_action: 'REJECT', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 3 },
        2: { timeout_action: 'DELAY', default_timeout_microseconds: 0, allow_timeout_override: false, max_queue_size: 0 },
      },
    },
    parameters: { threads: { string_value: '2' }, empty: { string_value: '' } },
    default_model_filename: 'net.onnx',
    optimization: {
      graph: { level: 1 },
      execution_accelerators: {
        gpu_execution_accelerator: [{ name: 'tensorrt', parameters: {} }],
        cpu_execution_accelerator: [{ name: 'openvino', parameters: { precision: 'FP16' } }],
      },
    },
  });
});

test('defaults: an empty config', () => {
  const { config, present } = configFromPbtxt('# nothing\n', FILE);
  assert.equal(present.size, 0);
  assert.deepEqual(config, {
    name: '', platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 0,
    version_policy: { latest: { num_versions: 1 } }, input: [], output: [],
    instance_group: [{ name: '', count: 1, kind: 'KIND_CPU', gpus: [] }], parameters: {},
    default_model_filename: 'model.onnx',
  });
});

test('version policies: latest, all, specific', () => {
  const vp = (s: string) => configFromPbtxt(`version_policy ${s}`, FILE).config.version_policy;
  assert.deepEqual(vp('{ latest { num_versions: 2 } }'), { latest: { num_versions: 2 } });
  assert.deepEqual(vp('{ all { } }'), { all: {} });
  assert.deepEqual(vp(': { all: {} }'), { all: {} });
  assert.deepEqual(vp('{ specific { versions: 4 versions: 2 } }'), { specific: { versions: [4, 2] } });
  assert.match(configError('version_policy { all {} latest {} }').message, /latest and all|all and latest/);
});

test('platform and backend: onnxruntime aliases, js, ensemble with steps', () => {
  const pb = (s: string) => {
    const c = configFromPbtxt(s, FILE).config;
    return [c.platform, c.backend, c.default_model_filename];
  };
  assert.deepEqual(pb('backend: "onnxruntime"'), ['onnxruntime_onnx', 'onnxruntime', 'model.onnx']);
  assert.deepEqual(pb('platform: "onnxruntime_onnx" backend: "onnxruntime"'), ['onnxruntime_onnx', 'onnxruntime', 'model.onnx']);
  assert.deepEqual(pb('backend: "js"'), ['', 'js', 'model.js']);
  const { config } = configFromPbtxt(`
platform: "ensemble"
instance_group { count: 4 }
ensemble_scheduling {
  step [
    { model_name: "pre" model_version: -1 input_map { key: "raw" value: "IN" } output_map { key: "out" value: "mid" } },
    { model_name: "net" model_version: 2 input_map [{ key: "x" value: "mid" }] output_map { key: "y" value: "OUT" } }
  ]
}`, FILE);
  assert.equal(config.platform, 'ensemble');
  assert.equal(config.backend, '');
  assert.deepEqual(config.instance_group, []);
  assert.deepEqual(config.ensemble_scheduling, {
    step: [
      { model_name: 'pre', model_version: -1, input_map: { raw: 'IN' }, output_map: { out: 'mid' } },
      { model_name: 'net', model_version: 2, input_map: { x: 'mid' }, output_map: { y: 'OUT' } },
    ],
  });
  assert.match(configError('\nplatform: "tensorflow_savedmodel"').message, /^m\/config.pbtxt:2: platform "tensorflow_savedmodel" is not supported/);
  assert.match(configError('backend: "python"').message, /backend "python" is not supported/);
  assert.match(configError('platform: "ensemble" backend: "js"').message, /takes no backend/);
  assert.match(configError('platform: "onnxruntime_onnx" backend: "js"').message, /takes no platform/);
});

test('an unknown field is an error naming the line, the field and its message', () => {
  const e = configError('name: "m"\ninput {\n  name: "x"\n  dtype: TYPE_FP32\n}');
  assert.equal(e.message, 'm/config.pbtxt:4: unknown field dtype in ModelInput');
  assert.equal(e.line, 4);
  assert.equal(e.file, FILE);
  assert.equal(configError('\n\nmax_batch: 3').message, 'm/config.pbtxt:3: unknown field max_batch in ModelConfig');
  assert.match(configError('dynamic_batching { max_delay: 1 }').message, /unknown field max_delay in ModelDynamicBatching/);
  assert.match(configError('parameters { key: "a" value { int_value: 1 } }').message, /unknown field int_value in ModelParameter/);
});

test('a Triton field this server does not implement is a warning with its line, and the rest still loads', () => {
  const text = [
    'name: "m"',
    'sequence_batching { iterative_sequence: true }',
    'runtime: "libtorch.so"',
    'metric_tags { }',
    'input { name: "x" data_type: TYPE_FP32 dims: [1] is_shape_tensor: false format: FORMAT_NCHW }',
    'output { name: "y" data_type: TYPE_FP32 dims: [1] label_filename: "labels.txt" }',
    'instance_group { count: 2 rate_limiter { resources { name: "r" count: 1 } } }',
    'optimization { cuda { graphs: true } }',
  ].join('\n');
  const { config, warnings } = configFromPbtxt(text, FILE);
  assert.deepEqual(warnings, [
    'm/config.pbtxt:2: field iterative_sequence in ModelSequenceBatching is not implemented by this server; ignored',
    'm/config.pbtxt:3: field runtime in ModelConfig is not implemented by this server; ignored',
    'm/config.pbtxt:4: field metric_tags in ModelConfig is not implemented by this server; ignored',
    'm/config.pbtxt:5: field is_shape_tensor in ModelInput is not implemented by this server; ignored',
    'm/config.pbtxt:5: field format in ModelInput is not implemented by this server; ignored',
    'm/config.pbtxt:6: field label_filename in ModelOutput is not implemented by this server; ignored',
    'm/config.pbtxt:7: field rate_limiter in ModelInstanceGroup is not implemented by this server; ignored',
    'm/config.pbtxt:8: field cuda in ModelOptimizationPolicy is not implemented by this server; ignored',
  ]);
  assert.equal(config.instance_group[0].count, 2);
  assert.deepEqual(config.input[0].dims, [1]);
});

test('values of the wrong kind are errors with their line', () => {
  const cases: [string, RegExp][] = [
    ['max_batch_size: "8"', /:1: field max_batch_size takes an integer/],
    ['max_batch_size: 1.5', /field max_batch_size takes an integer/],
    ['max_batch_size: 99999999999999999999', /out of range/],
    ['input { data_type: TYPE_FLOAT }', /TYPE_FLOAT is not one of TYPE_INVALID, TYPE_BOOL/],
    ['input { data_type: "TYPE_FP32" }', /"TYPE_FP32" is not one of/],
    ['instance_group { kind: KIND_TPU }', /KIND_TPU is not one of/],
    ['input { optional: maybe }', /takes true or false/],
    ['name: m', /field name takes a quoted string/],
    ['name: "a"\nname: "b"', /:2: field name in ModelConfig is given twice \(first at line 1\)/],
    ['input: "x"', /field input is a message/],
    ['name { }', /field name takes a value, not a message/],
    ['dynamic_batching { max_queue_delay_microseconds: -1 }', /cannot be negative/],
    ['parameters { key: "a" value { string_value: "1" } }\nparameters { key: "a" value { } }', /:2: map parameters has key "a" twice/],
    ['parameters: "x"', /is a map/],
    ['parameters { value { string_value: "1" } }', /has no key/],
    ['name: []', /not a list/],
  ];
  for (const [text, re] of cases) assert.match(configError(text).message, re, text);
});

test('enums by number, as protobuf allows', () => {
  const { config } = configFromPbtxt('input { data_type: 11 }\ninstance_group { kind: 2 }', FILE);
  assert.equal(config.input[0].data_type, 'TYPE_FP32');
  assert.equal(config.instance_group[0].kind, 'KIND_CPU');
});

test('mutated configs either map or fail with a ConfigError (never another error)', () => {
  const base = `name: "m" max_batch_size: 4 version_policy { latest { num_versions: 2 } }
input [{ name: "x" data_type: TYPE_FP32 dims: [3] reshape { shape: [3] } optional: true }]
output { name: "y" data_type: TYPE_INT64 dims: [-1] }
instance_group { count: 1 kind: KIND_CPU gpus: [] }
dynamic_batching { preferred_batch_size: 2 priority_levels: 1 priority_queue_policy { key: 1 value { max_queue_size: 2 } } }
parameters { key: "k" value { string_value: "v" } }
ensemble_scheduling { step { model_name: "a" input_map { key: "i" value: "j" } } }
optimization { graph { level: 1 } execution_accelerators { cpu_execution_accelerator { name: "n" parameters { key: "a" value: "b" } } } }`;
  const pieces = ['{', '}', '[', ']', ':', '"s"', '1', '-1', 'x', 'key', 'value', 'TYPE_FP32', ' ', '[]', '{}'];
  fc.assert(
    fc.property(fc.nat(base.length), fc.nat(6), fc.constantFrom(...pieces), (at, cut, insert) => {
      const text = base.slice(0, at) + insert + base.slice(at + cut);
      try {
        configFromPbtxt(text, FILE);
      } catch (err) {
        assert.ok(err instanceof ConfigError, `${String(err)}\n${text}`);
      }
    }),
    { numRuns: 1500 },
  );
});

test('model_warmup: samples map with their inputs\' source; two sources in one input are an error with its line', () => {
  const { config } = configFromPbtxt([
    'model_warmup [',
    '  { name: "a" batch_size: 2 count: 3 inputs { key: "x" value: { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } },',
    '  { name: "b" batch_size: 1 inputs [ { key: "x" value: { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } },',
    '                                     { key: "t" value: { data_type: TYPE_STRING dims: [ 1 ] input_data_file: "t.bin" } } ] }',
    ']',
  ].join('\n'), FILE);
  assert.deepEqual(config.model_warmup, [
    { name: 'a', batch_size: 2, count: 3, inputs: { x: { data_type: 'TYPE_FP32', dims: [4], random_data: true } } },
    { name: 'b', batch_size: 1, count: 0, inputs: {
      x: { data_type: 'TYPE_FP32', dims: [4], zero_data: true },
      t: { data_type: 'TYPE_STRING', dims: [1], input_data_file: 't.bin' },
    } },
  ]);
  assert.match(configError('\nmodel_warmup { name: "c" inputs { key: "x" value: { zero_data: true random_data: true } } }').message, /^m\/config.pbtxt:2: .*(zero_data|random_data)/);
});
