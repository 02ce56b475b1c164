/**
 * Every value's element type, from the declared ones (inputs, outputs, value infos, initializers) forward through
 * each op's typing rule. Types only, not shapes: enough for FP16 conversion to know which values are FLOAT.
 */
import { ONNX, type OnnxGraph, type OnnxNode } from '../onnx-proto/index.js';
import { attr } from './graph-index.js';

const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'NonMaxSuppression']);

/** Output types of one node, or undefined where its rule is not known here. */
function outputTypes(n: OnnxNode, typeOf: (name: string) => number | undefined): (number | undefined)[] {
  const first = typeOf(n.inputs[0]);
  const all = (t: number | undefined) => n.outputs.map(() => t);
  if (n.domain !== '' && n.domain !== 'ai.onnx') {
    if (n.domain === 'com.microsoft' && (n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat')) return [ONNX.FLOAT];
    return all(undefined);
  }
  switch (n.opType) {
    case 'Cast': return [attr(n, 'to')?.i];
    case 'CastLike': return [typeOf(n.inputs[1])];
    case 'Constant': return [attr(n, 'value')?.t?.elemType ?? (attr(n, 'value_float') || attr(n, 'value_floats') ? ONNX.FLOAT : attr(n, 'value_int') || attr(n, 'value_ints') ? ONNX.INT64 : undefined)];
    case 'ConstantOfShape': return [attr(n, 'value')?.t?.elemType ?? ONNX.FLOAT];
    case 'RandomNormal': case 'RandomUniform': return [attr(n, 'dtype')?.i ?? ONNX.FLOAT];
    case 'RandomNormalLike': case 'RandomUniformLike': case 'EyeLike': return [attr(n, 'dtype')?.i ?? first];
    case 'Multinomial': return [attr(n, 'dtype')?.i ?? ONNX.INT32];
    case 'Where': return [typeOf(n.inputs[1])];
    case 'TopK': return [first, ONNX.INT64];
    case 'Unique': return [first, ONNX.INT64, ONNX.INT64, ONNX.INT64];
    case 'MaxPool': return [first, ONNX.INT64];
    case 'DynamicQuantizeLinear': return [ONNX.UINT8, ONNX.FLOAT, ONNX.UINT8];
    case 'QuantizeLinear': return [typeOf(n.inputs[2]) ?? ONNX.UINT8];
    case 'DequantizeLinear': return [ONNX.FLOAT];
    case 'MatMulInteger': case 'ConvInteger': return [ONNX.INT32];
    case 'If': case 'Loop': case 'Scan': case 'SequenceConstruct': case 'SplitToSequence': return all(undefined);
    default:
      if (BOOL_OPS.has(n.opType)) return all(ONNX.BOOL);
      if (INT64_OPS.has(n.opType)) return all(ONNX.INT64);
      // Elementwise, shape-moving and normalizing ops keep their data input's type (extra outputs too: e.g.
      // BatchNormalization's running statistics, Dropout's mask is BOOL but only in training).
      return n.opType === 'Dropout' ? [first, ONNX.BOOL] : all(first);
  }
}

export function elementTypes(g: OnnxGraph): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) if (v.elemType) types.set(v.name, v.elemType);
  for (const t of g.initializers.values()) types.set(t.name, t.elemType);
  const typeOf = (name: string) => types.get(name);
  for (const n of g.nodes) {
    outputTypes(n, typeOf).forEach((t, i) => {
      const o = n.outputs[i];
      if (o && t !== undefined && !types.has(o)) types.set(o, t);
    });
  }
  return types;
}
