/**
 * MatMul + Add → Gemm, and Gemm (no C) + Add → Gemm with C: when the MatMul's A is 2-D (Gemm's domain), its B a
 * constant 2-D matrix [K, N], and the Add's other operand a constant bias of shape [N] or [1, N].
 */
import { ONNX, type OnnxModel, type OnnxNode } from '../../onnx-proto/index.js';
import { attr, constantOf, indexGraph, isDefaultDomain } from '../graph-index.js';
import { knownRanks } from '../ranks.js';
import type { GraphPass } from '../pass.js';
import { replaceOutput } from './fuse-conv-batchnorm.js';

export const fuseMatMulAdd: GraphPass = {
  name: 'matmul-add',
  run(model: OnnxModel): number {
    const g = model.graph;
    let changes = 0;
    for (const add of g.nodes.filter((n) => n.opType === 'Add' && isDefaultDomain(n))) {
      const idx = indexGraph(g);
      const ranks = knownRanks(g);
      for (const side of [0, 1]) {
        const mm = idx.producer.get(add.inputs[side]);
        const bias = constantOf(g, add.inputs[1 - side]);
        if (!mm || !bias || bias.elemType !== ONNX.FLOAT || !isDefaultDomain(mm)) continue;
        if (!canFuse(mm, ranks)) continue;
        const w = constantOf(g, mm.inputs[1]);
        if (!w || w.dims.length !== 2) continue;
        const n = mm.opType === 'Gemm' && (attr(mm, 'transB')?.i ?? 0) === 1 ? w.dims[0] : w.dims[1];
        const biasOk = (bias.dims.length === 1 && bias.dims[0] === n) || (bias.dims.length === 2 && bias.dims[0] === 1 && bias.dims[1] === n);
        const out = mm.outputs[0];
        if (!biasOk || idx.consumers.get(out)?.length !== 1 || idx.graphOutputs.has(out) || idx.subgraphUses.has(out)) continue;
        mm.opType = 'Gemm';
        mm.inputs = [mm.inputs[0], mm.inputs[1], bias.name];
        replaceOutput(g.nodes, mm, add);
        changes++;
        break;
      }
    }
    return changes;
  },
};

function canFuse(n: OnnxNode, ranks: ReadonlyMap<string, number>): boolean {
  if (n.opType === 'MatMul') return ranks.get(n.inputs[0]) === 2;
  // A Gemm without C, at the default beta (an explicit beta would scale the bias).
  return n.opType === 'Gemm' && n.inputs.length === 2 && attr(n, 'beta') === undefined;
}
