/** Lookups over an OnnxGraph that passes share: who produces and consumes each value, what is constant. */
import { readAttr, readGraph, type OnnxAttr, type OnnxGraph, type OnnxNode, type OnnxTensor } from '../onnx-proto/index.js';
import { attributeProto, type OnnxAttribute } from '../onnx-proto/writer.js';

export interface GraphIndex {
  readonly producer: ReadonlyMap<string, OnnxNode>;
  readonly consumers: ReadonlyMap<string, readonly OnnxNode[]>;
  /** Values read inside a node's subgraphs (If/Loop/Scan bodies) from the outer scope. */
  readonly subgraphUses: ReadonlySet<string>;
  readonly graphOutputs: ReadonlySet<string>;
  readonly graphInputs: ReadonlySet<string>;
}

export function indexGraph(g: OnnxGraph): GraphIndex {
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  const subgraphUses = new Set<string>();
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) producer.set(o, n);
    for (const i of n.inputs) {
      if (!i) continue;
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
    for (const name of namesUsedInSubgraphs(n)) subgraphUses.add(name);
  }
  return {
    producer, consumers, subgraphUses,
    graphOutputs: new Set(g.outputs.map((o) => o.name)),
    graphInputs: new Set(g.inputs.map((i) => i.name)),
  };
}

/** Every name a node's subgraphs read (an over-approximation: their own inner names too, which is safe for liveness). */
export function namesUsedInSubgraphs(n: OnnxNode): string[] {
  const out: string[] = [];
  for (const a of n.attrs) {
    const v = readAttr(a);
    for (const bytes of v.graphs) {
      const sub = readGraph(bytes);
      for (const sn of sub.nodes) {
        out.push(...sn.inputs.filter(Boolean));
        out.push(...namesUsedInSubgraphs(sn));
      }
      out.push(...sub.outputs.map((o) => o.name));
    }
  }
  return out;
}

export function hasSubgraph(n: OnnxNode): boolean {
  return n.attrs.some((a) => readAttr(a).graphs.length > 0);
}

/** An initializer that is not also a graph input (a graph input may be overridden at run time, so is not constant). */
export function constantOf(g: OnnxGraph, name: string): OnnxTensor | undefined {
  const t = g.initializers.get(name);
  if (!t || t.external) return undefined;
  if (g.inputs.some((i) => i.name === name)) return undefined;
  return t;
}

/** Initializers and Constant nodes' tensors by value name: every value fixed before the model runs. */
export function constantTensors(g: OnnxGraph): Map<string, OnnxTensor> {
  const out = new Map<string, OnnxTensor>();
  for (const name of g.initializers.keys()) {
    const t = constantOf(g, name);
    if (t) out.set(name, t);
  }
  for (const n of g.nodes) {
    const t = n.opType === 'Constant' && isDefaultDomain(n) ? attr(n, 'value')?.t : undefined;
    if (t && n.outputs[0]) out.set(n.outputs[0], t);
  }
  return out;
}

export function attr(n: OnnxNode, name: string) {
  const a = n.attrs.find((x) => x.name === name);
  return a ? readAttr(a) : undefined;
}

export function makeAttr(name: string, value: OnnxAttribute): OnnxAttr {
  return { name, proto: attributeProto(name, value).finish() };
}

/** A value name not used in the graph yet, based on `base`. */
export function freshName(g: OnnxGraph, base: string, taken: Set<string> = allNames(g)): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

export function allNames(g: OnnxGraph): Set<string> {
  const s = new Set<string>(g.initializers.keys());
  for (const v of g.inputs) s.add(v.name);
  for (const v of g.outputs) s.add(v.name);
  for (const n of g.nodes) {
    for (const x of n.inputs) s.add(x);
    for (const x of n.outputs) s.add(x);
  }
  return s;
}

/** Replaces every read of `from` by `to` (node inputs only). */
export function replaceUses(g: OnnxGraph, from: string, to: string): void {
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
}

/** The ONNX default domain (empty or "ai.onnx"). */
export function isDefaultDomain(n: OnnxNode): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}
