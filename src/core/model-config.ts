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
  /** Free-form key → string value (Triton: parameters { key: "k" value { string_value: "v" } }). */
  parameters: Record<string, { string_value: string }>;
  default_model_filename: string;
  ensemble_scheduling?: { step: EnsembleStep[] };
  /** Triton's response_cache: answers of this model may be cached (when the server has a cache, --cache-config). */
  response_cache?: { enable: boolean };
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
