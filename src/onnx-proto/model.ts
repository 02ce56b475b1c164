/**
 * A whole ONNX model as a mutable graph: nodes, attributes, initializers and value infos parsed; every field this
 * code does not edit kept as its original bytes, so a read → write round trip keeps what it does not understand.
 * Tensor payloads are views into the source bytes (no copies) until a pass replaces them.
 */
import { readFields, utf8, type ProtoField } from './protobuf.js';
import { readValueInfo, type OnnxModelInfo, type OnnxValueInfo } from './reader.js';

/** An initializer or constant. `raw` holds numeric elements little-endian; `source` the original proto bytes. */
export interface OnnxTensor {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly number[];
  readonly raw?: Uint8Array;
  readonly strings?: readonly Uint8Array[];
  /** Data kept outside the file (external_data): this code never reads it, only keeps the reference. */
  readonly external?: boolean;
  /** The tensor's original TensorProto bytes; the writer emits them as they are when present. */
  readonly source?: Uint8Array;
  /** Payload size when the payload itself was not read (readOnnxModelHeaders). */
  readonly payloadBytes?: number;
}

export interface OnnxAttr {
  readonly name: string;
  /** AttributeProto bytes (name included). */
  readonly proto: Uint8Array;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: OnnxAttr[];
  /** doc_string, overload, metadata_props: kept as they were. */
  readonly otherFields: readonly ProtoField[];
}

export interface OnnxValue extends OnnxValueInfo {
  /** The original ValueInfoProto bytes, written back unless the value was rebuilt. */
  readonly proto?: Uint8Array;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  /** By name, in file order. */
  initializers: Map<string, OnnxTensor>;
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  valueInfo: OnnxValue[];
  readonly otherFields: readonly ProtoField[];
}

export interface OnnxModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  graph: OnnxGraph;
  /** producer, doc_string, metadata, functions, …: kept as they were. */
  readonly otherFields: readonly ProtoField[];
}

/** ONNX elements' byte sizes by TensorProto.DataType (0 where not a fixed-size numeric type). */
export const ELEM_BYTES: Readonly<Record<number, number>> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2,
};

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** Parses a ModelProto. Throws Error naming what is wrong when the bytes are not one. */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  return modelFromFields(readFields(bytes), (f) => readGraph(f.bytes));
}

/** ModelProto from its fields; `graph` parses field 7 (a streaming reader passes its own). */
export function modelFromFields<F extends ProtoField>(fields: Iterable<F>, graph: (f: F) => OnnxGraph): OnnxModel {
  let irVersion = 0;
  const opsets: { domain: string; version: number }[] = [];
  let g: OnnxGraph | undefined;
  const otherFields: ProtoField[] = [];
  for (const f of fields) {
    if (f.field === 1 && f.wire === 0) irVersion = Number(f.int);
    else if (f.field === 7 && f.wire === 2) g = graph(f);
    else if (f.field === 8 && f.wire === 2) {
      let domain = '';
      let version = 0;
      for (const o of readFields(f.bytes)) {
        if (o.field === 1 && o.wire === 2) domain = utf8(o.bytes);
        else if (o.field === 2 && o.wire === 0) version = Number(o.int);
      }
      opsets.push({ domain, version });
    } else otherFields.push(f);
  }
  if (!g || irVersion === 0) throw new Error('not an ONNX model (no graph or IR version)');
  return { irVersion, opsets, graph: g, otherFields };
}

export function readGraph(bytes: Uint8Array): OnnxGraph {
  return graphFromFields(readFields(bytes), (f) => readTensor(f.bytes));
}

/** GraphProto from its fields; `tensor` reads an initializer (a streaming reader skips payloads). */
export function graphFromFields<F extends ProtoField>(fields: Iterable<F>, tensor: (f: F) => OnnxTensor): OnnxGraph {
  const g: OnnxGraph = { name: '', nodes: [], initializers: new Map(), inputs: [], outputs: [], valueInfo: [], otherFields: [] };
  const other = g.otherFields as ProtoField[];
  for (const f of fields) {
    if (f.wire !== 2) other.push(f);
    else if (f.field === 1) g.nodes.push(readNode(f.bytes));
    else if (f.field === 2) g.name = utf8(f.bytes);
    else if (f.field === 5) {
      const t = tensor(f);
      g.initializers.set(t.name, t);
    } else if (f.field === 11) g.inputs.push({ ...readValueInfo(f.bytes), proto: f.bytes });
    else if (f.field === 12) g.outputs.push({ ...readValueInfo(f.bytes), proto: f.bytes });
    else if (f.field === 13) g.valueInfo.push({ ...readValueInfo(f.bytes), proto: f.bytes });
    else other.push(f);
  }
  return g;
}

function readNode(bytes: Uint8Array): OnnxNode {
  const n: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attrs: [], otherFields: [] };
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === 2) n.inputs.push(utf8(f.bytes));
    else if (f.field === 2 && f.wire === 2) n.outputs.push(utf8(f.bytes));
    else if (f.field === 3 && f.wire === 2) n.name = utf8(f.bytes);
    else if (f.field === 4 && f.wire === 2) n.opType = utf8(f.bytes);
    else if (f.field === 5 && f.wire === 2) n.attrs.push({ name: attrName(f.bytes), proto: f.bytes });
    else if (f.field === 7 && f.wire === 2) n.domain = utf8(f.bytes);
    else (n.otherFields as ProtoField[]).push(f);
  }
  return n;
}

function attrName(bytes: Uint8Array): string {
  for (const f of readFields(bytes)) if (f.field === 1 && f.wire === 2) return utf8(f.bytes);
  return '';
}

/** Values of repeated numeric fields, packed or not. */
function* repeated(f: ProtoField, kind: 'varint' | 'fixed32' | 'fixed64'): Generator<bigint> {
  if (f.wire !== 2) {
    yield f.int;
    return;
  }
  if (kind === 'varint') {
    // A packed run of varints is a message of field-less varints: wrap each with a fake tag by hand.
    let pos = 0;
    const b = f.bytes;
    while (pos < b.length) {
      let v = 0n;
      let shift = 0n;
      for (;;) {
        const x = b[pos++];
        v |= BigInt(x & 0x7f) << shift;
        if ((x & 0x80) === 0) break;
        shift += 7n;
      }
      yield v;
    }
    return;
  }
  const width = kind === 'fixed32' ? 4 : 8;
  const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  for (let o = 0; o + width <= f.bytes.byteLength; o += width) {
    yield width === 4 ? BigInt(view.getUint32(o, true)) : view.getBigUint64(o, true);
  }
}

/**
 * Reads a TensorProto. Typed data fields (float_data, int32_data, …) are converted to little-endian raw bytes so
 * every numeric tensor has `raw`; external data is marked, not read.
 */
export function readTensor(bytes: Uint8Array): OnnxTensor {
  let name = '';
  let elemType = 0;
  const dims: number[] = [];
  let raw: Uint8Array | undefined;
  const strings: Uint8Array[] = [];
  let external = false;
  const typed: { field: number; values: bigint[] } = { field: 0, values: [] };
  for (const f of readFields(bytes)) {
    if (f.field === 1) for (const d of repeated(f, 'varint')) dims.push(Number(BigInt.asIntN(64, d)));
    else if (f.field === 2 && f.wire === 0) elemType = Number(f.int);
    else if (f.field === 8 && f.wire === 2) name = utf8(f.bytes);
    else if (f.field === 9 && f.wire === 2) raw = f.bytes;
    else if (f.field === 6 && f.wire === 2) strings.push(f.bytes);
    else if (f.field === 14 && f.wire === 0) external = f.int === 1n;
    else if (f.field === 4 || f.field === 5 || f.field === 7 || f.field === 10 || f.field === 11) {
      const kind = f.field === 4 ? 'fixed32' : f.field === 10 ? 'fixed64' : 'varint';
      typed.field = f.field;
      for (const v of repeated(f, kind)) typed.values.push(v);
    }
  }
  if (!raw && typed.field !== 0) raw = typedToRaw(elemType, typed.field, typed.values);
  if (!raw && !external && elemType !== 8 && ELEM_BYTES[elemType] && elementCount(dims) === 0) raw = new Uint8Array(0);
  return { name, elemType, dims, raw, strings: elemType === 8 ? strings : undefined, external, source: bytes };
}

function typedToRaw(elemType: number, field: number, values: bigint[]): Uint8Array {
  const size = ELEM_BYTES[elemType] ?? 0;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const o = i * size;
    if (field === 4) view.setUint32(o, Number(v), true); // float bits
    else if (field === 10) view.setBigUint64(o, v, true); // double bits
    else if (size === 8) view.setBigUint64(o, BigInt.asUintN(64, v), true);
    else if (size === 4) view.setUint32(o, Number(BigInt.asUintN(32, v)), true);
    else if (size === 2) view.setUint16(o, Number(BigInt.asUintN(16, v)), true);
    else out[o] = Number(BigInt.asUintN(8, v));
  });
  return out;
}

/** An attribute's value, decoded on demand. */
export interface AttrValue {
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats: number[];
  ints: number[];
  /** Subgraphs (If/Loop/Scan bodies). */
  graphs: Uint8Array[];
}

export function readAttr(a: OnnxAttr): AttrValue {
  const v: AttrValue = { floats: [], ints: [], graphs: [] };
  for (const f of readFields(a.proto)) {
    if (f.field === 2 && f.wire === 5) v.f = new DataView(new Uint32Array([Number(f.int)]).buffer).getFloat32(0, true);
    else if (f.field === 3 && f.wire === 0) v.i = Number(BigInt.asIntN(64, f.int));
    else if (f.field === 4 && f.wire === 2) v.s = f.bytes;
    else if (f.field === 5 && f.wire === 2) v.t = readTensor(f.bytes);
    else if ((f.field === 6 || f.field === 11) && f.wire === 2) v.graphs.push(f.bytes);
    else if (f.field === 7) for (const x of repeated(f, 'fixed32')) v.floats.push(new DataView(new Uint32Array([Number(x)]).buffer).getFloat32(0, true));
    else if (f.field === 8) for (const x of repeated(f, 'varint')) v.ints.push(Number(BigInt.asIntN(64, x)));
  }
  return v;
}

/** The signature readOnnxModelInfo gives, from a parsed model. */
export function modelInfo(m: OnnxModel): OnnxModelInfo {
  const producer = m.otherFields.find((f) => f.field === 2 && f.wire === 2);
  const inits = m.graph.initializers;
  const plain = (v: OnnxValue): OnnxValueInfo => ({ name: v.name, elemType: v.elemType, dims: v.dims });
  return {
    irVersion: m.irVersion, producer: producer ? utf8(producer.bytes) : '', opsets: m.opsets,
    inputs: m.graph.inputs.filter((i) => !inits.has(i.name)).map(plain), outputs: m.graph.outputs.map(plain),
  };
}
