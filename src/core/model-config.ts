/**
 * A model's configuration, normalized. Field names and shapes follow Triton's ModelConfig (as its JSON form
 * prints them), so `GET /v2/models/{m}/config` returns this object as it is. The repository parses config.pbtxt
 * or derives the config from the model file, fills defaults, validates, then freezes it.
 */

/** Triton's data_type names: TYPE_FP32, TYPE_STRING (= v2 BYTES), … (see datatype.ts fromConfigName). */
export type ConfigDataType = string;

export interface TensorConfig {
  name: string;
  data_type: ConfigDataType;
  /** Without the batch dimension when max_batch_size > 0. -1 = variable. */
  dims: number[];
  /** The shape the model sees, when it differs from dims (Triton's reshape). */
  reshape?: { shape: number[] };
  optional?: boolean;
}

export type TimeoutAction = 'REJECT' | 'DELAY';

export interface QueuePolicy {
  timeout_action: TimeoutAction;
  default_timeout_microseconds: number;
  allow_timeout_override: boolean;
  /** 0 = unbounded (Triton's meaning); the server still applies its global limit. */
  max_queue_size: number;
}

export interface DynamicBatchingConfig {
  preferred_batch_size: number[];
  max_queue_delay_microseconds: number;
  preserve_ordering: boolean;
  priority_levels: number;
  default_priority_level: number;
  default_queue_policy?: QueuePolicy;
  /** Keyed by priority level. */
  priority_queue_policy: Record<string, QueuePolicy>;
}

/** Triton's sequence control kinds (ModelSequenceBatching.Control.Kind). */
export type SequenceControlKind =
  | 'CONTROL_SEQUENCE_START' | 'CONTROL_SEQUENCE_READY' | 'CONTROL_SEQUENCE_END' | 'CONTROL_SEQUENCE_CORRID';

/** One control signal a model input carries: false/true values of one type, or (CORRID) the id's data_type. */
export interface SequenceControl {
  kind: SequenceControlKind;
  int32_false_true: number[];
  fp32_false_true: number[];
  bool_false_true: boolean[];
  /** CONTROL_SEQUENCE_CORRID only: TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 or TYPE_STRING. */
  data_type: ConfigDataType;
}

export interface SequenceControlInput {
  name: string;
  control: SequenceControl[];
}

export interface SequenceInitialState {
  name: string;
  data_type: ConfigDataType;
  dims: number[];
  /** Only zero_data is supported (data_file is refused at load). */
  zero_data: boolean;
}

/** Implicit state: the server feeds `input_name` with what `output_name` gave on the sequence's previous request. */
export interface SequenceStateConfig {
  input_name: string;
  output_name: string;
  data_type: ConfigDataType;
  /** Without the batch dimension. */
  dims: number[];
  initial_state: SequenceInitialState[];
}

export interface SequenceBatchingConfig {
  /** A sequence with no request for this long is ended and its slot freed (Triton's default 1 s). */
  max_sequence_idle_microseconds: number;
  control_input: SequenceControlInput[];
  state: SequenceStateConfig[];
  /** Exactly one strategy; the default is direct. */
  direct?: { max_queue_delay_microseconds: number; minimum_slot_utilization: number };
  oldest?: {
    max_candidate_sequences: number;
    preferred_batch_size: number[];
    max_queue_delay_microseconds: number;
    preserve_ordering: boolean;
  };
}

export type InstanceKind = 'KIND_AUTO' | 'KIND_CPU' | 'KIND_GPU' | 'KIND_MODEL';

export interface InstanceGroupConfig {
  name: string;
  count: number;
  kind: InstanceKind;
  gpus: number[];
}

export type VersionPolicy =
  | { latest: { num_versions: number } }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } };

export interface EnsembleStep {
  model_name: string;
  /** -1 = latest. */
  model_version: number;
  /** Step's model input name → ensemble tensor name. */
  input_map: Record<string, string>;
  /** Step's model output name → ensemble tensor name. */
  output_map: Record<string, string>;
}

export interface ExecutionAccelerator {
  name: string;
  parameters: Record<string, string>;
}

/** Where one warm-up input's values come from (Triton's ModelWarmup.Input oneof). */
export type WarmupInputSource =
  | { zero_data: true }
  | { random_data: true }
  /** A file under `<model>/warmup/`: one sample's elements, row-major (BYTES: 4-byte little-endian length + bytes). */
  | { input_data_file: string };

export type WarmupInput = { data_type: ConfigDataType; dims: number[] } & WarmupInputSource;

/** Triton's model_warmup entry: a request every instance runs `count` times (at least once) before READY. */
export interface ModelWarmup {
  name: string;
  /** Rows of the request (its batch dimension) for a batching model; 1 for a model that does not batch. */
  batch_size: number;
  /** By input name. */
  inputs: Record<string, WarmupInput>;
  count: number;
}

/** How a step-wise generative model is served (docs/generation.md); every limit explicit. */
export interface GenerationConfig {
  /** `iteration`: the batch is re-formed at every step (Orca); `request`: a batch runs until all its sequences end. */
  batching: 'iteration' | 'request';
  /** Sequences one instance holds at once: the rows of its key/value slab. */
  max_active: number;
  /** Tokens one sequence may hold (prompt + generated): the slab's length per row. */
  max_length: number;
  /** Prompt tokens (bytes), at most. */
  max_prompt: number;
  /** The largest `max_tokens` a request may ask for (and its default). */
  max_tokens: number;
  /** The token that ends a sequence; -1 = none. */
  eos_token: number;
  /** Requests waiting for a slot, at most (then QUEUE_FULL). */
  max_queue: number;
  /** From the model file: past_key_values [batch, layers, 2, heads, past, head_dim], logits [batch, tokens, vocab]. */
  layers: number;
  heads: number;
  head_dim: number;
  vocab: number;
}

export interface ModelConfig {
  name: string;
  /** 'onnxruntime_onnx' | 'ensemble' | '' */
  platform: string;
  /** 'onnxruntime' | 'js' | '' */
  backend: string;
  /** 0 = the model does not batch (inputs carry no batch dimension). */
  max_batch_size: number;
  version_policy: VersionPolicy;
  input: TensorConfig[];
  output: TensorConfig[];
  instance_group: InstanceGroupConfig[];
  dynamic_batching?: DynamicBatchingConfig;
  /** Triton's sequence batcher (stateful models): see docs/sequences.md. Excludes dynamic_batching. */
  sequence_batching?: SequenceBatchingConfig;
  /** Free-form key → string value (Triton: parameters { key: "k" value { string_value: "v" } }). */
  parameters: Record<string, { string_value: string }>;
  /**
   * A step-wise generative model (docs/generation.md): derived at load from the `generation*` parameters and the
   * model file's cache layout; absent for every other model.
   */
  generation?: GenerationConfig;
  default_model_filename: string;
  ensemble_scheduling?: { step: EnsembleStep[] };
  /** Triton's response_cache: answers of this model may be cached (when the server has a cache, --cache-config). */
  response_cache?: { enable: boolean };
  /**
   * Triton's model_transaction_policy: `decoupled` models answer a request with zero or more responses (JS models
   * whose execute is an async generator; docs/streaming.md), over gRPC ModelStreamInfer and HTTP generate_stream.
   */
  model_transaction_policy?: { decoupled: boolean };
  /** Requests each instance runs before the version is READY; empty = the server's automatic warm-up. */
  model_warmup?: ModelWarmup[];
  optimization?: {
    graph?: { level: number };
    execution_accelerators?: {
      gpu_execution_accelerator: ExecutionAccelerator[];
      cpu_execution_accelerator: ExecutionAccelerator[];
    };
  };
}
