/**
 * Dead-node and unused-initializer elimination: keeps the nodes some graph output depends on (through node inputs
 * and subgraph reads), the initializers those nodes read, and value infos of values that still exist.
 */
import type { OnnxModel } from '../../onnx-proto/index.js';
import { namesUsedInSubgraphs } from '../graph-index.js';
import type { GraphPass } from '../pass.js';

export const eliminateDeadCode: GraphPass = {
  name: 'dead-code',
  run(model: OnnxModel): number {
    const g = model.graph;
    const live = new Set(g.outputs.map((o) => o.name));
    const keep = new Array<boolean>(g.nodes.length).fill(false);
    // Nodes are in topological order (ONNX requires it), so one backward sweep finds every live node.
    for (let i = g.nodes.length - 1; i >= 0; i--) {
      const n = g.nodes[i];
      if (!n.outputs.some((o) => o && live.has(o))) continue;
      keep[i] = true;
      for (const x of n.inputs) if (x) live.add(x);
      for (const x of namesUsedInSubgraphs(n)) live.add(x);
    }
    const before = g.nodes.length + g.initializers.size;
    g.nodes = g.nodes.filter((_, i) => keep[i]);
    const removed = new Set<string>();
    for (const name of [...g.initializers.keys()]) {
      if (live.has(name)) continue;
      g.initializers.delete(name);
      removed.add(name);
    }
    // An initializer also listed as a graph input (IR < 4 style) takes its input entry with it.
    g.inputs = g.inputs.filter((i) => !removed.has(i.name));
    const produced = new Set(g.nodes.flatMap((n) => n.outputs));
    g.valueInfo = g.valueInfo.filter((v) => produced.has(v.name));
    return before - (g.nodes.length + g.initializers.size);
  },
};
