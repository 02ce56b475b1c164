/**
 * `autoglm inspect`: what a model file holds, read from its protobuf without a runtime session (and, through
 * readOnnxModelHeaders, without its weights): signature, operator histogram, parameters by element type, a MAC
 * estimate for the common ops, and what constant folding would remove.
 */
import { fromOnnxElemType } from '../core/index.js';
import { elementCount, type OnnxModel, type OnnxTensor, type OnnxValueInfo } from '../onnx-proto/index.js';
import { constantTensors, hasSubgraph, indexGraph, isDefaultDomain } from './graph-index.js';
import { tensorBytes } from './tensor-data.js';

export interface ParamsByType { readonly elemType: string; readonly tensors: number; readonly elements: number; readonly bytes: number }

export interface MacEstimate {
  /** MatMul/Gemm with a constant weight: K·N multiply-adds for each row of A (a batch row, or a token). */
  readonly matmulPerRow: number;
  /** Conv: Cout·(Cin/group)·kh·kw per output position, summed over convolutions (times H·W for a full image). */
  readonly convPerPosition: number;
  /** MatMuls between two run-time values (attention scores and mixing): their cost depends on sequence length. */
  readonly activationMatMuls: number;
}

export interface ModelSummary {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { domain: string; version: number }[];
  readonly inputs: readonly ValueSummary[];
  readonly outputs: readonly ValueSummary[];
  readonly nodes: number;
  /** Op type (domain-qualified outside ai.onnx) → count, most frequent first. */
  readonly ops: readonly { op: string; count: number }[];
  readonly params: readonly ParamsByType[];
  readonly externalInitializers: number;
  readonly macs: MacEstimate;
  /** Nodes whose inputs are all constants (what fold-constants would compute once), by op type. */
  readonly foldable: readonly { op: string; count: number }[];
}

export interface ValueSummary { readonly name: string; readonly type: string; readonly shape: readonly (number | string)[] | null; readonly dynamic: readonly number[] }

export const ELEM_NAMES: Readonly<Record<number, string>> = {
  1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 16: 'BFLOAT16',
};

function valueSummary(v: OnnxValueInfo): ValueSummary {
  const shape = v.dims ? v.dims.map((d) => (typeof d === 'number' && d >= 0 ? d : (d ?? '?'))) : null;
  return {
    name: v.name, type: fromOnnxElemType(v.elemType) ?? ELEM_NAMES[v.elemType] ?? `type ${v.elemType}`, shape,
    dynamic: shape ? shape.flatMap((d, i) => (typeof d === 'number' ? [] : [i])) : [],
  };
}

function histogram(keys: readonly string[]): { op: string; count: number }[] {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m].map(([op, count]) => ({ op, count })).sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

const opName = (n: { opType: string; domain: string }) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType);

export function summarize(model: OnnxModel): ModelSummary {
  const g = model.graph;
  const initNames = new Set(g.initializers.keys());
  const params = new Map<string, { tensors: number; elements: number; bytes: number }>();
  let externalInitializers = 0;
  // Weights some exporters (paddle2onnx) write as Constant nodes count as parameters too.
  const constants = constantTensors(g);
  for (const t of [...constants.values(), ...[...g.initializers].filter(([k]) => !constants.has(k)).map(([, t]) => t)]) {
    if (t.external) externalInitializers++;
    const key = ELEM_NAMES[t.elemType] ?? `type ${t.elemType}`;
    const p = params.get(key) ?? { tensors: 0, elements: 0, bytes: 0 };
    p.tensors++;
    p.elements += elementCount(t.dims);
    p.bytes += tensorBytes(t);
    params.set(key, p);
  }
  const producer = model.otherFields.find((f) => f.field === 2 && f.wire === 2);
  return {
    irVersion: model.irVersion,
    producer: producer ? new TextDecoder().decode(producer.bytes) : '',
    opsets: model.opsets,
    inputs: g.inputs.filter((i) => !initNames.has(i.name)).map(valueSummary),
    outputs: g.outputs.map(valueSummary),
    nodes: g.nodes.length,
    ops: histogram(g.nodes.map(opName)),
    params: [...params].map(([elemType, p]) => ({ elemType, ...p })).sort((a, b) => b.bytes - a.bytes),
    externalInitializers,
    macs: estimateMacs(model, constants),
    foldable: histogram(foldableNodes(model)),
  };
}

function estimateMacs(model: OnnxModel, constants: ReadonlyMap<string, OnnxTensor>): MacEstimate {
  const g = model.graph;
  let matmulPerRow = 0;
  let convPerPosition = 0;
  let activationMatMuls = 0;
  for (const n of g.nodes) {
    if (!isDefaultDomain(n)) continue;
    if (n.opType === 'MatMul' || n.opType === 'Gemm') {
      const w = constants.get(n.inputs[1]) ?? constants.get(n.inputs[0]);
      if (w && w.dims.length >= 2) matmulPerRow += w.dims[w.dims.length - 2] * w.dims[w.dims.length - 1] * elementCount(w.dims.slice(0, -2));
      else activationMatMuls++;
    } else if (n.opType === 'Conv') {
      const w = constants.get(n.inputs[1]);
      // W is [Cout, Cin/group, k…]: its element count is the MACs for one output position.
      if (w) convPerPosition += elementCount(w.dims);
    }
  }
  return { matmulPerRow, convPerPosition, activationMatMuls };
}

/** Op types of nodes that only read constants (and what they produce, transitively), as fold-constants sees them. */
function foldableNodes(model: OnnxModel): string[] {
  const g = model.graph;
  const idx = indexGraph(g);
  const constant = new Set([...g.initializers.keys()].filter((k) => g.initializers.get(k)?.external !== true && !idx.graphInputs.has(k)));
  const out: string[] = [];
  for (const n of g.nodes) {
    if (!isDefaultDomain(n) || hasSubgraph(n) || n.opType.startsWith('Random')) continue;
    if (!n.inputs.every((i) => i === '' || constant.has(i)) || n.outputs.some((o) => idx.graphOutputs.has(o))) continue;
    out.push(n.opType);
    for (const o of n.outputs) constant.add(o);
  }
  return out;
}

