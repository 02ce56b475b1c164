/**
 * Conv + BatchNormalization folding: at inference BN is y = s·(x − mean) + bias with s = scale/√(var + ε) per
 * channel, so a Conv whose only reader is that BN can take it into its weights: W'[c] = s[c]·W[c],
 * B'[c] = s[c]·(B[c] − mean[c]) + bias[c]. FLOAT only; BN in training mode or with its extra outputs read is left.
 */
import type { OnnxModel, OnnxNode } from '../../onnx-proto/index.js';
import { attr, constantOf, freshName, indexGraph, isDefaultDomain } from '../graph-index.js';
import { floatTensor, floatsOf } from '../tensor-data.js';
import type { GraphPass } from '../pass.js';
import { ONNX } from '../../onnx-proto/index.js';

export const fuseConvBatchNorm: GraphPass = {
  name: 'conv-bn',
  run(model: OnnxModel): number {
    const g = model.graph;
    let changes = 0;
    for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization' && isDefaultDomain(n))) {
      const idx = indexGraph(g);
      const conv = idx.producer.get(bn.inputs[0]);
      if (!conv || conv.opType !== 'Conv' || !isDefaultDomain(conv)) continue;
      if ((idx.consumers.get(conv.outputs[0])?.length ?? 0) !== 1 || idx.graphOutputs.has(conv.outputs[0]) || idx.subgraphUses.has(conv.outputs[0])) continue;
      if (bn.outputs.slice(1).some((o) => o) || (attr(bn, 'training_mode')?.i ?? 0) !== 0) continue;
      const w = constantOf(g, conv.inputs[1]);
      const b = conv.inputs[2] ? constantOf(g, conv.inputs[2]) : undefined;
      const params = bn.inputs.slice(1, 5).map((n) => constantOf(g, n));
      if (!w || w.elemType !== ONNX.FLOAT || (conv.inputs[2] && (!b || b.elemType !== ONNX.FLOAT))) continue;
      if (params.some((p) => !p || p.elemType !== ONNX.FLOAT)) continue;
      const [scale, bias, mean, variance] = params.map((p) => floatsOf(p!));
      const channels = w.dims[0];
      if ([scale, bias, mean, variance].some((p) => p.length !== channels)) continue;
      const eps = attr(bn, 'epsilon')?.f ?? 1e-5;
      const weights = floatsOf(w);
      const per = weights.length / channels;
      const oldBias = b ? floatsOf(b) : new Float32Array(channels);
      const newBias = new Float32Array(channels);
      for (let c = 0; c < channels; c++) {
        const s = scale[c] / Math.sqrt(variance[c] + eps);
        for (let k = c * per; k < (c + 1) * per; k++) weights[k] *= s;
        newBias[c] = s * (oldBias[c] - mean[c]) + bias[c];
      }
      const wName = freshName(g, `${w.name}_bn`);
      const bName = freshName(g, `${conv.name || conv.outputs[0]}_bias_bn`);
      g.initializers.set(wName, floatTensor(wName, w.dims, weights));
      g.initializers.set(bName, floatTensor(bName, [channels], newBias));
      conv.inputs = [conv.inputs[0], wName, bName];
      replaceOutput(g.nodes, conv, bn);
      changes++;
    }
    return changes;
  },
};

/** `first` now writes `second`'s output; `second` is removed. */
export function replaceOutput(nodes: OnnxNode[], first: OnnxNode, second: OnnxNode): void {
  first.outputs = [second.outputs[0]];
  nodes.splice(nodes.indexOf(second), 1);
}
