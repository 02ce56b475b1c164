/**
 * Auto-complete: fill what the config leaves out (inputs, outputs, max_batch_size) from the ONNX file's
 * signature, as Triton's onnxruntime backend does. A model is batchable when every input and output has a
 * dynamic leading dimension; then max_batch_size defaults to `defaultMaxBatchSize` and dims drop that dimension.
 */
import { dataTypeInfo, fromOnnxElemType, type ModelConfig, type TensorConfig } from '../core/index.js';
import type { OnnxModelInfo, OnnxValueInfo } from '../onnx-proto/index.js';
import { ConfigError } from './config-error.js';

/** ONNX dims with every unknown dimension (symbolic, missing, non-positive) as -1. */
export function onnxDims(v: OnnxValueInfo): number[] | undefined {
  return v.dims?.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
}

/** Triton TYPE_* name of an ONNX value's element type, or undefined when it has no v2 datatype. */
export function onnxConfigType(v: OnnxValueInfo): string | undefined {
  const dt = fromOnnxElemType(v.elemType);
  return dt && dataTypeInfo(dt).configName;
}

/** Every input and output has rank ≥ 1 and a dynamic first dimension. */
export function isBatchable(info: OnnxModelInfo): boolean {
  const all = [...info.inputs, ...info.outputs];
  return all.length > 0 && all.every((v) => {
    const d = onnxDims(v);
    return d !== undefined && d.length >= 1 && d[0] === -1;
  });
}

function derive(v: OnnxValueInfo, batched: boolean, isInput: boolean, modelFile: string): TensorConfig {
  const dataType = onnxConfigType(v);
  const kind = isInput ? 'input' : 'output';
  if (!dataType) {
    throw new ConfigError(modelFile, 0, `${kind} '${v.name}' has ONNX element type ${v.elemType}, which has no v2 datatype; cannot serve it`);
  }
  const dims = onnxDims(v);
  if (!dims) throw new ConfigError(modelFile, 0, `${kind} '${v.name}' has no declared shape; write its dims in config.pbtxt`);
  const t: TensorConfig = { name: v.name, data_type: dataType, dims: batched ? dims.slice(1) : dims };
  if (isInput) t.optional = false;
  return t;
}

/** Model-side rank of a config tensor: its reshape if any, else its dims, plus the batch dimension. */
function modelRank(t: TensorConfig, maxBatchSize: number): number {
  return (t.reshape?.shape ?? t.dims).length + (maxBatchSize > 0 ? 1 : 0);
}

/**
 * Completes `config` in place from the model signature. `maxBatchSizeWritten`: whether the config set
 * max_batch_size (an explicit 0 is kept).
 */
export function autoComplete(
  config: ModelConfig,
  info: OnnxModelInfo,
  modelFile: string,
  opts: { maxBatchSizeWritten: boolean; defaultMaxBatchSize: number },
): void {
  if (!opts.maxBatchSizeWritten) {
    // Batch only when the model allows it and any tensors the config wrote agree with a batch dimension.
    let batch = isBatchable(info);
    if (batch) {
      const byName = new Map([...info.inputs, ...info.outputs].map((v) => [v.name, v]));
      for (const t of [...config.input, ...config.output]) {
        const dims = byName.get(t.name) && onnxDims(byName.get(t.name)!);
        if (dims && modelRank(t, 1) !== dims.length) batch = false;
      }
    }
    config.max_batch_size = batch ? opts.defaultMaxBatchSize : 0;
  }
  const batched = config.max_batch_size > 0;
  // Control and state tensors of a sequence model are the server's to feed and keep, not the client's.
  const sb = config.sequence_batching;
  const serverIn = new Set([...(sb?.control_input ?? []).map((c) => c.name), ...(sb?.state ?? []).map((s) => s.input_name)]);
  const serverOut = new Set((sb?.state ?? []).map((s) => s.output_name));
  if (config.input.length === 0) config.input = info.inputs.filter((v) => !serverIn.has(v.name)).map((v) => derive(v, batched, true, modelFile));
  if (config.output.length === 0) config.output = info.outputs.filter((v) => !serverOut.has(v.name)).map((v) => derive(v, batched, false, modelFile));
}
