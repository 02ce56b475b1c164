/**
 * The `autoglm optimize` pipeline on model bytes: our graph passes until nothing changes, ONNX Runtime's offline
 * optimization at a chosen level, then quantization (INT8 or FP16) and a final clean-up.
 */
import { readOnnxModel, writeOnnxModelProto } from '../onnx-proto/index.js';
import { convertFp16, DEFAULT_FP16_BLOCK, type Fp16Report } from './convert-fp16.js';
import { runPasses, type GraphPass } from './pass.js';
import { eliminateDeadCode } from './passes/eliminate-dead-code.js';
import { eliminateIdentity } from './passes/eliminate-identity.js';
import { DEFAULT_MAX_FOLDED_BYTES, foldConstants } from './passes/fold-constants.js';
import { fuseConvBatchNorm } from './passes/fuse-conv-batchnorm.js';
import { fuseMatMulAdd } from './passes/fuse-matmul-add.js';
import { ortOptimizeOffline, type OrtLevel } from './ort-offline.js';
import { DEFAULT_INT8, quantizeInt8, type Int8Options, type Int8Report } from './quantize-int8.js';

export const PASS_NAMES = ['fold-constants', 'identity', 'conv-bn', 'matmul-add', 'dead-code'] as const;
export type PassName = (typeof PASS_NAMES)[number];

export interface OptimizeOptions {
  /** Our passes to run, in PASS_NAMES order. */
  readonly passes: readonly PassName[];
  readonly ortLevel: OrtLevel | 'none';
  readonly quantize: 'none' | 'int8' | 'fp16';
  readonly int8: Int8Options;
  /** Ops kept in FLOAT by --quantize fp16. */
  readonly fp16Block: readonly string[];
  readonly maxFoldedBytes: number;
}

export const DEFAULT_OPTIMIZE: OptimizeOptions = {
  passes: PASS_NAMES, ortLevel: 'basic', quantize: 'none', int8: DEFAULT_INT8, fp16Block: DEFAULT_FP16_BLOCK,
  maxFoldedBytes: DEFAULT_MAX_FOLDED_BYTES,
};

export interface OptimizeResult {
  readonly bytes: Uint8Array;
  /** Rewrites per pass. */
  readonly passCounts: ReadonlyMap<string, number>;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  readonly int8?: Int8Report;
  readonly fp16?: Fp16Report;
}

export function graphPass(name: PassName, maxFoldedBytes = DEFAULT_MAX_FOLDED_BYTES): GraphPass {
  switch (name) {
    case 'fold-constants': return foldConstants(maxFoldedBytes);
    case 'identity': return eliminateIdentity;
    case 'conv-bn': return fuseConvBatchNorm;
    case 'matmul-add': return fuseMatMulAdd;
    case 'dead-code': return eliminateDeadCode;
  }
}

export async function optimizeModel(input: Uint8Array, o: OptimizeOptions = DEFAULT_OPTIMIZE): Promise<OptimizeResult> {
  let model = readOnnxModel(input);
  const nodesBefore = model.graph.nodes.length;
  const passCounts = await runPasses(model, PASS_NAMES.filter((p) => o.passes.includes(p)).map((p) => graphPass(p, o.maxFoldedBytes)));
  let bytes = writeOnnxModelProto(model);
  // ORT's pass runs before quantization: its fusions at 'basic' are for FLOAT graphs, and the quantized pattern
  // must reach the runtime unfused so the runtime can pick its own kernel (DynamicQuantizeMatMul) at load.
  if (o.ortLevel !== 'none') {
    bytes = await ortOptimizeOffline(bytes, o.ortLevel);
    model = readOnnxModel(bytes);
  }
  let int8: Int8Report | undefined;
  let fp16: Fp16Report | undefined;
  if (o.quantize === 'int8') int8 = quantizeInt8(model, o.int8);
  else if (o.quantize === 'fp16') fp16 = convertFp16(model, o.fp16Block);
  if (o.quantize !== 'none') {
    eliminateDeadCode.run(model);
    bytes = writeOnnxModelProto(model);
  }
  return { bytes, passCounts, nodesBefore, nodesAfter: model.graph.nodes.length, int8, fp16 };
}
