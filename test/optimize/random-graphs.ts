/**
 * Generated ONNX graphs for the pass suite: a chain of blocks, each of which gives some pass something to do
 * (no-ops, constant subexpressions, dead branches, Conv+BN, MatMul+Add), over a dynamic batch.
 */
import { writeOnnxModel, ONNX, f32Raw, type OnnxNodeSpec, type OnnxTensorValue } from '../../src/onnx-proto/index.js';
import { seededFloats } from '../fixtures/models.js';

export const DENSE_BLOCKS = ['identity', 'dropout', 'relu', 'matmul-add', 'gemm-add', 'bias-add', 'const-expr', 'dead-branch', 'constant-node', 'identity-out'] as const;
export const CONV_BLOCKS = ['conv-bn', 'conv-bn-nobias', 'conv-bn-group', 'conv', 'identity', 'relu', 'dead-branch', 'const-expr'] as const;
export type DenseBlock = (typeof DENSE_BLOCKS)[number];
export type ConvBlock = (typeof CONV_BLOCKS)[number];

export const DENSE_WIDTH = 8;
export const CHANNELS = 4;
export const SPATIAL = 6;

class Builder {
  readonly nodes: OnnxNodeSpec[] = [];
  readonly inits: OnnxTensorValue[] = [];
  private n = 0;
  constructor(private seed: number) {}
  name(base: string): string {
    return `${base}${this.n++}`;
  }
  floats(dims: number[], scale = 0.5, positive = false): string {
    const name = this.name('c');
    const count = dims.reduce((a, b) => a * b, 1);
    const v = seededFloats(count, this.seed++, scale);
    if (positive) for (let i = 0; i < v.length; i++) v[i] = Math.abs(v[i]) + 0.5;
    this.inits.push({ name, elemType: ONNX.FLOAT, dims, raw: f32Raw(v) });
    return name;
  }
  node(op: string, inputs: string[], attrs?: OnnxNodeSpec['attrs'], outputs = [this.name('v')]): string {
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs[0];
  }
}

/** Blocks shared by both kinds; `shapeOf` is the value's shape without the batch dimension. */
function common(b: Builder, block: DenseBlock | ConvBlock, x: string, shape: number[]): string | undefined {
  switch (block) {
    case 'identity': return b.node('Identity', [x]);
    case 'dropout': return b.node('Dropout', [x]);
    case 'relu': return b.node('Relu', [x]);
    case 'const-expr': {
      // (Transpose(A) · 2) + B: all constant, folded to one initializer.
      const a = b.floats([...shape].reverse());
      const perm = shape.map((_, i) => shape.length - 1 - i);
      const t = b.node('Transpose', [a], { perm: { ints: perm } });
      const two = b.floats([1]);
      const m = b.node('Mul', [t, two]);
      const s = b.node('Add', [m, b.floats(shape)]);
      return b.node('Add', [x, s]);
    }
    case 'dead-branch': {
      b.node('Sigmoid', [b.node('Mul', [x, b.floats(shape)])]);
      b.floats([3, 3]); // an initializer nothing reads
      return x;
    }
    default: return undefined;
  }
}

export function denseGraph(blocks: readonly DenseBlock[], seed: number): Uint8Array {
  const b = new Builder(seed);
  const w = DENSE_WIDTH;
  let x = 'x';
  let outputNamed = false;
  for (const [i, block] of blocks.entries()) {
    if (block === 'identity-out' && i !== blocks.length - 1) continue;
    const shared = common(b, block, x, [w]);
    if (shared) {
      x = shared;
      continue;
    }
    switch (block) {
      case 'matmul-add': x = b.node('Add', [b.node('MatMul', [x, b.floats([w, w])]), b.floats([w])]); break;
      case 'gemm-add': x = b.node('Add', [b.floats([1, w]), b.node('Gemm', [x, b.floats([w, w])], { transB: { i: 1 }, alpha: { f: 0.5 } })]); break;
      case 'bias-add': x = b.node('Add', [x, b.floats([w])]); break;
      case 'constant-node': {
        const c = b.node('Constant', [], { value: { t: { name: '', elemType: ONNX.FLOAT, dims: [w], raw: f32Raw(seededFloats(w, 99)) } } });
        x = b.node('Mul', [x, b.node('Neg', [c])]);
        break;
      }
      case 'identity-out':
        // An Identity that writes the graph output: must keep the output's name.
        if (!outputNamed) {
          x = b.node('Identity', [b.node('Tanh', [x])], undefined, ['y']);
          outputNamed = true;
        }
        break;
    }
  }
  if (!outputNamed) b.node('Identity', [x], undefined, ['y']);
  return writeOnnxModel({
    name: 'dense', nodes: b.nodes, initializers: b.inits, opset: 17,
    inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', w] }],
    outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', w] }],
  });
}

export function convGraph(blocks: readonly ConvBlock[], seed: number): Uint8Array {
  const b = new Builder(seed);
  const c = CHANNELS;
  const shape = [c, SPATIAL, SPATIAL];
  let x = 'x';
  for (const block of blocks) {
    const shared = common(b, block, x, shape);
    if (shared) {
      x = shared;
      continue;
    }
    const group = block === 'conv-bn-group' ? 2 : 1;
    const conv = (bias: boolean) => b.node('Conv', bias ? [x, b.floats([c, c / group, 3, 3]), b.floats([c])] : [x, b.floats([c, c / group, 3, 3])],
      { pads: { ints: [1, 1, 1, 1] }, group: { i: group } });
    if (block === 'conv') x = conv(true);
    else {
      const y = conv(block !== 'conv-bn-nobias');
      x = b.node('BatchNormalization', [y, b.floats([c], 1, true), b.floats([c]), b.floats([c]), b.floats([c], 1, true)], { epsilon: { f: 1e-3 } });
    }
  }
  b.node('Identity', [x], undefined, ['y']);
  return writeOnnxModel({
    name: 'conv', nodes: b.nodes, initializers: b.inits, opset: 17,
    inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', ...shape] }],
    outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', ...shape] }],
  });
}
