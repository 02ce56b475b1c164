/**
 * The one call the server makes per model: config.pbtxt (or none) → a complete, validated, frozen ModelConfig.
 * Phases, as Triton's: parse → auto-complete from the model file → normalize → validate → freeze.
 */
import { access, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ModelConfig } from '../core/index.js';
import { readOnnxModelInfoFromFile, type OnnxModelInfo } from '../onnx-proto/index.js';
import { autoComplete } from './auto-complete.js';
import { configFromPbtxt, emptyConfig, type ParsedConfig } from './config-from-pbtxt.js';
import { ConfigError } from './config-error.js';
import { BACKEND_JS, BACKEND_ONNX, CONFIG_FILENAME, DEFAULT_MAX_BATCH_SIZE, JS_MODEL_FILENAMES } from './defaults.js';
import { modelFilePath, scanModel, selectVersions, type ScannedModel } from './scan.js';
import { validateAgainstModel, validateStructure, validateBeforeReading } from './validate.js';
import { generationAgainstModel, generationLimits, isGenerationConfig } from './validate-generation.js';

export interface LoadConfigOptions {
  /** Triton's --strict-model-config: no auto-complete; config.pbtxt must list inputs and outputs. Default false. */
  readonly strict?: boolean;
  /** max_batch_size given to a batchable model whose config does not set it. Default 64. */
  readonly defaultMaxBatchSize?: number;
}

export interface LoadedConfig {
  readonly config: Readonly<ModelConfig>;
  /** `file:line: …` for each Triton field the config uses that this server ignores. Log them. */
  readonly warnings: readonly string[];
}

/**
 * Reads, completes and validates a model's config. `model` is a scanned model, or a model folder (scanned here).
 * Throws ConfigError (message `file:line: what`) when the model cannot be served as configured.
 */
export async function loadModelConfig(model: ScannedModel | string, opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const m = typeof model === 'string' ? await scanModel(basename(model), dirname(model), model) : model;
  if (m.error) throw new ConfigError(m.modelDir, 0, m.error);
  const strict = opts.strict ?? false;
  const defaultMaxBatchSize = opts.defaultMaxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  if (!Number.isInteger(defaultMaxBatchSize) || defaultMaxBatchSize < 0) {
    throw new RangeError(`defaultMaxBatchSize must be an integer >= 0 (got ${defaultMaxBatchSize})`);
  }
  const configFile = join(m.modelDir, CONFIG_FILENAME);
  let parsed: ParsedConfig;
  if (m.hasConfig) {
    const text = await readFile(configFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(configFile, 0, `cannot read: ${err.code ?? err.message}`, 0, { cause: err });
    });
    parsed = configFromPbtxt(text, configFile);
  } else if (strict) {
    throw new ConfigError(configFile, 0, 'missing, and strict model config is on (no auto-complete)');
  } else {
    parsed = emptyConfig(configFile);
  }
  const { config, present, lines } = parsed;
  if (present.has('name') && config.name !== m.name) {
    throw new ConfigError(configFile, lines.lineOf(config, 'name'), `name "${config.name}" differs from the model folder name "${m.name}"`);
  }
  config.name = m.name;
  config.instance_group.forEach((g, i) => {
    if (g.name === '') g.name = `${m.name}_${i}`;
  });
  validateBeforeReading(config, configFile, lines);
  if (config.response_cache?.enable && present.has('sequence_batching')) {
    // As Triton: a stateful model's answer depends on more than its inputs.
    throw new ConfigError(configFile, lines.lineOf(config, 'response_cache'), 'response_cache cannot be enabled for a model with sequence_batching (its answers depend on the sequence\'s state)');
  }
  const selected = selectVersions(config, m.versions);

  if (config.backend === BACKEND_ONNX) {
    const noTensors = config.input.length === 0 || config.output.length === 0;
    if (strict && noTensors) {
      throw new ConfigError(configFile, 0, 'strict model config is on: the config must list its inputs and outputs');
    }
    const models = await readModels(m.modelDir, selected, config);
    if (isGenerationConfig(config)) {
      // A generative model's config lists the client's tensors, not the step model's: nothing to derive or compare.
      const limits = generationLimits(config, configFile, lines);
      validateStructure(config, configFile, lines);
      for (const x of models) if (x.info) config.generation = generationAgainstModel(limits, x.info, x.file, configFile);
      if (!config.generation) throw new ConfigError(models[0]?.file ?? m.modelDir, 0, `cannot read the step model (${models[0]?.error ?? 'no version folder'})`);
      return { config: deepFreeze(config), warnings: parsed.warnings };
    }
    if (!strict && (noTensors || !present.has('max_batch_size'))) {
      const newest = models.find((x) => x.info);
      if (!newest) {
        const why = models[0]?.error ?? `no version folder matches the version policy (found: ${m.versions.join(', ') || 'none'})`;
        throw new ConfigError(models[0]?.file ?? m.modelDir, 0, `cannot derive the config from the model file (${why}); without one, write a config.pbtxt`);
      }
      autoComplete(config, newest.info!, newest.file, { maxBatchSizeWritten: present.has('max_batch_size'), defaultMaxBatchSize });
    }
    validateStructure(config, configFile, lines);
    // A version whose file is missing or unreadable fails on its own when the backend loads it.
    for (const x of models) if (x.info) validateAgainstModel(config, x.info, x.file, configFile, lines);
  } else {
    if (config.input.length === 0 || config.output.length === 0) {
      const what = config.backend === BACKEND_JS ? 'backend "js"' : 'an ensemble';
      throw new ConfigError(configFile, 0, `${what} needs a config.pbtxt listing its inputs and outputs (nothing to derive them from)`);
    }
    if (config.backend === BACKEND_JS && !present.has('default_model_filename')) {
      config.default_model_filename = await jsModelFilename(m.modelDir, selected);
    }
    validateStructure(config, configFile, lines);
  }
  return { config: deepFreeze(config), warnings: parsed.warnings };
}

interface VersionModel {
  file: string;
  info?: OnnxModelInfo;
  error?: string;
}

/** Each selected version's model signature, newest first. */
async function readModels(modelDir: string, versions: readonly number[], config: ModelConfig): Promise<VersionModel[]> {
  return Promise.all([...versions].reverse().map(async (v): Promise<VersionModel> => {
    const file = modelFilePath(modelDir, v, config);
    try {
      return { file, info: await readOnnxModelInfoFromFile(file) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { file, error: e.code === 'ENOENT' ? 'no such file' : e.code ?? e.message };
    }
  }));
}

/** model.mjs when the newest selected version has it and no model.js; else model.js. */
async function jsModelFilename(modelDir: string, versions: readonly number[]): Promise<string> {
  const newest = versions[versions.length - 1];
  if (newest === undefined) return JS_MODEL_FILENAMES[0];
  for (const f of JS_MODEL_FILENAMES) {
    if (await access(join(modelDir, String(newest), f)).then(() => true, () => false)) return f;
  }
  return JS_MODEL_FILENAMES[0];
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
