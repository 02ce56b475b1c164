/**
 * Tensor ranks where they follow from the declared shapes without a shape inference engine: graph inputs, value
 * infos, initializers, then forward through ops whose output rank is plain (elementwise, Gemm, MatMul).
 */
import type { OnnxGraph } from '../onnx-proto/index.js';

const SAME_RANK = new Set(['Relu', 'Sigmoid', 'Tanh', 'Gelu', 'Erf', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Identity',
  'Dropout', 'Cast', 'Softmax', 'LogSoftmax', 'LeakyRelu', 'Clip', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu',
  'Softplus', 'Sign', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'BatchNormalization', 'LayerNormalization', 'Mish',
  'DynamicQuantizeLinear', 'QuantizeLinear', 'DequantizeLinear']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'PRelu', 'Where']);

export function knownRanks(g: OnnxGraph): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs]) if (v.dims) ranks.set(v.name, v.dims.length);
  for (const t of g.initializers.values()) ranks.set(t.name, t.dims.length);
  for (const n of g.nodes) {
    const out = n.outputs[0];
    if (!out || ranks.has(out) || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    const ins = n.inputs.filter(Boolean).map((i) => ranks.get(i));
    let r: number | undefined;
    if (n.opType === 'Gemm') r = 2;
    else if (SAME_RANK.has(n.opType)) r = ins[0];
    else if (BROADCAST.has(n.opType) && ins.every((x) => x !== undefined)) r = Math.max(...(ins as number[]));
    else if ((n.opType === 'MatMul' || n.opType === 'MatMulInteger') && ins[0] !== undefined && ins[1] !== undefined && ins[0] >= 2 && ins[1] >= 2) r = Math.max(ins[0], ins[1]);
    if (r !== undefined) ranks.set(out, r);
  }
  return ranks;
}
