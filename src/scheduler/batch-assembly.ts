import {
  type DataType, type InferenceRequest, type NumericArray, type Tensor, dataTypeInfo, invalidArgument, internal,
} from '../core/index.js';

/**
 * Batch assembly: requests are concatenated along dim 0 (each may carry several rows), and each output is split
 * back by the same row counts. A batch of one request passes its tensors through untouched.
 */

/** Rows a request carries (dim 0 of its inputs, which must agree). */
export function rowsOf(request: InferenceRequest): number {
  const first = request.inputs[0];
  if (!first || first.shape.length === 0) throw invalidArgument('a batched model\'s inputs need a batch dimension');
  const rows = first.shape[0];
  for (const t of request.inputs) {
    if (t.shape[0] !== rows) {
      throw invalidArgument(`inputs disagree on the batch dimension: '${first.name}' has ${rows}, '${t.name}' has ${t.shape[0]}`);
    }
  }
  return rows;
}

/** Requests with equal keys have the same inputs (names, order-independent), datatypes and non-batch dims. */
export function shapeKeyOf(request: InferenceRequest): string {
  const ins = request.inputs;
  if (ins.length === 1) {
    const t = ins[0];
    return `${t.name}:${t.datatype}:${t.shape.slice(1).join(',')}`;
  }
  return ins.map((t) => `${t.name}:${t.datatype}:${t.shape.slice(1).join(',')}`).sort().join('|');
}

/**
 * Per-instance reusable input buffers, one per input name, grown to the next power of two when a batch needs more.
 * Safe to reuse: an instance runs one batch at a time and does not keep input buffers after execute settles
 * (ModelInstance contract). ArrayBuffers start 8-byte aligned, so any datatype's view fits at offset 0.
 */
export class BatchBufferPool {
  private readonly buffers = new Map<string, ArrayBuffer>();

  /** A view of `count` elements of `dt` over the pooled buffer for `name`. */
  view(name: string, dt: DataType, count: number): NumericArray {
    const info = dataTypeInfo(dt);
    const bytes = count * info.byteSize;
    let buf = this.buffers.get(name);
    if (!buf || buf.byteLength < bytes) {
      let size = 64;
      while (size < bytes) size *= 2;
      buf = new ArrayBuffer(size);
      this.buffers.set(name, buf);
    }
    return new info.array!(buf, 0, count) as NumericArray;
  }
}

/** Concatenates the requests' inputs along dim 0 into pooled buffers (requests share one shape key). */
export function concatInputs(requests: readonly InferenceRequest[], rows: number, pool: BatchBufferPool): Tensor[] {
  if (requests.length === 1) return requests[0].inputs as Tensor[];
  const first = requests[0].inputs;
  const out: Tensor[] = new Array(first.length);
  for (let i = 0; i < first.length; i++) {
    const t0 = first[i];
    const shape = [rows, ...t0.shape.slice(1)];
    if (dataTypeInfo(t0.datatype).byteSize === 0) {
      const all: Uint8Array[] = [];
      for (const r of requests) for (const el of inputNamed(r, t0.name, i).data as Uint8Array[]) all.push(el);
      out[i] = { name: t0.name, datatype: t0.datatype, shape, data: all };
      continue;
    }
    let total = 0;
    for (const r of requests) total += inputNamed(r, t0.name, i).data.length;
    const dst = pool.view(t0.name, t0.datatype, total);
    let at = 0;
    for (const r of requests) {
      const src = inputNamed(r, t0.name, i).data as NumericArray;
      (dst as Float32Array).set(src as Float32Array, at);
      at += src.length;
    }
    out[i] = { name: t0.name, datatype: t0.datatype, shape, data: dst };
  }
  return out;
}

/** The request's input `name`, usually at the same index as in the first request. */
function inputNamed(r: InferenceRequest, name: string, hint: number): Tensor {
  const t = r.inputs[hint];
  if (t && t.name === name) return t;
  const found = r.inputs.find((x) => x.name === name);
  if (!found) throw internal(`batch assembly: request lacks input '${name}' its shape key promised`);
  return found;
}

/**
 * Splits batch outputs (dim 0 = `rows`) back into one list per request, `rowCounts[i]` rows each. Numeric outputs
 * become views into the batch's output buffers (which belong to the caller: no copy).
 */
export function splitOutputs(outputs: readonly Tensor[], rowCounts: readonly number[], rows: number): Tensor[][] {
  const per: Tensor[][] = rowCounts.map(() => new Array<Tensor>(outputs.length));
  for (let o = 0; o < outputs.length; o++) {
    const t = outputs[o];
    if (t.shape[0] !== rows) {
      throw internal(`output '${t.name}' has ${t.shape[0]} rows for a batch of ${rows}: it cannot be split back`);
    }
    if (rowCounts.length === 1) {
      per[0][o] = t;
      continue;
    }
    const rowElems = rows === 0 ? 0 : t.data.length / rows;
    const rest = t.shape.slice(1);
    let at = 0;
    for (let i = 0; i < rowCounts.length; i++) {
      const n = rowCounts[i];
      const data = Array.isArray(t.data)
        ? t.data.slice(at * rowElems, (at + n) * rowElems)
        : (t.data as NumericArray).subarray(at * rowElems, (at + n) * rowElems);
      per[i][o] = { name: t.name, datatype: t.datatype, shape: [n, ...rest], data: data as Tensor['data'] };
      at += n;
    }
  }
  return per;
}
