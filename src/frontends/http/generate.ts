/**
 * Triton's generate extension (docs/streaming.md): a JSON object in, JSON objects out, for `POST
 * /v2/models/{m}[/versions/{v}]/generate` and `.../generate_stream`.
 *
 * Request: each key that names one of the model's inputs is that tensor — its datatype the config's, its value a
 * scalar (shape [1]) or a rectangular (nested) array (its shape); a batching model gets a batch dimension of 1 in
 * front. `parameters` (an object) and every other key are the request's parameters: strings, numbers or booleans.
 * Response: `model_name`, `model_version` and each output by name — one element as
 * a scalar, more as a flat array (row-major; BYTES as UTF-8 strings).
 */
import {
  type CancelSignal, type InferenceRequest, type InferenceResponse, type ModelConfig, type ParameterValue, type RequestLimits,
  type Tensor, elementCount, fromConfigName, invalidArgument,
} from '../../core/index.js';
import { decodeJsonData, encodeJsonData } from './json-tensor.js';

const isScalar = (v: unknown): v is ParameterValue => typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/** A (nested) array's shape, checked rectangular and within the rank limit; [1] for a scalar. */
function shapeOf(name: string, v: unknown, maxRank: number): number[] {
  if (!Array.isArray(v)) return [1];
  const shape: number[] = [];
  let level: unknown = v;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (shape.length > maxRank) throw invalidArgument(`input '${name}': more than ${maxRank} dimensions (--max-rank)`);
    level = level[0];
  }
  const check = (a: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(a)) throw invalidArgument(`input '${name}': the array is not rectangular`);
      return;
    }
    if (!Array.isArray(a) || a.length !== shape[depth]) throw invalidArgument(`input '${name}': the array is not rectangular`);
    for (const el of a) check(el, depth + 1);
  };
  check(v, 0);
  return shape;
}

/** The generate request body (parsed JSON) as an InferenceRequest for `config`'s model. Throws INVALID_ARGUMENT. */
export function generateRequestOf(body: unknown, config: Readonly<ModelConfig>, model: string, version: string | undefined,
  limits: RequestLimits, signal: CancelSignal, receivedUs: number): InferenceRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidArgument('the generate request must be a JSON object');
  const inputs: Tensor[] = [];
  const parameters: Record<string, ParameterValue> = {};
  const param = (key: string, v: unknown) => {
    if (!isScalar(v)) throw invalidArgument(`parameter '${key}' must be a string, a number or a boolean (it is not an input of model '${model}')`);
    parameters[key] = v;
  };
  const byName = new Map(config.input.map((t) => [t.name, t]));
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    const spec = byName.get(key);
    if (spec) {
      const datatype = fromConfigName(spec.data_type)!;
      const shape = shapeOf(key, value, limits.maxRank - (config.max_batch_size > 0 ? 1 : 0));
      const n = elementCount(shape);
      if (n > limits.maxTensorElements) throw invalidArgument(`input '${key}' has ${n} elements; at most ${limits.maxTensorElements} (--max-tensor-elements)`);
      const data = decodeJsonData(key, datatype, value, n);
      inputs.push({ name: key, datatype, shape: config.max_batch_size > 0 ? [1, ...shape] : shape, data });
    } else if (key === 'parameters') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument('parameters must be a JSON object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) param(k, v);
    } else param(key, value);
  }
  return { model, version, inputs, parameters, signal, receivedUs };
}

/** One response as the generate extension's JSON object. */
export function generateAnswerOf(res: InferenceResponse): Record<string, unknown> {
  const out: Record<string, unknown> = { model_name: res.model, model_version: res.version };
  for (const t of res.outputs) {
    const values = encodeJsonData(t.datatype, t.data);
    out[t.name] = values.length === 1 ? values[0] : values;
  }
  return out;
}
