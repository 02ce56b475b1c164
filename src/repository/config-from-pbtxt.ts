/**
 * config.pbtxt text → ModelConfig draft: parse, type against Triton's schema, then map to the normalized shape
 * with defaults (defaults.ts). The draft is not yet completed from the model file nor validated; `present`
 * says which top-level fields were written so auto-complete can tell "absent" from "0".
 */
import type {
  DynamicBatchingConfig, EnsembleStep, SequenceBatchingConfig, SequenceControlKind, ExecutionAccelerator, InstanceGroupConfig, InstanceKind, ModelConfig,
  ModelWarmup, QueuePolicy, TensorConfig, TimeoutAction, VersionPolicy, WarmupInput,
} from '../core/index.js';
import { ConfigError } from './config-error.js';
import {
  BACKEND_JS, BACKEND_ONNX, DEFAULT_MAX_SEQUENCE_IDLE_US, PLATFORM_ENSEMBLE, PLATFORM_ONNX, defaultInstanceGroup, defaultModelFilename,
  defaultQueuePolicy, defaultVersionPolicy,
} from './defaults.js';
import { parsePbtxt } from './pbtxt.js';
import { decodeMessage, SourceLines, type Decoded } from './pbtxt-schema.js';
import { MODEL_CONFIG_SCHEMA } from './triton-schema.js';

export interface ParsedConfig {
  /** Mutable until the loader freezes it. */
  readonly config: ModelConfig;
  /** Top-level ModelConfig fields the file wrote. */
  readonly present: ReadonlySet<string>;
  /** `file:line: …` lines for Triton fields this server ignores. */
  readonly warnings: string[];
  /** Lines of the config's objects (tensors, groups, steps …) for error messages. */
  readonly lines: SourceLines;
  readonly file: string;
}

/** Parses and maps config.pbtxt text. Throws ConfigError (file:line) on syntax, unknown fields or bad values. */
export function configFromPbtxt(text: string, file: string): ParsedConfig {
  const { value, warnings, lines } = decodeMessage(parsePbtxt(text, file), MODEL_CONFIG_SCHEMA, file);
  return { config: mapConfig(value, file, lines), present: new Set(Object.keys(value)), warnings, lines, file };
}

/** The draft for a model with no config.pbtxt: all defaults, nothing written. */
export function emptyConfig(file: string): ParsedConfig {
  const lines = new SourceLines();
  return { config: mapConfig({}, file, lines), present: new Set(), warnings: [], lines, file };
}

// The decoder guarantees each field's kind, so these casts only restate the schema.
const str = (d: Decoded, k: string, dflt = ''): string => (d[k] as string | undefined) ?? dflt;
const num = (d: Decoded, k: string, dflt = 0): number => (d[k] as number | undefined) ?? dflt;
const bool = (d: Decoded, k: string): boolean => (d[k] as boolean | undefined) ?? false;
const nums = (d: Decoded, k: string): number[] => [...((d[k] as number[] | undefined) ?? [])];
const msgs = (d: Decoded, k: string): Decoded[] => (d[k] as Decoded[] | undefined) ?? [];
const msg = (d: Decoded, k: string): Decoded | undefined => d[k] as Decoded | undefined;
const strMap = (d: Decoded, k: string): Record<string, string> => ({ ...((d[k] as Record<string, string>) ?? {}) });

function mapConfig(d: Decoded, file: string, lines: SourceLines): ModelConfig {
  const fail = (field: string, what: string): never => {
    throw new ConfigError(file, lines.lineOf(d, field), what);
  };
  const name = str(d, 'name');
  const { platform, backend } = resolvePlatform(str(d, 'platform'), str(d, 'backend'), fail);
  const isEnsemble = platform === PLATFORM_ENSEMBLE;
  const config: ModelConfig = {
    name,
    platform,
    backend,
    max_batch_size: num(d, 'max_batch_size'),
    version_policy: mapVersionPolicy(msg(d, 'version_policy')),
    input: msgs(d, 'input').map((t) => mapTensor(t, lines, true)),
    output: msgs(d, 'output').map((t) => mapTensor(t, lines, false)),
    // Ensembles run their steps on the steps' own instances.
    instance_group: isEnsemble ? [] : mapInstanceGroups(msgs(d, 'instance_group'), lines),
    parameters: mapParameters(d),
    default_model_filename: str(d, 'default_model_filename', defaultModelFilename(backend)),
  };
  if (d.model_warmup !== undefined) config.model_warmup = msgs(d, 'model_warmup').map((w) => mapWarmup(w, lines));
  const db = msg(d, 'dynamic_batching');
  if (db) {
    config.dynamic_batching = mapDynamicBatching(db);
    lines.copy(db, config.dynamic_batching);
  }
  const sb = msg(d, 'sequence_batching');
  if (sb) {
    config.sequence_batching = mapSequenceBatching(sb, file, lines);
    lines.copy(sb, config.sequence_batching);
  }
  const es = msg(d, 'ensemble_scheduling');
  if (es) {
    config.ensemble_scheduling = { step: msgs(es, 'step').map((s) => mapStep(s, lines)) };
    lines.copy(es, config.ensemble_scheduling);
  }
  const opt = msg(d, 'optimization');
  if (opt) config.optimization = mapOptimization(opt);
  const rc = msg(d, 'response_cache');
  if (rc) config.response_cache = { enable: bool(rc, 'enable') };
  const tp = msg(d, 'model_transaction_policy');
  if (tp) {
    config.model_transaction_policy = { decoupled: bool(tp, 'decoupled') };
    lines.copy(tp, config.model_transaction_policy);
  }
  lines.copy(d, config);
  return config;
}

function resolvePlatform(
  platform: string,
  backend: string,
  fail: (field: string, what: string) => never,
): { platform: string; backend: string } {
  if (platform === '' && backend === '') return { platform: PLATFORM_ONNX, backend: BACKEND_ONNX };
  if (platform !== '' && platform !== PLATFORM_ONNX && platform !== PLATFORM_ENSEMBLE) {
    fail('platform', `platform "${platform}" is not supported (supported: ${PLATFORM_ONNX}, ${PLATFORM_ENSEMBLE})`);
  }
  if (backend !== '' && backend !== BACKEND_ONNX && backend !== BACKEND_JS) {
    fail('backend', `backend "${backend}" is not supported (supported: ${BACKEND_ONNX}, ${BACKEND_JS})`);
  }
  if (platform === PLATFORM_ENSEMBLE) {
    if (backend !== '') fail('backend', `platform "ensemble" takes no backend (got "${backend}")`);
    return { platform, backend: '' };
  }
  if (backend === BACKEND_JS) {
    if (platform !== '') fail('platform', `backend "js" takes no platform (got "${platform}")`);
    return { platform: '', backend };
  }
  return { platform: PLATFORM_ONNX, backend: BACKEND_ONNX };
}

function mapTensor(t: Decoded, lines: SourceLines, isInput: boolean): TensorConfig {
  const out: TensorConfig = { name: str(t, 'name'), data_type: str(t, 'data_type', 'TYPE_INVALID'), dims: nums(t, 'dims') };
  const r = msg(t, 'reshape');
  if (r) out.reshape = { shape: nums(r, 'shape') };
  if (isInput) out.optional = bool(t, 'optional');
  lines.copy(t, out);
  return out;
}

function mapVersionPolicy(v: Decoded | undefined): VersionPolicy {
  if (!v) return defaultVersionPolicy();
  const latest = msg(v, 'latest');
  if (latest) return { latest: { num_versions: num(latest, 'num_versions', 1) } };
  if (msg(v, 'all')) return { all: {} };
  const specific = msg(v, 'specific');
  if (specific) return { specific: { versions: nums(specific, 'versions') } };
  return defaultVersionPolicy();
}

function mapInstanceGroups(groups: Decoded[], lines: SourceLines): InstanceGroupConfig[] {
  if (groups.length === 0) return [defaultInstanceGroup()];
  return groups.map((g) => {
    const gpus = nums(g, 'gpus');
    let kind = str(g, 'kind', 'KIND_AUTO') as InstanceKind;
    if (kind === 'KIND_AUTO') kind = gpus.length > 0 ? 'KIND_GPU' : 'KIND_CPU';
    const out: InstanceGroupConfig = {
      name: str(g, 'name'),
      // Triton's normalization: an unset count is 1.
      count: g.count === undefined ? 1 : num(g, 'count'),
      kind,
      gpus,
    };
    lines.copy(g, out);
    return out;
  });
}

function mapQueuePolicy(q: Decoded): QueuePolicy {
  const d = defaultQueuePolicy();
  return {
    timeout_action: str(q, 'timeout_action', d.timeout_action) as TimeoutAction,
    default_timeout_microseconds: num(q, 'default_timeout_microseconds'),
    allow_timeout_override: bool(q, 'allow_timeout_override'),
    max_queue_size: num(q, 'max_queue_size'),
  };
}

function mapDynamicBatching(db: Decoded): DynamicBatchingConfig {
  const out: DynamicBatchingConfig = {
    preferred_batch_size: nums(db, 'preferred_batch_size'),
    max_queue_delay_microseconds: num(db, 'max_queue_delay_microseconds'),
    preserve_ordering: bool(db, 'preserve_ordering'),
    priority_levels: num(db, 'priority_levels'),
    default_priority_level: num(db, 'default_priority_level'),
    priority_queue_policy: {},
  };
  const dq = msg(db, 'default_queue_policy');
  if (dq) out.default_queue_policy = mapQueuePolicy(dq);
  const pq = (db.priority_queue_policy as Record<string, Decoded> | undefined) ?? {};
  for (const [level, q] of Object.entries(pq)) out.priority_queue_policy[level] = mapQueuePolicy(q);
  return out;
}

function mapSequenceBatching(sb: Decoded, file: string, lines: SourceLines): SequenceBatchingConfig {
  const idle = num(sb, 'max_sequence_idle_microseconds');
  const out: SequenceBatchingConfig = {
    max_sequence_idle_microseconds: idle === 0 ? DEFAULT_MAX_SEQUENCE_IDLE_US : idle,
    control_input: msgs(sb, 'control_input').map((ci) => {
      const m = {
        name: str(ci, 'name'),
        control: msgs(ci, 'control').map((c) => ({
          kind: str(c, 'kind', 'CONTROL_SEQUENCE_START') as SequenceControlKind,
          int32_false_true: nums(c, 'int32_false_true'),
          fp32_false_true: nums(c, 'fp32_false_true'),
          bool_false_true: [...((c.bool_false_true as boolean[] | undefined) ?? [])],
          data_type: str(c, 'data_type', 'TYPE_INVALID'),
        })),
      };
      lines.copy(ci, m);
      return m;
    }),
    state: msgs(sb, 'state').map((st) => {
      const m = {
        input_name: str(st, 'input_name'),
        output_name: str(st, 'output_name'),
        data_type: str(st, 'data_type', 'TYPE_INVALID'),
        dims: nums(st, 'dims'),
        initial_state: msgs(st, 'initial_state').map((is) => {
          if (is.data_file !== undefined) {
            throw new ConfigError(file, lines.lineOf(is), `initial_state '${str(is, 'name')}': data_file is not supported; use zero_data: true`);
          }
          return { name: str(is, 'name'), data_type: str(is, 'data_type', 'TYPE_INVALID'), dims: nums(is, 'dims'), zero_data: bool(is, 'zero_data') };
        }),
      };
      lines.copy(st, m);
      return m;
    }),
  };
  const direct = msg(sb, 'direct');
  const oldest = msg(sb, 'oldest');
  if (oldest) {
    out.oldest = {
      max_candidate_sequences: num(oldest, 'max_candidate_sequences'),
      preferred_batch_size: nums(oldest, 'preferred_batch_size'),
      max_queue_delay_microseconds: num(oldest, 'max_queue_delay_microseconds'),
      preserve_ordering: bool(oldest, 'preserve_ordering'),
    };
  } else {
    out.direct = {
      max_queue_delay_microseconds: direct ? num(direct, 'max_queue_delay_microseconds') : 0,
      minimum_slot_utilization: direct ? num(direct, 'minimum_slot_utilization') : 0,
    };
  }
  return out;
}

function mapStep(s: Decoded, lines: SourceLines): EnsembleStep {
  const out: EnsembleStep = {
    model_name: str(s, 'model_name'),
    model_version: num(s, 'model_version', -1),
    input_map: strMap(s, 'input_map'),
    output_map: strMap(s, 'output_map'),
  };
  lines.copy(s, out);
  return out;
}

function mapWarmup(w: Decoded, lines: SourceLines): ModelWarmup {
  const inputs: Record<string, WarmupInput> = {};
  for (const [name, i] of Object.entries((w.inputs as Record<string, Decoded> | undefined) ?? {})) {
    const base = { data_type: str(i, 'data_type', 'TYPE_INVALID'), dims: nums(i, 'dims') };
    // The schema's oneof lets at most one through; none is refused when the warm-up is compiled (warm-up.ts).
    if (i.input_data_file !== undefined) inputs[name] = { ...base, input_data_file: str(i, 'input_data_file') };
    else if (bool(i, 'random_data')) inputs[name] = { ...base, random_data: true };
    else if (bool(i, 'zero_data')) inputs[name] = { ...base, zero_data: true };
    else inputs[name] = base as WarmupInput;
    lines.copy(i, inputs[name]);
  }
  const out: ModelWarmup = { name: str(w, 'name'), batch_size: num(w, 'batch_size'), inputs, count: num(w, 'count') };
  lines.copy(w, out);
  return out;
}

function mapParameters(d: Decoded): Record<string, { string_value: string }> {
  const out: Record<string, { string_value: string }> = {};
  for (const [k, v] of Object.entries((d.parameters as Record<string, Decoded> | undefined) ?? {})) {
    out[k] = { string_value: str(v, 'string_value') };
  }
  return out;
}

function mapAccelerator(a: Decoded): ExecutionAccelerator {
  return { name: str(a, 'name'), parameters: strMap(a, 'parameters') };
}

function mapOptimization(o: Decoded): NonNullable<ModelConfig['optimization']> {
  const out: NonNullable<ModelConfig['optimization']> = {};
  const g = msg(o, 'graph');
  if (g) out.graph = { level: num(g, 'level') };
  const ea = msg(o, 'execution_accelerators');
  if (ea) {
    out.execution_accelerators = {
      gpu_execution_accelerator: msgs(ea, 'gpu_execution_accelerator').map(mapAccelerator),
      cpu_execution_accelerator: msgs(ea, 'cpu_execution_accelerator').map(mapAccelerator),
    };
  }
  return out;
}
