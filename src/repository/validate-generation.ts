/**
 * Step-wise generative models (docs/generation.md): a config whose `parameters` set `generation` is served by the
 * iteration-level scheduler. Its inputs and outputs are the client's (`text_input` → `token_id`, `text_output`), not
 * the model file's: the file is the step model, checked here against the signature the scheduler feeds.
 */
import type { GenerationConfig, ModelConfig } from '../core/index.js';
import type { OnnxModelInfo } from '../onnx-proto/index.js';
import { ConfigError } from './config-error.js';
import { onnxConfigType, onnxDims } from './auto-complete.js';
import type { SourceLines } from './pbtxt-schema.js';

/** The config parameter that marks a generative model, and its values. */
export const PARAM_GENERATION = 'generation';
const BATCHING = ['iteration', 'request'] as const;

/** The client-side tensors a generative model's config lists. */
export const GENERATION_INPUT = 'text_input';
export const GENERATION_OUTPUTS = ['token_id', 'text_output'] as const;

/** The step model's signature: name → [datatype, rank]. */
const STEP_INPUTS: Readonly<Record<string, readonly [string, number]>> = {
  input_ids: ['TYPE_INT64', 2], position_ids: ['TYPE_INT64', 2], attention_mask: ['TYPE_FP32', 3], past_key_values: ['TYPE_FP32', 6],
};
const STEP_OUTPUTS: Readonly<Record<string, readonly [string, number]>> = { logits: ['TYPE_FP32', 3], present_key_values: ['TYPE_FP32', 6] };

export function isGenerationConfig(config: Readonly<ModelConfig>): boolean {
  return config.parameters[PARAM_GENERATION] !== undefined;
}

type Limits = Omit<GenerationConfig, 'layers' | 'heads' | 'head_dim' | 'vocab'>;

/** The `generation*` parameters, checked (before the model file is read). */
export function generationLimits(config: ModelConfig, file: string, lines: SourceLines): Limits {
  const fail = (what: string, field = 'parameters'): never => {
    throw new ConfigError(file, lines.lineOf(config, field), what);
  };
  const p = (key: string) => config.parameters[key]?.string_value;
  const batching = p(PARAM_GENERATION)!;
  if (!(BATCHING as readonly string[]).includes(batching)) fail(`parameter ${PARAM_GENERATION} must be one of ${BATCHING.join(', ')} (got '${batching}')`);
  const int = (key: string, dflt: number, min: number): number => {
    const s = p(key);
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) fail(`parameter ${key} must be an integer >= ${min} (got '${s}')`);
    return n;
  };
  for (const key of Object.keys(config.parameters)) {
    if (key.startsWith('generation_') && !GENERATION_KEYS.has(key)) fail(`unknown parameter ${key} (known: ${[...GENERATION_KEYS].join(', ')})`);
  }
  const limits: Limits = {
    batching: batching as Limits['batching'],
    max_active: int('generation_max_active', 32, 1),
    max_length: int('generation_max_length', 256, 2),
    max_prompt: int('generation_max_prompt', 128, 1),
    max_tokens: int('generation_max_tokens', 128, 1),
    eos_token: int('generation_eos_token', -1, -1),
    max_queue: int('generation_max_queue', 1024, 1),
  };
  if (limits.max_prompt + limits.max_tokens > limits.max_length) {
    fail(`generation_max_prompt (${limits.max_prompt}) + generation_max_tokens (${limits.max_tokens}) exceed generation_max_length (${limits.max_length})`);
  }
  if (config.max_batch_size !== 0) fail('a generative model takes one prompt per request: max_batch_size must be 0 (the scheduler forms its own batches)', 'max_batch_size');
  if (config.dynamic_batching || config.sequence_batching || config.ensemble_scheduling) {
    fail('a generative model (parameter generation) is batched by its own scheduler: remove dynamic_batching / sequence_batching');
  }
  if (config.response_cache?.enable) fail('response_cache cannot be enabled for a generative model (it streams its answers)', 'response_cache');
  const input = config.input;
  if (input.length !== 1 || input[0].name !== GENERATION_INPUT || input[0].data_type !== 'TYPE_STRING' || input[0].dims.join() !== '1') {
    fail(`a generative model's config lists one input: { name: "${GENERATION_INPUT}" data_type: TYPE_STRING dims: [ 1 ] }`, 'input');
  }
  const outs = new Map(config.output.map((t) => [t.name, t]));
  const tokenId = outs.get('token_id');
  const text = outs.get('text_output');
  if (config.output.length !== 2 || tokenId?.data_type !== 'TYPE_INT32' || tokenId.dims.join() !== '-1'
    || text?.data_type !== 'TYPE_STRING' || text.dims.join() !== '1') {
    fail('a generative model\'s config lists two outputs: { name: "token_id" data_type: TYPE_INT32 dims: [ -1 ] } and { name: "text_output" data_type: TYPE_STRING dims: [ 1 ] }', 'output');
  }
  return limits;
}

const GENERATION_KEYS = new Set(['generation_max_active', 'generation_max_length', 'generation_max_prompt', 'generation_max_tokens', 'generation_eos_token', 'generation_max_queue']);

/** Checks the step model file's signature and completes the config's `generation` from it and the limits. */
export function generationAgainstModel(limits: Limits, info: OnnxModelInfo, modelFile: string, configFile: string): GenerationConfig {
  const fail = (what: string): never => {
    throw new ConfigError(configFile, 0, `generative model: ${what} (model file ${modelFile})`);
  };
  const dimsOf = (kind: 'input' | 'output', name: string, spec: readonly [string, number]): number[] => {
    const v = (kind === 'input' ? info.inputs : info.outputs).find((x) => x.name === name);
    if (!v) fail(`the step model has no ${kind} '${name}' (it needs inputs ${Object.keys(STEP_INPUTS).join(', ')}; outputs ${Object.keys(STEP_OUTPUTS).join(', ')})`);
    if (onnxConfigType(v!) !== spec[0]) fail(`${kind} '${name}' must be ${spec[0].slice(5)}`);
    const d = onnxDims(v!);
    if (!d || d.length !== spec[1]) fail(`${kind} '${name}' must have rank ${spec[1]}`);
    return d!;
  };
  for (const [name, spec] of Object.entries(STEP_INPUTS)) dimsOf('input', name, spec);
  if (info.inputs.length !== Object.keys(STEP_INPUTS).length) fail(`the step model takes exactly the inputs ${Object.keys(STEP_INPUTS).join(', ')}`);
  const past = dimsOf('input', 'past_key_values', STEP_INPUTS.past_key_values);
  const present = dimsOf('output', 'present_key_values', STEP_OUTPUTS.present_key_values);
  const logits = dimsOf('output', 'logits', STEP_OUTPUTS.logits);
  const [, layers, two, heads, , headDim] = past;
  if ([layers, heads, headDim].some((n) => n < 1) || two !== 2) fail('past_key_values must be [batch, layers, 2, heads, past, head_dim] with fixed layers, heads, head_dim');
  if (present[1] !== layers || present[2] !== 2 || present[3] !== heads || present[5] !== headDim) fail('present_key_values must be [batch, layers, 2, heads, tokens, head_dim] as past_key_values');
  if (logits[2] < 1) fail('logits must be [batch, tokens, vocab] with a fixed vocab');
  if (limits.eos_token >= logits[2]) fail(`generation_eos_token ${limits.eos_token} is not in the vocabulary (0…${logits[2] - 1})`);
  return { ...limits, layers, heads, head_dim: headDim, vocab: logits[2] };
}
