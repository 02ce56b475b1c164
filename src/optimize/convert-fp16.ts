/**
 * FLOAT → FLOAT16 for GPU targets. Graph inputs and outputs keep their types (a Cast at each edge); ops in the
 * block list (precision-sensitive or without FLOAT16 kernels) run in FLOAT with Casts around them. Element types
 * come from element-types.ts (declared types forward through each op's rule); no shape inference is needed.
 */
import { toHalfBits } from '../core/index.js';
import { ONNX, type OnnxModel, type OnnxNode, type OnnxTensor } from '../onnx-proto/index.js';
import { elementTypes } from './element-types.js';
import { allNames, attr, freshName, indexGraph, makeAttr } from './graph-index.js';
import { floatsOf } from './tensor-data.js';

/** Kept in FLOAT by default: reductions and normalizations that overflow or lose range in half precision. */
export const DEFAULT_FP16_BLOCK: readonly string[] = [
  'Softmax', 'LogSoftmax', 'LayerNormalization', 'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceL2', 'ReduceLogSumExp',
  'Pow', 'Exp', 'Range', 'CumSum', 'TopK', 'NonMaxSuppression', 'RoiAlign', 'Resize', 'Upsample',
  'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'EyeLike',
];

/** Inputs that ONNX requires to be FLOAT whatever the data's type (e.g. Resize's scales). */
const FLOAT_ONLY_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [2], Upsample: [1] };

export interface Fp16Report { readonly converted: number; readonly casts: number; readonly blocked: readonly string[] }

export function convertFp16(model: OnnxModel, block: readonly string[]): Fp16Report {
  const g = model.graph;
  const blocked = new Set(block);
  const types = elementTypes(g);
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (o && !types.has(o)) throw new Error(`value '${o}' (${n.domain ? `${n.domain}.` : ''}${n.opType}) has no element type known here; FP16 conversion needs every value typed (add --fp16-keep ${n.opType}?)`);
    }
  }
  const isFloat = (name: string) => types.get(name) === ONNX.FLOAT;
  const names = allNames(g);
  const idx = indexGraph(g);
  // Where each FLOAT value lives: half unless a blocked op or the graph's edge produced it.
  const half = new Set<string>();
  const isBlocked = (n: OnnxNode) => blocked.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx');
  for (const n of g.nodes) if (!isBlocked(n)) for (const o of n.outputs) if (o && isFloat(o)) half.add(o);
  const wantsHalf = (n: OnnxNode, i: number) => !isBlocked(n) && !(FLOAT_ONLY_INPUTS[n.opType] ?? []).includes(i);
  let converted = 0;
  for (const [name, t] of g.initializers) {
    if (t.elemType !== ONNX.FLOAT || g.inputs.some((v) => v.name === name)) continue;
    const readers = idx.consumers.get(name) ?? [];
    if (!readers.some((n) => n.inputs.some((x, i) => x === name && wantsHalf(n, i)))) continue;
    g.initializers.set(name, toHalfTensor(t));
    half.add(name);
    converted++;
  }
  const casts = new Map<string, string>();
  const out: OnnxNode[] = [];
  const castTo = (value: string, toHalf: boolean): string => {
    const key = `${value}|${toHalf}`;
    let name = casts.get(key);
    if (!name) {
      name = freshName(g, `${value}_${toHalf ? 'fp16' : 'fp32'}`, names);
      casts.set(key, name);
      out.push(castNode(g, names, value, name, toHalf));
    }
    return name;
  };
  for (const n of g.nodes) {
    n.inputs = n.inputs.map((x, i) => {
      if (!x || !isFloat(x)) return x;
      const want = wantsHalf(n, i);
      return want === half.has(x) ? x : castTo(x, want);
    });
    if (!isBlocked(n)) retypeAttributes(n);
    out.push(n);
  }
  // Graph outputs keep FLOAT: the producer writes a half value and a Cast restores the output's name and type.
  for (const o of g.outputs) {
    if (!half.has(o.name)) continue;
    const inner = freshName(g, `${o.name}_fp16`, names);
    for (const n of out) {
      n.outputs = n.outputs.map((x) => (x === o.name ? inner : x));
      n.inputs = n.inputs.map((x) => (x === o.name ? inner : x));
    }
    out.push(castNode(g, names, inner, o.name, false));
  }
  g.nodes = out;
  // Stale FLOAT value infos would contradict the new types; the runtime infers them again.
  g.valueInfo = g.valueInfo.filter((v) => !half.has(v.name));
  return { converted, casts: casts.size + g.outputs.filter((o) => half.has(o.name)).length, blocked: [...blocked].filter((b) => g.nodes.some((n) => n.opType === b)) };
}

function castNode(g: OnnxModel['graph'], names: Set<string>, from: string, to: string, toHalf: boolean): OnnxNode {
  return { name: freshName(g, `${to}_Cast`, names), opType: 'Cast', domain: '', inputs: [from], outputs: [to], attrs: [makeAttr('to', { i: toHalf ? ONNX.FLOAT16 : ONNX.FLOAT })], otherFields: [] };
}

/** Attributes that name or carry a FLOAT type inside a converted op. */
function retypeAttributes(n: OnnxNode): void {
  if (n.opType === 'Cast' && attr(n, 'to')?.i === ONNX.FLOAT) {
    n.attrs = n.attrs.map((a) => (a.name === 'to' ? makeAttr('to', { i: ONNX.FLOAT16 }) : a));
  }
  if (n.opType === 'Constant' || n.opType === 'ConstantOfShape') {
    n.attrs = n.attrs.map((a) => {
      const t = a.name === 'value' ? attr(n, 'value')?.t : undefined;
      if (!t || t.elemType !== ONNX.FLOAT) return a;
      const h = toHalfTensor(t);
      return makeAttr('value', { t: { name: h.name, elemType: h.elemType, dims: h.dims, raw: h.raw } });
    });
  }
}

function toHalfTensor(t: OnnxTensor): OnnxTensor {
  const f = floatsOf(t);
  const h = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) h[i] = toHalfBits(f[i]);
  return { name: t.name, elemType: ONNX.FLOAT16, dims: t.dims, raw: new Uint8Array(h.buffer) };
}
