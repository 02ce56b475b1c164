/** Writes an OnnxModel (see model.ts) back to ModelProto bytes; untouched parts are emitted as they were read. */
import { ProtoWriter } from './protobuf.js';
import { tensorProto, valueInfo } from './writer.js';
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValue } from './model.js';

function writeTensor(t: OnnxTensor): ProtoWriter {
  if (t.strings) {
    const w = new ProtoWriter();
    for (const d of t.dims) w.int(1, d);
    w.int(2, t.elemType);
    for (const s of t.strings) w.bytes(6, s);
    return w.string(8, t.name);
  }
  return tensorProto({ name: t.name, elemType: t.elemType, dims: t.dims, raw: t.raw });
}

/** A TensorProto's bytes (used for Constant attributes and single-node models). */
export function tensorBytes(t: OnnxTensor): Uint8Array {
  return t.source ?? writeTensor(t).finish();
}

function writeValue(v: OnnxValue): Uint8Array {
  if (v.proto) return v.proto;
  if (v.dims === undefined || v.elemType === 0) {
    // Type unknown: a name alone is a valid ValueInfoProto (the runtime infers the rest).
    return new ProtoWriter().string(1, v.name).finish();
  }
  return valueInfo({ name: v.name, elemType: v.elemType, dims: v.dims.map((d, i) => d ?? `${v.name}_dim${i}`) }).finish();
}

function writeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attrs) w.bytes(5, a.proto);
  if (n.domain) w.string(7, n.domain);
  for (const f of n.otherFields) w.field(f);
  return w;
}

export function writeGraph(g: OnnxGraph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, writeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers.values()) w.bytes(5, tensorBytes(t));
  for (const v of g.inputs) w.bytes(11, writeValue(v));
  for (const v of g.outputs) w.bytes(12, writeValue(v));
  for (const v of g.valueInfo) w.bytes(13, writeValue(v));
  for (const f of g.otherFields) w.field(f);
  return w;
}

export function writeOnnxModelProto(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter().int(1, m.irVersion);
  for (const f of m.otherFields) w.field(f);
  w.message(7, writeGraph(m.graph));
  for (const o of m.opsets) w.message(8, new ProtoWriter().string(1, o.domain).int(2, o.version));
  return w.finish();
}
