/**
 * Validation of a completed config: its own structure (validateStructure) and its agreement with a model
 * file's signature (validateAgainstModel). Every failure is a ConfigError at the config line at fault.
 */
import { fromConfigName, type ModelConfig, type TensorConfig } from '../core/index.js';
import type { OnnxModelInfo } from '../onnx-proto/index.js';
import { ConfigError } from './config-error.js';
import { onnxConfigType, onnxDims } from './auto-complete.js';
import { BACKEND_JS, PLATFORM_ENSEMBLE } from './defaults.js';
import type { SourceLines } from './pbtxt-schema.js';
import { sequenceInputNames, validateSequenceAgainstModel, validateSequenceBatching } from './validate-sequence.js';
import { isGenerationConfig } from './validate-generation.js';

/** A model or file name usable as one path segment: no separators, not hidden, not `.`/`..`. */
export function isPlainName(s: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) && s !== '..' && s.length <= 255;
}

const fmtDims = (d: readonly number[]) => `[${d.join(', ')}]`;

export function validateStructure(config: ModelConfig, file: string, lines: SourceLines): void {
  const fail = (o: object | undefined, what: string, field?: string): never => {
    throw new ConfigError(file, lines.lineOf(o ?? config, field), what);
  };
  const top = (field: string, what: string): never => {
    throw new ConfigError(file, lines.lineOf(config, field), what);
  };
  if (!isPlainName(config.name)) top('name', `model name "${config.name}" is not a plain name`);
  if (!Number.isInteger(config.max_batch_size) || config.max_batch_size < 0) {
    top('max_batch_size', `max_batch_size must be >= 0 (got ${config.max_batch_size})`);
  }
  if (config.input.length === 0) top('input', 'the config has no inputs');
  if (config.output.length === 0) top('output', 'the config has no outputs');
  for (const [kind, list] of [['input', config.input], ['output', config.output]] as const) {
    const seen = new Set<string>();
    for (const t of list) {
      if (t.name === '') fail(t, `an ${kind} has no name`);
      if (seen.has(t.name)) fail(t, `${kind} '${t.name}' is listed twice`);
      seen.add(t.name);
      if (!fromConfigName(t.data_type)) fail(t, `${kind} '${t.name}': data_type ${t.data_type} is not supported`);
      for (const d of t.dims) if (d !== -1 && d < 1) fail(t, `${kind} '${t.name}': dims ${fmtDims(t.dims)} must be >= 1 or -1`);
      for (const d of t.reshape?.shape ?? []) {
        if (d !== -1 && d < 1) fail(t, `${kind} '${t.name}': reshape ${fmtDims(t.reshape!.shape)} must be >= 1 or -1`);
      }
    }
  }
  validateBeforeReading(config, file, lines);
  for (const g of config.instance_group) {
    if (g.count < 1) fail(g, `instance_group ${g.name}: count must be >= 1 (got ${g.count})`);
    if (g.kind === 'KIND_CPU' && g.gpus.length > 0) fail(g, `instance_group ${g.name}: KIND_CPU cannot list gpus`);
    for (const id of g.gpus) if (id < 0) fail(g, `instance_group ${g.name}: gpu id ${id} must be >= 0`);
  }
  validateBatching(config, file, lines);
  validateSequenceBatching(config, file, lines);
  validateEnsemble(config, file, lines);
  validateDecoupled(config, file, lines);
  for (const a of [
    ...(config.optimization?.execution_accelerators?.cpu_execution_accelerator ?? []),
    ...(config.optimization?.execution_accelerators?.gpu_execution_accelerator ?? []),
  ]) {
    if (a.name === '') top('optimization', 'an execution accelerator has no name');
  }
}

/** What must hold before any file is read with the config: the version policy and the model file name. */
export function validateBeforeReading(config: ModelConfig, file: string, lines: SourceLines): void {
  const top = (field: string, what: string): never => {
    throw new ConfigError(file, lines.lineOf(config, field), what);
  };
  const vp = config.version_policy;
  if ('latest' in vp && vp.latest.num_versions < 1) top('version_policy', 'version_policy latest num_versions must be >= 1');
  if ('specific' in vp) {
    if (vp.specific.versions.length === 0) top('version_policy', 'version_policy specific lists no versions');
    for (const v of vp.specific.versions) if (v < 1) top('version_policy', `version ${v} must be >= 1`);
  }
  const noFile = config.platform === PLATFORM_ENSEMBLE && config.default_model_filename === '';
  if (!noFile && !isPlainName(config.default_model_filename)) {
    top('default_model_filename', `default_model_filename "${config.default_model_filename}" must be a plain file name`);
  }
}

/**
 * A decoupled model (docs/streaming.md) runs one request per execution on a JS instance: what needs one answer per
 * request, or batches requests, is refused by name rather than served wrong.
 */
function validateDecoupled(config: ModelConfig, file: string, lines: SourceLines): void {
  const tp = config.model_transaction_policy;
  if (!tp?.decoupled) return;
  const fail = (what: string): never => {
    throw new ConfigError(file, lines.lineOf(tp) || lines.lineOf(config, 'model_transaction_policy'), `model_transaction_policy { decoupled: true }: ${what}`);
  };
  // Generative models (docs/generation.md) stream their tokens from the generation scheduler, on ONNX instances.
  if (config.backend !== BACKEND_JS && !isGenerationConfig(config)) {
    fail(`only models of the js backend can answer with several responses (this one is ${config.platform || config.backend})`);
  }
  if (config.dynamic_batching) fail('dynamic_batching is not supported (a decoupled model runs one request per execution)');
  if (config.sequence_batching) fail('sequence_batching is not supported with a decoupled model');
  if (config.response_cache?.enable) fail('response_cache is not supported (a cache entry holds one response)');
  if (config.model_warmup && config.model_warmup.length > 0) fail('model_warmup is not supported with a decoupled model');
}

function validateBatching(config: ModelConfig, file: string, lines: SourceLines): void {
  const db = config.dynamic_batching;
  if (!db) return;
  const fail = (what: string): never => {
    throw new ConfigError(file, lines.lineOf(db) || lines.lineOf(config, 'dynamic_batching'), what);
  };
  if (config.max_batch_size === 0) fail('dynamic_batching needs max_batch_size > 0');
  for (const p of db.preferred_batch_size) {
    if (p < 1 || p > config.max_batch_size) fail(`preferred_batch_size ${p} must be in 1..max_batch_size (${config.max_batch_size})`);
  }
  if (db.priority_levels === 0) {
    if (db.default_priority_level !== 0) fail('default_priority_level needs priority_levels > 0');
    if (Object.keys(db.priority_queue_policy).length > 0) fail('priority_queue_policy needs priority_levels > 0');
    return;
  }
  if (db.default_priority_level < 1 || db.default_priority_level > db.priority_levels) {
    fail(`default_priority_level must be in 1..${db.priority_levels} (got ${db.default_priority_level})`);
  }
  for (const level of Object.keys(db.priority_queue_policy)) {
    const n = Number(level);
    if (n < 1 || n > db.priority_levels) fail(`priority_queue_policy key ${level} must be in 1..${db.priority_levels}`);
  }
}

function validateEnsemble(config: ModelConfig, file: string, lines: SourceLines): void {
  const isEnsemble = config.platform === PLATFORM_ENSEMBLE;
  const es = config.ensemble_scheduling;
  const top = (field: string, what: string): never => {
    throw new ConfigError(file, lines.lineOf(config, field), what);
  };
  if (!isEnsemble) {
    if (es) top('ensemble_scheduling', 'ensemble_scheduling needs platform "ensemble"');
    return;
  }
  if (!es || es.step.length === 0) top('ensemble_scheduling', 'an ensemble needs ensemble_scheduling with at least one step');
  for (const s of es!.step) {
    const fail = (what: string): never => {
      throw new ConfigError(file, lines.lineOf(s) || lines.lineOf(config, 'ensemble_scheduling'), what);
    };
    if (!isPlainName(s.model_name)) fail(`ensemble step model_name "${s.model_name}" is not a plain model name`);
    if (!Number.isInteger(s.model_version) || s.model_version < -1) fail(`ensemble step ${s.model_name}: model_version must be -1 or a version`);
    if (Object.keys(s.input_map).length === 0) fail(`ensemble step ${s.model_name} has no input_map`);
    if (Object.keys(s.output_map).length === 0) fail(`ensemble step ${s.model_name} has no output_map`);
  }
}

/**
 * Checks that the config agrees with one model file: every config tensor exists in the model with the same
 * datatype and compatible dims, every model input is in the config, and a batching config meets a dynamic
 * first dimension. Errors name the config file (at the tensor's line), the model file and the tensor.
 */
export function validateAgainstModel(
  config: ModelConfig,
  info: OnnxModelInfo,
  modelFile: string,
  configFile: string,
  lines: SourceLines,
): void {
  const batched = config.max_batch_size > 0;
  const check = (kind: 'input' | 'output', t: TensorConfig, modelSide: OnnxModelInfo['inputs']) => {
    const fail = (what: string): never => {
      throw new ConfigError(configFile, lines.lineOf(t), `${kind} '${t.name}': ${what} (model file ${modelFile})`);
    };
    const v = modelSide.find((m) => m.name === t.name);
    if (!v) fail(`not an ${kind} of the model; its ${kind}s are ${modelSide.map((m) => `'${m.name}'`).join(', ') || 'none'}`);
    const modelType = onnxConfigType(v!) ?? `ONNX element type ${v!.elemType}`;
    if (modelType !== t.data_type) fail(`config says ${t.data_type} but the model declares ${modelType}`);
    const md = onnxDims(v!);
    if (!md) return; // the model does not declare a shape: nothing to compare
    const expected = t.reshape?.shape ?? t.dims;
    let rest = md;
    if (batched) {
      if (md.length === 0 || md[0] !== -1) {
        fail(`max_batch_size is ${config.max_batch_size} but the model's first dimension is fixed (model dims ${fmtDims(md)})`);
      }
      rest = md.slice(1);
    }
    const shown = batched ? `[-1, ${expected.join(', ')}]`.replace(', ]', ']') : fmtDims(expected);
    if (rest.length !== expected.length) fail(`config dims ${shown} do not match the model's ${fmtDims(md)} (rank differs)`);
    rest.forEach((m, i) => {
      if (m !== -1 && expected[i] !== m) fail(`config dims ${shown} do not match the model's ${fmtDims(md)}`);
    });
  };
  for (const t of config.input) check('input', t, info.inputs);
  for (const t of config.output) check('output', t, info.outputs);
  validateSequenceAgainstModel(config, info, modelFile, configFile, lines);
  const fedByServer = sequenceInputNames(config);
  for (const v of info.inputs) {
    if (!config.input.some((t) => t.name === v.name) && !fedByServer.has(v.name)) {
      throw new ConfigError(configFile, lines.lineOf(config, 'input'), `model input '${v.name}' of model file ${modelFile} is missing from the config`);
    }
  }
}
