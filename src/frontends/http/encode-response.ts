import type { InferenceResponse } from '../../core/index.js';
import { encodeBinaryData } from '../codec/binary-tensor.js';
import { encodeJsonData } from './json-tensor.js';
import type { OutputEncoding } from './decode-request.js';

/** An encoded response: the parts to write in order, and the headers that describe them. */
export interface EncodedResponse {
  readonly contentType: string;
  /** Present when binary outputs follow the JSON header. */
  readonly headerLength: number | undefined;
  readonly contentLength: number;
  readonly parts: readonly Uint8Array[];
}

/**
 * Encodes a v2 infer response. Outputs the request marked binary (binary_data_output, or the output's own
 * binary_data) go after the JSON header with their `binary_data_size`; the rest are JSON `data`.
 */
export function encodeInferResponse(res: InferenceResponse, enc: OutputEncoding): EncodedResponse {
  const binaries: Uint8Array[] = [];
  const outputs = res.outputs.map((t) => {
    const binary = enc.perOutput.get(t.name) ?? enc.allBinary;
    if (binary) {
      const bytes = encodeBinaryData(t);
      binaries.push(bytes);
      return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { name: t.name, datatype: t.datatype, shape: t.shape, data: encodeJsonData(t.datatype, t.data) };
  });
  const header = Buffer.from(JSON.stringify({
    model_name: res.model,
    model_version: res.version,
    ...(res.id !== undefined ? { id: res.id } : {}),
    ...(res.parameters !== undefined ? { parameters: res.parameters } : {}),
    outputs,
  }));
  if (binaries.length === 0) {
    return { contentType: 'application/json', headerLength: undefined, contentLength: header.length, parts: [header] };
  }
  let total = header.length;
  for (const b of binaries) total += b.byteLength;
  return { contentType: 'application/octet-stream', headerLength: header.length, contentLength: total, parts: [header, ...binaries] };
}
