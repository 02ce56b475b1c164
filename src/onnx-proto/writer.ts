import { ProtoWriter } from './protobuf.js';

/**
 * Builds ONNX model bytes from a plain description: used to generate the example repository, test models and
 * benchmark models without Python. Covers what those need (tensors, attributes, value infos), not all of ONNX.
 */

export interface OnnxTensorValue {
  readonly name: string;
  /** TensorProto.DataType (FLOAT=1, INT64=7, STRING=8, …). */
  readonly elemType: number;
  readonly dims: readonly number[];
  /** Little-endian element bytes (numeric types). */
  readonly raw?: Uint8Array;
  /** Elements of a STRING tensor. */
  readonly strings?: readonly string[];
}

export type OnnxAttribute =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly t: OnnxTensorValue };

export interface OnnxNodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxValueSpec {
  readonly name: string;
  readonly elemType: number;
  /** A string is a symbolic (dynamic) dimension. */
  readonly dims: readonly (number | string)[];
}

export interface OnnxGraphSpec {
  readonly name: string;
  readonly nodes: readonly OnnxNodeSpec[];
  readonly inputs: readonly OnnxValueSpec[];
  readonly outputs: readonly OnnxValueSpec[];
  readonly initializers?: readonly OnnxTensorValue[];
  /** Default opset 17. */
  readonly opset?: number;
  readonly irVersion?: number;
}

export function tensorProto(t: OnnxTensorValue): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.elemType);
  if (t.strings) for (const s of t.strings) w.string(6, s);
  w.string(8, t.name);
  if (t.raw) w.bytes(9, t.raw);
  return w;
}

export function attributeProto(name: string, a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in a) w.int(3, a.i).int(20, 2);
  else if ('f' in a) w.float(2, a.f).int(20, 1);
  else if ('s' in a) w.string(4, a.s).int(20, 3);
  else if ('t' in a) w.message(5, tensorProto(a.t)).int(20, 4);
  else if ('floats' in a) {
    for (const f of a.floats) w.float(7, f);
    w.int(20, 6);
  } else {
    for (const i of a.ints) w.int(8, i);
    w.int(20, 7);
  }
  return w;
}

export function valueInfo(v: OnnxValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, v.elemType).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, v.name).message(2, type);
}

/** One NodeProto; `defaultName` when the spec names none. */
export function nodeProto(n: OnnxNodeSpec, defaultName: string): ProtoWriter {
  const node = new ProtoWriter();
  for (const i of n.inputs) node.string(1, i);
  for (const o of n.outputs) node.string(2, o);
  node.string(3, n.name ?? defaultName);
  node.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs ?? {})) node.message(5, attributeProto(k, a));
  if (n.domain) node.string(7, n.domain);
  return node;
}

export function writeOnnxModel(g: OnnxGraphSpec): Uint8Array {
  const graph = new ProtoWriter();
  g.nodes.forEach((n, idx) => graph.message(1, nodeProto(n, `${n.op}_${idx}`)));
  graph.string(2, g.name);
  for (const t of g.initializers ?? []) graph.message(5, tensorProto(t));
  for (const i of g.inputs) graph.message(11, valueInfo(i));
  for (const o of g.outputs) graph.message(12, valueInfo(o));
  const opset = new ProtoWriter().string(1, '').int(2, g.opset ?? 17);
  return new ProtoWriter()
    .int(1, g.irVersion ?? 8)
    .string(2, 'open-autoglm')
    .message(7, graph)
    .message(8, opset)
    .finish();
}

/** Float32 values as raw little-endian bytes for an initializer. */
export function f32Raw(values: ArrayLike<number>): Uint8Array {
  const a = Float32Array.from(values);
  return new Uint8Array(a.buffer);
}

export const ONNX = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10,
  DOUBLE: 11, UINT32: 12, UINT64: 13,
} as const;
