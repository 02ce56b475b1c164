import { readFields, utf8 } from './protobuf.js';

/** One graph input or output as the ONNX file declares it. */
export interface OnnxValueInfo {
  readonly name: string;
  /** TensorProto.DataType; 0 when the value is not a tensor (sequence, map) or undeclared. */
  readonly elemType: number;
  /** Per dimension: a number, or the symbolic name / null for an unknown dimension. undefined shape = unknown rank. */
  readonly dims: readonly (number | string | null)[] | undefined;
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { domain: string; version: number }[];
  /** Graph inputs that are not initializers (true runtime inputs). */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/**
 * Reads a model's signature from ONNX bytes without loading it into a runtime.
 * Throws Error with a message naming what is wrong when the bytes are not an ONNX model.
 */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  let irVersion = 0;
  let producer = '';
  const opsets: { domain: string; version: number }[] = [];
  let graph: Uint8Array | undefined;
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === 0) irVersion = Number(f.int);
    else if (f.field === 2 && f.wire === 2) producer = utf8(f.bytes);
    else if (f.field === 7 && f.wire === 2) graph = f.bytes;
    else if (f.field === 8 && f.wire === 2) {
      let domain = '';
      let version = 0;
      for (const g of readFields(f.bytes)) {
        if (g.field === 1 && g.wire === 2) domain = utf8(g.bytes);
        else if (g.field === 2 && g.wire === 0) version = Number(g.int);
      }
      opsets.push({ domain, version });
    }
  }
  if (!graph || irVersion === 0) throw new Error('not an ONNX model (no graph or IR version)');
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const initializers = new Set<string>();
  for (const f of readFields(graph)) {
    if (f.wire !== 2) continue;
    if (f.field === 11) inputs.push(readValueInfo(f.bytes));
    else if (f.field === 12) outputs.push(readValueInfo(f.bytes));
    else if (f.field === 5) initializers.add(readTensorName(f.bytes));
  }
  return { irVersion, producer, opsets, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

function readTensorName(bytes: Uint8Array): string {
  for (const f of readFields(bytes)) if (f.field === 8 && f.wire === 2) return utf8(f.bytes);
  return '';
}

/** One ValueInfoProto (a graph input or output). */
export function readValueInfo(bytes: Uint8Array): OnnxValueInfo {
  let name = '';
  let elemType = 0;
  let dims: (number | string | null)[] | undefined;
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === 2) name = utf8(f.bytes);
    else if (f.field === 2 && f.wire === 2) {
      for (const t of readFields(f.bytes)) {
        if (t.field !== 1 || t.wire !== 2) continue; // tensor_type only
        for (const tt of readFields(t.bytes)) {
          if (tt.field === 1 && tt.wire === 0) elemType = Number(tt.int);
          else if (tt.field === 2 && tt.wire === 2) {
            dims = [];
            for (const d of readFields(tt.bytes)) {
              if (d.field !== 1 || d.wire !== 2) continue;
              let dim: number | string | null = null;
              for (const dd of readFields(d.bytes)) {
                if (dd.field === 1 && dd.wire === 0) dim = Number(BigInt.asIntN(64, dd.int));
                else if (dd.field === 2 && dd.wire === 2) dim = utf8(dd.bytes);
              }
              dims.push(dim);
            }
          }
        }
      }
    }
  }
  return { name, elemType, dims };
}
