/**
 * What the load generator asks the server before loading it: the v2 model metadata (inputs, datatypes, shapes) and,
 * when the server has Triton's config extension, max_batch_size (whether the first dimension is the batch) — over
 * HTTP (GET /v2/models/…) or gRPC (ModelMetadata, ModelConfig).
 */
import { InferenceError, invalidArgument, isDataType, type DataType } from '../core/index.js';
import { httpGet, type GetResult } from './http-get.js';
import type { ConnectionTarget } from './http1-connection.js';
import { grpcUnary } from './grpc-connection.js';
import { decodeMaxBatchSize, decodeModelMetadata, encodeNameVersion } from './grpc-messages.js';

export interface RemoteTensor {
  readonly name: string;
  readonly datatype: DataType;
  /** -1 = variable. */
  readonly shape: readonly number[];
}

export interface RemoteModel {
  readonly name: string;
  readonly versions: readonly string[];
  readonly inputs: readonly RemoteTensor[];
  readonly outputs: readonly RemoteTensor[];
  /** From GET …/config when the server has it; undefined when it does not (then a leading -1 is the batch). */
  readonly maxBatchSize: number | undefined;
}

export function modelPath(model: string, version: string): string {
  const m = encodeURIComponent(model);
  return version ? `/v2/models/${m}/versions/${encodeURIComponent(version)}` : `/v2/models/${m}`;
}

/** GET a JSON document; a clear InferenceError when the server is unreachable. */
export async function getJson(url: string, timeoutMs = 10_000): Promise<{ status: number; body: unknown }> {
  let res: GetResult;
  try {
    res = await httpGet(url, timeoutMs);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InferenceError('UNAVAILABLE', `cannot reach ${url}: ${e.code ?? e.message}`, { cause: err });
  }
  let body: unknown = res.text;
  try {
    body = JSON.parse(res.text);
  } catch {
    // Not JSON: keep the text for the error message.
  }
  return { status: res.status, body };
}

function serverMessage(body: unknown): string {
  if (body && typeof body === 'object' && 'error' in body) return String((body as { error: unknown }).error);
  return typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body).slice(0, 200);
}

function parseTensors(list: unknown, where: string): RemoteTensor[] {
  if (!Array.isArray(list)) throw invalidArgument(`model metadata: ${where} is not a list`);
  return list.map((t: { name?: unknown; datatype?: unknown; shape?: unknown }) => {
    if (typeof t?.name !== 'string' || !isDataType(t.datatype) || !Array.isArray(t.shape)) {
      throw invalidArgument(`model metadata: malformed ${where} entry ${JSON.stringify(t)}`);
    }
    return { name: t.name, datatype: t.datatype, shape: t.shape.map(Number) };
  });
}

export async function fetchModel(baseUrl: string, model: string, version: string): Promise<RemoteModel> {
  const path = modelPath(model, version);
  const meta = await getJson(baseUrl + path);
  if (meta.status === 404) throw new InferenceError('NOT_FOUND', `model '${model}' not found at ${baseUrl}: ${serverMessage(meta.body)}`);
  if (meta.status !== 200) {
    throw new InferenceError('UNAVAILABLE', `GET ${path} answered ${meta.status}: ${serverMessage(meta.body)}`);
  }
  const b = meta.body as { name?: unknown; versions?: unknown; inputs?: unknown; outputs?: unknown };
  const inputs = parseTensors(b.inputs, 'inputs');
  const outputs = parseTensors(b.outputs ?? [], 'outputs');
  let maxBatchSize: number | undefined;
  const config = await getJson(`${baseUrl}/v2/models/${encodeURIComponent(model)}/config`).catch(() => undefined);
  if (config?.status === 200 && typeof (config.body as { max_batch_size?: unknown }).max_batch_size === 'number') {
    maxBatchSize = (config.body as { max_batch_size: number }).max_batch_size;
  }
  return {
    name: typeof b.name === 'string' ? b.name : model,
    versions: Array.isArray(b.versions) ? b.versions.map(String) : [],
    inputs,
    outputs,
    maxBatchSize,
  };
}

const GRPC_SERVICE = '/inference.GRPCInferenceService';

/** The same, over gRPC: ModelMetadata, then ModelConfig for max_batch_size (undefined when the server refuses it). */
export async function fetchGrpcModel(target: ConnectionTarget, model: string, version: string): Promise<RemoteModel> {
  const meta = decodeModelMetadata(await grpcUnary(target, `${GRPC_SERVICE}/ModelMetadata`, encodeNameVersion(model, version)));
  let maxBatchSize: number | undefined;
  try {
    maxBatchSize = decodeMaxBatchSize(await grpcUnary(target, `${GRPC_SERVICE}/ModelConfig`, encodeNameVersion(model, version)));
  } catch {
    // No config extension: a leading -1 is then taken as the batch dimension.
  }
  return { name: meta.name || model, versions: meta.versions, inputs: meta.inputs, outputs: meta.outputs, maxBatchSize };
}
