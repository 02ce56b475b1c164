import {
  type CancelSignal,
  type InferenceRequest, type Parameters, type RequestLimits, type RequestedOutput, type Tensor,
  invalidArgument, isDataType,
} from '../../core/index.js';
import { checkTensorLimits } from '../../server/validate-request.js';
import { decodeJsonData } from './json-tensor.js';
import { JsonParseError, parseJsonBytes, peekLeadingParameters } from './json-body-parser.js';
import { decodeBinaryData } from '../codec/binary-tensor.js';

/** How the response should carry each output: binary (extension) or JSON. */
export interface OutputEncoding {
  /** The request's `binary_data_output` parameter. */
  readonly allBinary: boolean;
  /** Per-output `binary_data` parameters, overriding allBinary. */
  readonly perOutput: ReadonlyMap<string, boolean>;
}

export interface DecodedInfer {
  readonly request: InferenceRequest;
  readonly encoding: OutputEncoding;
}

/**
 * Called once the request's parameters are known and before its tensors are decoded: throws the refusal when the
 * server would not admit a request of this priority and timeout now.
 */
export type AdmitGate = (priority: number | undefined, timeoutUs: number | undefined) => void;

function admitBy(admit: AdmitGate, params: Record<string, unknown> | undefined): void {
  const priority = params?.priority;
  const timeout = params?.timeout;
  admit(typeof priority === 'number' ? priority : undefined, typeof timeout === 'number' ? timeout : undefined);
}

/** Only for refused or deeply nested bodies; it drops a leading BOM, as the byte parser skips it. */
const jsonDecoder = new TextDecoder('utf-8', { fatal: true });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parameters(v: unknown, where: string): Parameters | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw invalidArgument(`${where}: 'parameters' must be an object`);
  for (const [k, p] of Object.entries(v)) {
    if (typeof p !== 'string' && typeof p !== 'number' && typeof p !== 'boolean') {
      throw invalidArgument(`${where}: parameter '${k}' must be a string, number or boolean`);
    }
  }
  return v as Parameters;
}

function parseHeader(body: Uint8Array, headerLength: number | undefined): Record<string, unknown> {
  const bytes = headerLength === undefined ? body : body.subarray(0, headerLength);
  let parsed: unknown;
  try {
    parsed = parseJsonBytes(bytes);
  } catch (err) {
    if (!(err instanceof JsonParseError)) throw err;
    parsed = reparse(bytes, err);
  }
  if (!isObject(parsed)) throw invalidArgument('request JSON must be an object');
  return parsed;
}

/**
 * The refusals of the former TextDecoder + JSON.parse path, in its order: invalid UTF-8 anywhere in the header
 * first, then the syntax error. Nesting beyond the byte parser's depth limit goes to JSON.parse, which does not
 * recurse, so such bodies are accepted as before.
 */
function reparse(bytes: Uint8Array, err: JsonParseError): unknown {
  let text: string;
  try {
    text = jsonDecoder.decode(bytes);
  } catch {
    throw invalidArgument('request JSON is not valid UTF-8');
  }
  if (err.code !== 'DEPTH') throw invalidArgument(`malformed request JSON: ${err.message}`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`malformed request JSON: ${(e as Error).message}`);
  }
}

function shapeOf(v: unknown, name: string): number[] {
  if (!Array.isArray(v)) throw invalidArgument(`input '${name}': 'shape' must be an array of integers`);
  for (const d of v) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalidArgument(`input '${name}': shape [${v.join(',')}] must hold non-negative integers`);
    }
  }
  return v as number[];
}

/**
 * Decodes a v2 infer request body: JSON alone, or with the binary extension a JSON header of `headerLength`
 * bytes followed by the binary tensor data of each input that declares `binary_data_size`, in input order.
 * Checks structure, datatypes, element values and framing; size limits before allocating anything. What needs
 * the model config (names, shapes vs dims) is checked by the server.
 */
export function decodeInferRequest(
  body: Uint8Array, headerLength: number | undefined, model: string, version: string | undefined,
  limits: RequestLimits, signal: CancelSignal, receivedUs: number, admit?: AdmitGate,
): DecodedInfer {
  if (headerLength !== undefined && (headerLength < 0 || headerLength > body.length)) {
    throw invalidArgument(`Inference-Header-Content-Length ${headerLength} exceeds the body's ${body.length} bytes`);
  }
  // A JSON body whose parameters come first is judged before its tensors are parsed; a binary one's header holds no
  // tensor data, so it is judged after the header.
  const early = admit && headerLength === undefined ? peekLeadingParameters(body) : undefined;
  if (early) admitBy(admit!, early);
  const h = parseHeader(body, headerLength);
  if (h.id !== undefined && typeof h.id !== 'string') throw invalidArgument("'id' must be a string");
  const params = parameters(h.parameters, 'request');
  if (admit && !early) admitBy(admit, params);
  if (!Array.isArray(h.inputs) || h.inputs.length === 0) throw invalidArgument("'inputs' must be a non-empty array");
  let offset = headerLength ?? body.length;
  const inputs: Tensor[] = [];
  for (const raw of h.inputs as unknown[]) {
    if (!isObject(raw)) throw invalidArgument('each input must be an object');
    const name = raw.name;
    if (typeof name !== 'string') throw invalidArgument("each input needs a string 'name'");
    const datatype = raw.datatype;
    if (!isDataType(datatype)) throw invalidArgument(`input '${name}': unknown datatype ${JSON.stringify(datatype)}`);
    const shape = shapeOf(raw.shape, name);
    const count = checkTensorLimits(name, shape, limits);
    const ip = parameters(raw.parameters, `input '${name}'`);
    const size = ip?.binary_data_size;
    let data;
    if (size !== undefined) {
      if (headerLength === undefined) {
        throw invalidArgument(`input '${name}' has binary_data_size but the request has no Inference-Header-Content-Length`);
      }
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw invalidArgument(`input '${name}': binary_data_size must be a non-negative integer`);
      }
      if (raw.data !== undefined) throw invalidArgument(`input '${name}' has both 'data' and binary_data_size`);
      if (offset + size > body.length) {
        throw invalidArgument(`input '${name}': binary_data_size ${size} runs past the end of the body (${body.length - offset} bytes left)`);
      }
      data = decodeBinaryData(name, datatype, body, offset, size, count);
      offset += size;
    } else {
      if (raw.data === undefined) throw invalidArgument(`input '${name}' has neither 'data' nor binary_data_size`);
      data = decodeJsonData(name, datatype, raw.data, count);
    }
    inputs.push({ name, datatype, shape, data });
  }
  if (offset !== body.length) {
    throw invalidArgument(`the body has ${body.length - offset} bytes of binary data that no input declares`);
  }
  const perOutput = new Map<string, boolean>();
  let outputs: RequestedOutput[] | undefined;
  if (h.outputs !== undefined) {
    if (!Array.isArray(h.outputs)) throw invalidArgument("'outputs' must be an array");
    outputs = [];
    for (const o of h.outputs as unknown[]) {
      if (!isObject(o) || typeof o.name !== 'string') throw invalidArgument("each requested output needs a string 'name'");
      const op = parameters(o.parameters, `output '${o.name}'`);
      if (op?.binary_data !== undefined) perOutput.set(o.name, op.binary_data === true);
      outputs.push(op === undefined ? { name: o.name } : { name: o.name, parameters: op });
    }
  }
  const priority = params?.priority;
  const timeout = params?.timeout;
  const request: InferenceRequest = {
    id: h.id as string | undefined,
    model,
    version,
    inputs,
    outputs,
    priority: typeof priority === 'number' ? priority : undefined,
    timeoutUs: typeof timeout === 'number' ? timeout : undefined,
    parameters: params,
    receivedUs,
    signal,
  };
  return { request, encoding: { allBinary: params?.binary_data_output === true, perOutput } };
}
