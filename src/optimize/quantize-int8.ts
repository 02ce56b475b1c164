/**
 * Dynamic INT8 quantization of MatMul/Gemm weights, in the pattern ONNX Runtime recognises:
 *
 *   A ─ DynamicQuantizeLinear ─┬ A_q (uint8) ─┐
 *                              ├ A_zp ────────┼ MatMulInteger(A_q, W_q, A_zp, W_zp) ─ Cast(FLOAT) ─ Mul ─ [Add bias]
 *                              └ A_scale ─ Mul(A_scale, W_scale) ─────────────────────────────────┘
 *
 * ONNX Runtime fuses this at load (extended level and up) into DynamicQuantizeMatMul (MatMulIntegerToFloat with
 * the quantization of A), so the file stays standard ONNX and the runtime still gets its fused kernel.
 * Weights are symmetric int8 (zero point 0), per output column where the columns' ranges differ enough to matter.
 * Models below opset 11 (no DynamicQuantizeLinear) get that fused op directly, com.microsoft.DynamicQuantizeMatMul:
 * the file then runs on ONNX Runtime only (upgrading the opset would change other ops' signatures: Clip, Slice, …).
 *
 * The VNNI caveat: uint8 × int8 products summed in pairs into int16 (AVX2 and AVX-512 without VNNI use
 * vpmaddubsw) can saturate: 255·127·2 > 32767. `reduceRange` quantizes weights to 7 bits (±64), which cannot;
 * it costs accuracy, so it is only needed where the model will run on a CPU without VNNI.
 */
import { ONNX, type OnnxModel, type OnnxNode, type OnnxTensor } from '../onnx-proto/index.js';
import { allNames, attr, constantOf, freshName, isDefaultDomain, makeAttr } from './graph-index.js';
import { floatTensor, floatsOf, int8Tensor } from './tensor-data.js';

export interface Int8Options {
  /** Per-column weight scales: always, never, or where the columns' ranges differ (max/median > 1.5). */
  readonly perChannel: 'auto' | boolean;
  /** 7-bit weights, for CPUs without VNNI (see above). */
  readonly reduceRange: boolean;
  /** Weights with fewer elements stay FLOAT: quantizing them saves little and costs two extra ops. */
  readonly minElements: number;
}

export const DEFAULT_INT8: Int8Options = { perChannel: 'auto', reduceRange: false, minElements: 1024 };

export interface Int8Report {
  readonly quantized: number;
  readonly perChannel: number;
  /** MatMul/Gemm left in FLOAT, with why. */
  readonly skipped: readonly { node: string; reason: string }[];
}

interface QuantizedWeight { readonly q: string; readonly scale: string; readonly zp: string; readonly perChannel: boolean }

export function quantizeInt8(model: OnnxModel, options: Int8Options = DEFAULT_INT8): Int8Report {
  const g = model.graph;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  const contrib = opset < 11;
  if (contrib && !model.opsets.some((o) => o.domain === 'com.microsoft')) model.opsets.push({ domain: 'com.microsoft', version: 1 });
  const names = allNames(g);
  const activations = new Map<string, { q: string; scale: string; zp: string }>();
  const weights = new Map<string, QuantizedWeight>();
  const skipped: { node: string; reason: string }[] = [];
  let quantized = 0;
  let perChannel = 0;
  const out: OnnxNode[] = [];
  for (const n of g.nodes) {
    if (!isDefaultDomain(n) || (n.opType !== 'MatMul' && n.opType !== 'Gemm')) {
      out.push(n);
      continue;
    }
    const label = n.name || n.outputs[0];
    const why = unsupported(g, n, options);
    if (why) {
      skipped.push({ node: label, reason: why });
      out.push(n);
      continue;
    }
    const transB = n.opType === 'Gemm' && (attr(n, 'transB')?.i ?? 0) === 1;
    const alpha = n.opType === 'Gemm' ? attr(n, 'alpha')?.f ?? 1 : 1;
    const key = `${n.inputs[1]}|${transB}|${alpha}`;
    let w = weights.get(key);
    if (!w) {
      w = quantizeWeight(g.initializers, constantOf(g, n.inputs[1])!, transB, alpha, options, (b) => freshName(g, b, names));
      weights.set(key, w);
    }
    if (w.perChannel) perChannel++;
    const y = n.outputs[0];
    const base = n.name || y;
    const bias = n.opType === 'Gemm' && n.inputs[2] ? scaledBias(g, n, names) : undefined;
    quantized++;
    if (contrib) {
      // Its bias input is 1-D [N]; another shape of C is added after it.
      const fused = bias !== undefined && constantOf(g, bias)!.dims.length === 1;
      const z = bias && !fused ? freshName(g, `${y}_unbiased`, names) : y;
      out.push({ name: freshName(g, `${base}_DynamicQuantizeMatMul`, names), opType: 'DynamicQuantizeMatMul', domain: 'com.microsoft', inputs: [n.inputs[0], w.q, w.scale, w.zp, ...(fused ? [bias] : [])], outputs: [z], attrs: [], otherFields: [] });
      if (bias && !fused) out.push({ name: freshName(g, `${base}_bias_Add`, names), opType: 'Add', domain: '', inputs: [z, bias], outputs: [y], attrs: [], otherFields: [] });
      continue;
    }
    const a = n.inputs[0];
    let aq = activations.get(a);
    if (!aq) {
      aq = { q: freshName(g, `${a}_quantized`, names), scale: freshName(g, `${a}_scale`, names), zp: freshName(g, `${a}_zero_point`, names) };
      activations.set(a, aq);
      out.push({ name: freshName(g, `${a}_DynamicQuantizeLinear`, names), opType: 'DynamicQuantizeLinear', domain: '', inputs: [a], outputs: [aq.q, aq.scale, aq.zp], attrs: [], otherFields: [] });
    }
    const int32 = freshName(g, `${y}_int32`, names);
    const asFloat = freshName(g, `${y}_cast`, names);
    const scale = freshName(g, `${y}_scale`, names);
    const scaled = bias ? freshName(g, `${y}_unbiased`, names) : y;
    out.push(
      { name: freshName(g, `${base}_MatMulInteger`, names), opType: 'MatMulInteger', domain: '', inputs: [aq.q, w.q, aq.zp, w.zp], outputs: [int32], attrs: [], otherFields: [] },
      { name: freshName(g, `${base}_Cast`, names), opType: 'Cast', domain: '', inputs: [int32], outputs: [asFloat], attrs: [makeAttr('to', { i: ONNX.FLOAT })], otherFields: [] },
      { name: freshName(g, `${base}_scale_Mul`, names), opType: 'Mul', domain: '', inputs: [aq.scale, w.scale], outputs: [scale], attrs: [], otherFields: [] },
      { name: freshName(g, `${base}_output_Mul`, names), opType: 'Mul', domain: '', inputs: [asFloat, scale], outputs: [scaled], attrs: [], otherFields: [] },
    );
    if (bias) out.push({ name: freshName(g, `${base}_bias_Add`, names), opType: 'Add', domain: '', inputs: [scaled, bias], outputs: [y], attrs: [], otherFields: [] });
  }
  g.nodes = out;
  return { quantized, perChannel, skipped };
}

/** Gemm's C times beta (a new initializer when beta is not 1). */
function scaledBias(g: OnnxModel['graph'], n: OnnxNode, names: Set<string>): string {
  const c = n.inputs[2];
  const beta = attr(n, 'beta')?.f ?? 1;
  if (beta === 1) return c;
  const t = constantOf(g, c)!;
  const name = freshName(g, `${c}_beta`, names);
  g.initializers.set(name, floatTensor(name, t.dims, floatsOf(t).map((v) => v * beta)));
  return name;
}

function unsupported(g: OnnxModel['graph'], n: OnnxNode, o: Int8Options): string | undefined {
  const w = constantOf(g, n.inputs[1]);
  if (!w) return 'B is not a constant';
  if (w.elemType !== ONNX.FLOAT) return 'B is not FLOAT';
  if (w.dims.length !== 2) return `B has rank ${w.dims.length}, not 2`;
  if (w.dims[0] * w.dims[1] < o.minElements) return `B has ${w.dims[0] * w.dims[1]} elements (< ${o.minElements})`;
  if (n.opType === 'Gemm') {
    if ((attr(n, 'transA')?.i ?? 0) !== 0) return 'Gemm with transA';
    const c = n.inputs[2];
    if (c) {
      const t = constantOf(g, c);
      if (!t || t.elemType !== ONNX.FLOAT) return 'C is not a constant FLOAT';
    }
  }
  return undefined;
}

function quantizeWeight(
  inits: Map<string, OnnxTensor>, w: OnnxTensor, transB: boolean, alpha: number, o: Int8Options, fresh: (base: string) => string,
): QuantizedWeight {
  const src = floatsOf(w);
  // Laid out [K, N] whatever B's layout was: MatMulInteger has no transpose.
  const [k, n] = transB ? [w.dims[1], w.dims[0]] : [w.dims[0], w.dims[1]];
  const at = (i: number, j: number) => (transB ? src[j * k + i] : src[i * n + j]);
  const colMax = new Float32Array(n);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) colMax[j] = Math.max(colMax[j], Math.abs(at(i, j)));
  const perChannel = o.perChannel === 'auto' ? rangesDiffer(colMax) : o.perChannel;
  const qmax = o.reduceRange ? 64 : 127;
  const tensorMax = colMax.reduce((m, v) => Math.max(m, v), 0);
  const scales = perChannel ? colMax.map((m) => (m > 0 ? m / qmax : 1)) : Float32Array.of(tensorMax > 0 ? tensorMax / qmax : 1);
  const q = new Int8Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const s = scales[perChannel ? j : 0];
      q[i * n + j] = Math.max(-qmax, Math.min(qmax, Math.round(at(i, j) / s)));
    }
  }
  const names = { q: fresh(`${w.name}_quantized`), scale: fresh(`${w.name}_scale`), zp: fresh(`${w.name}_zero_point`) };
  const dims = perChannel ? [n] : [];
  inits.set(names.q, int8Tensor(names.q, [k, n], q));
  inits.set(names.scale, floatTensor(names.scale, dims, scales.map((s) => s * alpha)));
  inits.set(names.zp, int8Tensor(names.zp, dims, new Int8Array(perChannel ? n : 1)));
  return { ...names, perChannel };
}

/** Whether per-column scales buy precision: the widest column's range is over 1.5× the median column's. */
function rangesDiffer(colMax: Float32Array): boolean {
  const sorted = Float32Array.from(colMax).sort();
  const median = sorted[sorted.length >> 1];
  return median === 0 || sorted[sorted.length - 1] / median > 1.5;
}
