/**
 * The second half of decoding a ModelInferRequest: what its parameters mean (before admission), then its tensors
 * (after). Parameters arrive typed, as Triton's clients send them; the ones the server uses must have Triton's types:
 *
 *   priority  int64 (≥ 0) or uint64        timeout  int64 (µs, ≥ 0)        sequence_id  int64 (≥ 0), uint64 or string
 *   sequence_start / sequence_end  bool    triton_enable_empty_final_response  bool (ModelStreamInfer)
 *
 * Other `triton_` keys are refused (Triton reserves them); any other key passes through to the request's parameters
 * (64-bit integers past 2^53 as their decimal text). Tensor data comes from raw_input_contents (one entry per input,
 * in input order, the binary tensor layout) or each input's typed `contents`, never both.
 */
import {
  type CancelSignal, type InferenceRequest, type ParameterValue, type Parameters, type RequestLimits, type RequestedOutput,
  type Tensor, InferenceError, invalidArgument, isDataType,
} from '../../core/index.js';
import { checkTensorLimits } from '../../server/validate-request.js';
import { isPlainName } from '../../server/names.js';
import { decodeBinaryData } from '../codec/binary-tensor.js';
import type { ScannedInfer, WireParam, WireParams } from './scan-infer-request.js';
import { decodeContents } from './typed-contents.js';
import { WireError } from './protobuf-wire.js';

/** What the request's parameters say, known before its tensors are decoded. */
export interface InferHeader {
  readonly model: string;
  readonly version: string | undefined;
  readonly priority: number | undefined;
  readonly timeoutUs: number | undefined;
  /** The request's parameters as the server passes them on (absent when it has none). */
  readonly parameters: Parameters | undefined;
  /** triton_enable_empty_final_response: mark the stream's response final (ModelStreamInfer). */
  readonly emptyFinalResponse: boolean;
}

const unimplemented = (msg: string) => new InferenceError('UNIMPLEMENTED', msg);

function typeError(key: string, expected: string): InferenceError {
  return invalidArgument(`invalid value type for '${key}' parameter, expected ${expected}`);
}

function plainValue(p: WireParam): ParameterValue | undefined {
  if (p.kind === 'none') return undefined;
  return typeof p.value === 'bigint' ? p.value.toString() : p.value;
}

/** A non-negative int64/uint64 parameter as a number (values past 2^53 saturate: they mean "very large" here). */
function nonNegative(key: string, p: WireParam): number {
  const v = Number(p.value);
  if (v < 0) throw invalidArgument(`invalid value for '${key}', expected value >= 0`);
  return v;
}

/** Reads the model, version and request-level parameters; throws INVALID_ARGUMENT for wrong names, types, values. */
export function inferHeader(scan: ScannedInfer): InferHeader {
  const model = scan.modelName;
  if (model === '') throw invalidArgument('the request names no model (model_name is empty)');
  if (!isPlainName(model)) throw invalidArgument(`'${model}' is not a plain model name`);
  const v = scan.modelVersion;
  if (v !== '' && !/^\d{1,18}$/.test(v)) throw invalidArgument(`'${v}' is not a model version number`);
  let priority: number | undefined;
  let timeoutUs: number | undefined;
  let emptyFinalResponse = false;
  let parameters: Record<string, ParameterValue> | undefined;
  if (scan.parameters) {
    parameters = {};
    for (const [key, p] of scan.parameters) {
      switch (key) {
        case 'priority':
          if (p.kind !== 'int64' && p.kind !== 'uint64') throw typeError(key, 'int64_param or uint64_param');
          priority = nonNegative(key, p);
          break;
        case 'timeout':
          if (p.kind !== 'int64') throw typeError(key, 'int64_param');
          timeoutUs = nonNegative(key, p);
          break;
        case 'sequence_id':
          if (p.kind !== 'int64' && p.kind !== 'uint64' && p.kind !== 'string') throw typeError(key, 'int64_param, uint64_param or string_param');
          if (p.kind === 'int64' && p.value < 0) throw invalidArgument(`invalid value for 'sequence_id', expected value >= 0`);
          break;
        case 'sequence_start':
        case 'sequence_end':
          if (p.kind !== 'bool') throw typeError(key, 'bool_param');
          break;
        case 'triton_enable_empty_final_response':
          if (p.kind !== 'bool') throw typeError(key, 'bool_param');
          emptyFinalResponse = p.value;
          continue;
        default:
          if (key.startsWith('triton_')) {
            throw invalidArgument(`parameter keys starting with 'triton_' are reserved; the only one accepted is triton_enable_empty_final_response`);
          }
      }
      const value = plainValue(p);
      if (value !== undefined) parameters[key] = value;
    }
  }
  return { model, version: v === '' ? undefined : v, priority, timeoutUs, parameters, emptyFinalResponse };
}

function shmRefusal(params: WireParams | undefined, what: string): void {
  if (params?.has('shared_memory_region')) {
    throw unimplemented(`${what} uses shared memory (shared_memory_region): shared-memory tensors are not supported, send the data in the request`);
  }
}

/** The request's tensors, as views of the message where aligned (numeric raw contents), else one copy. */
export function decodeInputs(scan: ScannedInfer, limits: RequestLimits): Tensor[] {
  const n = scan.inputs.length;
  if (n === 0) throw invalidArgument('the request has no inputs');
  const raw = scan.raw;
  const rawCount = raw.length / 2;
  if (rawCount > 0 && rawCount !== n) {
    throw invalidArgument(`the request has ${rawCount} raw_input_contents for ${n} inputs: send one per input, in input order`);
  }
  const inputs: Tensor[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const inp = scan.inputs[i];
    const name = inp.name;
    const datatype = inp.datatype;
    if (!isDataType(datatype)) throw invalidArgument(`input '${name}': unknown datatype ${JSON.stringify(datatype)}`);
    shmRefusal(inp.parameters, `input '${name}'`);
    const count = checkTensorLimits(name, inp.shape, limits);
    let data;
    if (inp.contents.length > 0) {
      if (rawCount > 0) {
        throw invalidArgument(`contents field must not be specified when using raw_input_contents for '${name}' for model '${scan.modelName}'`);
      }
      try {
        data = decodeContents(name, datatype, scan.message, inp.contents, count);
      } catch (err) {
        if (err instanceof WireError) throw invalidArgument(`input '${name}': malformed contents (not valid protobuf): ${err.message}`);
        throw err;
      }
    } else if (rawCount > 0) {
      const start = raw[2 * i];
      data = decodeBinaryData(name, datatype, scan.message, start, raw[2 * i + 1] - start, count, `raw_input_contents[${i}] size`);
    } else {
      throw invalidArgument(`input '${name}' has no data: send raw_input_contents (one per input) or its contents`);
    }
    inputs[i] = { name, datatype, shape: inp.shape, data };
  }
  return inputs;
}

/**
 * The requested outputs (absent = all). Triton's classification extension and shared-memory outputs are refused:
 * answering with plain tensors instead would be a wrong answer, not a degraded one.
 */
export function requestedOutputs(scan: ScannedInfer): RequestedOutput[] | undefined {
  if (scan.outputs.length === 0) return undefined;
  return scan.outputs.map((o) => {
    shmRefusal(o.parameters, `output '${o.name}'`);
    if (o.parameters?.has('classification')) throw unimplemented(`output '${o.name}' asks for classification, which is not supported`);
    if (!o.parameters) return { name: o.name };
    const parameters: Record<string, ParameterValue> = {};
    for (const [k, p] of o.parameters) {
      const value = plainValue(p);
      if (value !== undefined) parameters[k] = value;
    }
    return { name: o.name, parameters };
  });
}

/** The whole InferenceRequest, once admission has let it through. */
export function inferRequestOf(
  scan: ScannedInfer, header: InferHeader, limits: RequestLimits, signal: CancelSignal,
): InferenceRequest {
  return {
    id: scan.id === '' ? undefined : scan.id,
    model: header.model,
    version: header.version,
    inputs: decodeInputs(scan, limits),
    outputs: requestedOutputs(scan),
    priority: header.priority,
    timeoutUs: header.timeoutUs,
    parameters: header.parameters,
    receivedUs: scan.receivedUs,
    signal,
  };
}
