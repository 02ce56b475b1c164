/**
 * Identity/no-op removal: Identity, and Dropout whose mask is unread and that is not in training mode (at
 * inference Dropout passes its input through). Readers of the output read the input instead; when the output is a
 * graph output, the producer of the input is renamed to write it directly.
 */
import type { OnnxModel, OnnxNode } from '../../onnx-proto/index.js';
import { constantOf, indexGraph, isDefaultDomain, replaceUses } from '../graph-index.js';
import type { GraphPass } from '../pass.js';

function isNoOp(model: OnnxModel, n: OnnxNode, readers: (name: string) => boolean): boolean {
  if (!isDefaultDomain(n)) return false;
  if (n.opType === 'Identity') return n.inputs.length === 1 && n.outputs.length === 1;
  if (n.opType !== 'Dropout') return false;
  if (n.outputs.length > 1 && n.outputs[1] && readers(n.outputs[1])) return false;
  const training = n.inputs[2];
  if (!training) return true;
  const t = constantOf(model.graph, training);
  return t?.raw !== undefined && t.raw.length === 1 && t.raw[0] === 0;
}

export const eliminateIdentity: GraphPass = {
  name: 'identity',
  run(model: OnnxModel): number {
    const g = model.graph;
    let changes = 0;
    for (const n of g.nodes.filter((x) => x.opType === 'Identity' || x.opType === 'Dropout')) {
      const idx = indexGraph(g);
      const read = (name: string) => (idx.consumers.get(name)?.length ?? 0) > 0 || idx.subgraphUses.has(name) || idx.graphOutputs.has(name);
      if (!isNoOp(model, n, read)) continue;
      const x = n.inputs[0];
      const y = n.outputs[0];
      if (!x || idx.subgraphUses.has(y)) continue;
      if (!idx.graphOutputs.has(y)) {
        replaceUses(g, y, x);
      } else {
        // y must keep its name: give it to x's producer instead, when x is an ordinary intermediate value.
        const p = idx.producer.get(x);
        if (!p || idx.graphOutputs.has(x) || idx.graphInputs.has(x) || idx.subgraphUses.has(x)) continue;
        p.outputs = p.outputs.map((o) => (o === x ? y : o));
        replaceUses(g, x, y);
        g.valueInfo = g.valueInfo.filter((v) => v.name !== x);
      }
      g.nodes.splice(g.nodes.indexOf(n), 1);
      g.valueInfo = g.valueInfo.filter((v) => v.name !== y || idx.graphOutputs.has(y));
      changes++;
    }
    return changes;
  },
};
