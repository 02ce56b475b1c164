/**
 * The part of Triton's ModelConfig (model_config.proto) this server reads, as a text-format schema.
 * `unimplemented` lists the other real Triton fields of each message: a config that uses them still loads,
 * with a warning, so configs written for Triton work here; any other name is a typo and an error.
 */
import type { MessageSchema } from './pbtxt-schema.js';

/** Triton DataType enum, index = numeric value. TYPE_BF16 parses but is refused later (no v2 datatype here). */
export const DATA_TYPE_ENUM = [
  'TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16',
  'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16',
] as const;
export const KIND_ENUM = ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] as const;
export const TIMEOUT_ACTION_ENUM = ['REJECT', 'DELAY'] as const;

const reshape: MessageSchema = { name: 'ModelTensorReshape', fields: { shape: { kind: 'int', repeated: true } } };

const modelInput: MessageSchema = {
  name: 'ModelInput',
  fields: {
    name: { kind: 'string' },
    data_type: { kind: { enum: DATA_TYPE_ENUM } },
    dims: { kind: 'int', repeated: true },
    reshape: { kind: { message: reshape } },
    optional: { kind: 'bool' },
  },
  unimplemented: ['format', 'is_shape_tensor', 'allow_ragged_batch', 'is_non_linear_format_io'],
};

const modelOutput: MessageSchema = {
  name: 'ModelOutput',
  fields: {
    name: { kind: 'string' },
    data_type: { kind: { enum: DATA_TYPE_ENUM } },
    dims: { kind: 'int', repeated: true },
    reshape: { kind: { message: reshape } },
  },
  unimplemented: ['label_filename', 'is_shape_tensor', 'is_non_linear_format_io'],
};

const versionPolicy: MessageSchema = {
  name: 'ModelVersionPolicy',
  fields: {
    latest: { kind: { message: { name: 'Latest', fields: { num_versions: { kind: 'uint' } } } } },
    all: { kind: { message: { name: 'All', fields: {} } } },
    specific: { kind: { message: { name: 'Specific', fields: { versions: { kind: 'int', repeated: true } } } } },
  },
  oneofs: [['latest', 'all', 'specific']],
};

const instanceGroup: MessageSchema = {
  name: 'ModelInstanceGroup',
  fields: {
    name: { kind: 'string' },
    kind: { kind: { enum: KIND_ENUM } },
    count: { kind: 'int' },
    gpus: { kind: 'int', repeated: true },
  },
  unimplemented: ['rate_limiter', 'secondary_devices', 'profile', 'passive', 'host_policy'],
};

const queuePolicy: MessageSchema = {
  name: 'ModelQueuePolicy',
  fields: {
    timeout_action: { kind: { enum: TIMEOUT_ACTION_ENUM } },
    default_timeout_microseconds: { kind: 'uint' },
    allow_timeout_override: { kind: 'bool' },
    max_queue_size: { kind: 'uint' },
  },
};

const dynamicBatching: MessageSchema = {
  name: 'ModelDynamicBatching',
  fields: {
    preferred_batch_size: { kind: 'int', repeated: true },
    max_queue_delay_microseconds: { kind: 'uint' },
    preserve_ordering: { kind: 'bool' },
    priority_levels: { kind: 'uint' },
    default_priority_level: { kind: 'uint' },
    default_queue_policy: { kind: { message: queuePolicy } },
    priority_queue_policy: { kind: { map: { key: 'uint', value: { message: queuePolicy } } } },
  },
};

export const SEQUENCE_CONTROL_KIND_ENUM = [
  'CONTROL_SEQUENCE_START', 'CONTROL_SEQUENCE_READY', 'CONTROL_SEQUENCE_END', 'CONTROL_SEQUENCE_CORRID',
] as const;

const sequenceControl: MessageSchema = {
  name: 'Control',
  fields: {
    kind: { kind: { enum: SEQUENCE_CONTROL_KIND_ENUM } },
    int32_false_true: { kind: 'int', repeated: true },
    fp32_false_true: { kind: 'float', repeated: true },
    bool_false_true: { kind: 'bool', repeated: true },
    data_type: { kind: { enum: DATA_TYPE_ENUM } },
  },
};

const initialState: MessageSchema = {
  name: 'InitialState',
  fields: {
    data_type: { kind: { enum: DATA_TYPE_ENUM } },
    dims: { kind: 'int', repeated: true },
    zero_data: { kind: 'bool' },
    data_file: { kind: 'string' },
    name: { kind: 'string' },
  },
  oneofs: [['zero_data', 'data_file']],
};

const sequenceBatching: MessageSchema = {
  name: 'ModelSequenceBatching',
  fields: {
    direct: {
      kind: {
        message: {
          name: 'StrategyDirect',
          fields: { max_queue_delay_microseconds: { kind: 'uint' }, minimum_slot_utilization: { kind: 'float' } },
        },
      },
    },
    oldest: {
      kind: {
        message: {
          name: 'StrategyOldest',
          fields: {
            max_candidate_sequences: { kind: 'int' },
            preferred_batch_size: { kind: 'int', repeated: true },
            max_queue_delay_microseconds: { kind: 'uint' },
            preserve_ordering: { kind: 'bool' },
          },
        },
      },
    },
    max_sequence_idle_microseconds: { kind: 'uint' },
    control_input: {
      kind: { message: { name: 'ControlInput', fields: { name: { kind: 'string' }, control: { kind: { message: sequenceControl }, repeated: true } } } },
      repeated: true,
    },
    state: {
      kind: {
        message: {
          name: 'State',
          fields: {
            input_name: { kind: 'string' },
            output_name: { kind: 'string' },
            data_type: { kind: { enum: DATA_TYPE_ENUM } },
            dims: { kind: 'int', repeated: true },
            initial_state: { kind: { message: initialState }, repeated: true },
          },
          unimplemented: ['use_same_buffer_for_input_output', 'use_growable_memory'],
        },
      },
      repeated: true,
    },
  },
  unimplemented: ['iterative_sequence'],
  oneofs: [['direct', 'oldest']],
};

const ensembleStep: MessageSchema = {
  name: 'Step',
  fields: {
    model_name: { kind: 'string' },
    model_version: { kind: 'int' },
    input_map: { kind: { map: { key: 'string', value: 'string' } } },
    output_map: { kind: { map: { key: 'string', value: 'string' } } },
  },
  unimplemented: ['model_namespace'],
};

const accelerator: MessageSchema = {
  name: 'Accelerator',
  fields: {
    name: { kind: 'string' },
    parameters: { kind: { map: { key: 'string', value: 'string' } } },
  },
};

const optimization: MessageSchema = {
  name: 'ModelOptimizationPolicy',
  fields: {
    graph: { kind: { message: { name: 'Graph', fields: { level: { kind: 'int' } } } } },
    execution_accelerators: {
      kind: {
        message: {
          name: 'ExecutionAccelerators',
          fields: {
            gpu_execution_accelerator: { kind: { message: accelerator }, repeated: true },
            cpu_execution_accelerator: { kind: { message: accelerator }, repeated: true },
          },
        },
      },
    },
  },
  unimplemented: [
    'priority', 'cuda', 'input_pinned_memory', 'output_pinned_memory', 'gather_kernel_buffer_threshold',
    'eager_batching',
  ],
};

const warmupInput: MessageSchema = {
  name: 'ModelWarmup.Input',
  fields: {
    data_type: { kind: { enum: DATA_TYPE_ENUM } },
    dims: { kind: 'int', repeated: true },
    zero_data: { kind: 'bool' },
    random_data: { kind: 'bool' },
    input_data_file: { kind: 'string' },
  },
  oneofs: [['zero_data', 'random_data', 'input_data_file']],
};

const modelWarmup: MessageSchema = {
  name: 'ModelWarmup',
  fields: {
    name: { kind: 'string' },
    batch_size: { kind: 'uint' },
    inputs: { kind: { map: { key: 'string', value: { message: warmupInput } } } },
    count: { kind: 'uint' },
  },
};

export const MODEL_CONFIG_SCHEMA: MessageSchema = {
  name: 'ModelConfig',
  fields: {
    name: { kind: 'string' },
    platform: { kind: 'string' },
    backend: { kind: 'string' },
    version_policy: { kind: { message: versionPolicy } },
    max_batch_size: { kind: 'int' },
    input: { kind: { message: modelInput }, repeated: true },
    output: { kind: { message: modelOutput }, repeated: true },
    optimization: { kind: { message: optimization } },
    dynamic_batching: { kind: { message: dynamicBatching } },
    sequence_batching: { kind: { message: sequenceBatching } },
    ensemble_scheduling: {
      kind: { message: { name: 'ModelEnsembling', fields: { step: { kind: { message: ensembleStep }, repeated: true } } } },
    },
    instance_group: { kind: { message: instanceGroup }, repeated: true },
    default_model_filename: { kind: 'string' },
    parameters: { kind: { map: { key: 'string', value: { message: { name: 'ModelParameter', fields: { string_value: { kind: 'string' } } } } } } },
    response_cache: { kind: { message: { name: 'ModelResponseCache', fields: { enable: { kind: 'bool' } } } } },
    model_warmup: { kind: { message: modelWarmup }, repeated: true },
    model_transaction_policy: { kind: { message: { name: 'ModelTransactionPolicy', fields: { decoupled: { kind: 'bool' } } } } },
  },
  // Triton's scheduling_choice.
  oneofs: [['dynamic_batching', 'sequence_batching', 'ensemble_scheduling']],
  unimplemented: [
    'runtime', 'batch_input', 'batch_output', 'cc_model_filenames', 'metric_tags',
    'model_operations', 'model_repository_agents',
  ],
};
