/**
 * Checks answers while measuring: a fast wrong server is not fast. A sample of responses is decoded (JSON or the
 * binary extension) and compared with the first answer seen for the same input set, within a small relative
 * tolerance (a batched run may round differently from an unbatched one). Distinct input sets rotate through the
 * load, so answers swapped between concurrent requests show up as mismatches.
 */
import type { HttpResult } from './http1-connection.js';
import { decodeGrpcInferResponse } from './grpc-messages.js';
import { decodeBinaryValues } from './tensor-values.js';

export interface DecodedOutput {
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly values: readonly (number | string | boolean)[];
}

export type DecodedResponse = ReadonlyMap<string, DecodedOutput>;

/** Decodes a successful infer response (HTTP, or gRPC's ModelInferResponse); throws Error with the reason when it is malformed. */
export function decodeInferResponse(result: HttpResult): DecodedResponse {
  const body = result.body.length === 1 ? result.body[0] : Buffer.concat(result.body as Buffer[]);
  if (result.grpcStatus !== undefined) return decodeGrpcInferResponse(body);
  const headerLen = result.inferenceHeaderLength >= 0 ? result.inferenceHeaderLength : body.length;
  if (headerLen > body.length) throw new Error(`Inference-Header-Content-Length ${headerLen} exceeds the body (${body.length} bytes)`);
  const doc = JSON.parse(body.toString('utf8', 0, headerLen)) as { outputs?: unknown };
  if (!Array.isArray(doc.outputs)) throw new Error('response has no outputs list');
  let offset = headerLen;
  const out = new Map<string, DecodedOutput>();
  for (const o of doc.outputs as { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[]) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      if (!Array.isArray(o.data)) throw new Error(`output '${o.name}' has neither data nor binary_data_size`);
      out.set(o.name, { datatype: o.datatype, shape: o.shape, values: (o.data.flat(Infinity) as (number | string | boolean)[]) });
      continue;
    }
    if (offset + size > body.length) throw new Error(`output '${o.name}' binary data runs past the body`);
    out.set(o.name, { datatype: o.datatype, shape: o.shape, values: decodeBinaryValues(o.datatype, body, offset, size) });
    offset += size;
  }
  if (offset !== body.length) throw new Error(`${body.length - offset} unexplained bytes after the outputs`);
  return out;
}

/** Empty string when `got` matches `want`; otherwise what differs. */
export function compareResponses(want: DecodedResponse, got: DecodedResponse, relTol = 1e-3): string {
  if (want.size !== got.size) return `expected ${want.size} outputs, got ${got.size}`;
  for (const [name, w] of want) {
    const g = got.get(name);
    if (!g) return `output '${name}' missing`;
    if (w.values.length !== g.values.length) return `output '${name}': ${g.values.length} values, expected ${w.values.length}`;
    for (let i = 0; i < w.values.length; i++) {
      const a = w.values[i];
      const b = g.values[i];
      if (typeof a === 'number' && typeof b === 'number') {
        if (Math.abs(a - b) > relTol * Math.max(1, Math.abs(a))) return `output '${name}'[${i}] = ${b}, expected ${a}`;
      } else if (a !== b) {
        return `output '${name}'[${i}] = ${String(b)}, expected ${String(a)}`;
      }
    }
  }
  return '';
}

/** Keeps each input set's first answer and checks later sampled answers against it. */
export class ResponseChecker {
  private readonly reference: (DecodedResponse | undefined)[];
  checked = 0;
  mismatches = 0;
  firstProblem = '';

  constructor(sets: number, private readonly every: number) {
    this.reference = new Array(sets).fill(undefined);
  }

  /** Whether the n-th completed request should be checked (the first of each set always is). */
  wants(n: number, set: number): boolean {
    return this.reference[set] === undefined || n % this.every === 0;
  }

  /** Checks a 200 response; returns false when it is malformed or differs from the set's reference. */
  check(set: number, result: HttpResult): boolean {
    this.checked++;
    let problem: string;
    try {
      const decoded = decodeInferResponse(result);
      const ref = this.reference[set];
      if (ref === undefined) {
        this.reference[set] = decoded;
        return true;
      }
      problem = compareResponses(ref, decoded);
    } catch (err) {
      problem = `malformed response: ${(err as Error).message}`;
    }
    if (problem === '') return true;
    this.mismatches++;
    if (this.firstProblem === '') this.firstProblem = problem;
    return false;
  }
}
