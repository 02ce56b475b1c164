/**
 * Constant folding: every node whose inputs are all constants (and which is deterministic and has no subgraph) is
 * computed once, by ONNX Runtime itself on a model made of just those nodes, and replaced by initializers. Values
 * larger than `maxFoldedBytes` stay computed at run time (folding them would only grow the file).
 */
import * as ort from 'onnxruntime-node';
import { writeOnnxModelProto, type OnnxModel, type OnnxNode, type OnnxTensor } from '../../onnx-proto/index.js';
import { constantOf, hasSubgraph, indexGraph, isDefaultDomain } from '../graph-index.js';
import { tensorFromOrt } from '../ort-tensors.js';
import type { GraphPass } from '../pass.js';

const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);
/** Default bound on one folded value (a ConstantOfShape/Tile/Expand can make a small model large). */
export const DEFAULT_MAX_FOLDED_BYTES = 16 * 1024 * 1024;

export function foldConstants(maxFoldedBytes = DEFAULT_MAX_FOLDED_BYTES): GraphPass {
  return {
    name: 'fold-constants',
    async run(model: OnnxModel): Promise<number> {
      const g = model.graph;
      const idx = indexGraph(g);
      const excluded = new Set<OnnxNode>();
      for (;;) {
        const constant = new Set<string>();
        for (const name of g.initializers.keys()) if (constantOf(g, name)) constant.add(name);
        const folded: OnnxNode[] = [];
        for (const n of g.nodes) {
          if (excluded.has(n) || !isDefaultDomain(n) || NONDETERMINISTIC.has(n.opType) || hasSubgraph(n)) continue;
          if (!n.inputs.every((i) => i === '' || constant.has(i))) continue;
          if (n.outputs.some((o) => idx.graphOutputs.has(o))) continue;
          folded.push(n);
          for (const o of n.outputs) if (o) constant.add(o);
        }
        if (folded.length === 0) return 0;
        const foldedSet = new Set(folded);
        // The folded values something else still reads (unread extra outputs simply disappear).
        const wanted = [...new Set(folded.flatMap((n) => n.outputs.filter((o) => o && (
          idx.consumers.get(o)?.some((c) => !foldedSet.has(c)) || idx.subgraphUses.has(o)))))];
        const values = wanted.length ? await evaluate(model, folded, wanted) : new Map<string, OnnxTensor>();
        const tooBig = [...values.values()].filter((t) => (t.raw?.byteLength ?? 0) > maxFoldedBytes);
        if (tooBig.length) {
          for (const t of tooBig) excluded.add(idx.producer.get(t.name)!);
          continue;
        }
        g.nodes = g.nodes.filter((n) => !foldedSet.has(n));
        for (const t of values.values()) g.initializers.set(t.name, t);
        const gone = new Set(folded.flatMap((n) => n.outputs));
        g.valueInfo = g.valueInfo.filter((v) => !gone.has(v.name) || values.has(v.name));
        return folded.length;
      }
    },
  };
}

/** Runs `nodes` (constants only) in ONNX Runtime and returns the `wanted` values. */
async function evaluate(model: OnnxModel, nodes: readonly OnnxNode[], wanted: readonly string[]): Promise<Map<string, OnnxTensor>> {
  const reads = new Set(nodes.flatMap((n) => n.inputs));
  const initializers = new Map([...model.graph.initializers].filter(([name]) => reads.has(name)));
  const bytes = writeOnnxModelProto({
    irVersion: Math.max(model.irVersion, 4),
    opsets: model.opsets,
    otherFields: [],
    graph: {
      name: 'fold', nodes: [...nodes], initializers, inputs: [], valueInfo: [], otherFields: [],
      outputs: wanted.map((name) => ({ name, elemType: 0, dims: undefined })),
    },
  });
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  try {
    const out = await session.run({});
    return new Map(wanted.map((name) => [name, tensorFromOrt(name, out[name])]));
  } finally {
    await session.release();
  }
}
