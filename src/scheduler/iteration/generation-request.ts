import { type GenerationConfig, type InferenceRequest, invalidArgument } from '../../core/index.js';

/** What one generation request asks for, checked against the model's limits (docs/generation.md). */
export interface GenerationParams {
  /** Prompt tokens: the text's bytes (byte-level vocabulary). */
  readonly prompt: Uint8Array;
  readonly maxTokens: number;
  /** 0 = greedy (argmax, deterministic); > 0 = sampling from softmax(logits / temperature) with `seed`. */
  readonly temperature: number;
  readonly seed: number;
  /** Keep going past the end-of-sequence token (benchmarks: exact lengths). */
  readonly ignoreEos: boolean;
}

/** Request parameters a generation request may carry (Triton's generate extension passes them as parameters). */
const KNOWN = new Set(['max_tokens', 'temperature', 'seed', 'ignore_eos']);

/** Throws INVALID_ARGUMENT, saying what and which limit, for a request the model cannot generate for. */
export function generationParamsOf(request: InferenceRequest, g: Readonly<GenerationConfig>): GenerationParams {
  const model = request.model;
  const input = request.inputs.find((t) => t.name === 'text_input');
  if (!input || input.datatype !== 'BYTES' || input.data.length !== 1) {
    throw invalidArgument(`model '${model}' takes one prompt: input 'text_input', BYTES, shape [1]`);
  }
  const prompt = (input.data as Uint8Array[])[0];
  if (prompt.byteLength === 0) throw invalidArgument(`model '${model}': the prompt (text_input) is empty; it needs at least one byte`);
  if (prompt.byteLength > g.max_prompt) {
    throw invalidArgument(`model '${model}': the prompt is ${prompt.byteLength} bytes; at most ${g.max_prompt} (generation_max_prompt)`);
  }
  const p = request.parameters ?? {};
  const num = (key: string, dflt: number): number => {
    const v = p[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(`model '${model}': parameter ${key} must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  const maxTokens = num('max_tokens', g.max_tokens);
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > g.max_tokens) {
    throw invalidArgument(`model '${model}': max_tokens must be an integer from 1 to ${g.max_tokens} (generation_max_tokens); got ${maxTokens}`);
  }
  const temperature = num('temperature', 0);
  if (temperature < 0) throw invalidArgument(`model '${model}': temperature must be >= 0 (0 = greedy); got ${temperature}`);
  const seed = num('seed', 0);
  if (!Number.isInteger(seed)) throw invalidArgument(`model '${model}': seed must be an integer; got ${seed}`);
  const ignoreEos = p.ignore_eos ?? false;
  if (typeof ignoreEos !== 'boolean') throw invalidArgument(`model '${model}': parameter ignore_eos must be a boolean`);
  for (const key of Object.keys(p)) {
    if (!KNOWN.has(key) && !key.startsWith('triton_')) {
      throw invalidArgument(`model '${model}': unknown parameter '${key}' (a generation request takes ${[...KNOWN].join(', ')})`);
    }
  }
  return { prompt, maxTokens, temperature, seed, ignoreEos };
}
