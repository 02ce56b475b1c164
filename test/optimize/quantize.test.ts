/**
 * INT8 and FP16 on generated models, checked against ONNX Runtime's outputs on the original FLOAT model; the
 * served-by-the-server check; and the protobuf round trip on the real PP-OCRv4 files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ONNX, f32Raw, readOnnxModel, writeOnnxModel, writeOnnxModelProto } from '../../src/onnx-proto/index.js';
import { compareModels } from '../../src/optimize/compare-models.js';
import { DEFAULT_OPTIMIZE, optimizeModel } from '../../src/optimize/optimize-model.js';
import { ortOptimizeOffline } from '../../src/optimize/ort-offline.js';
import { InferenceServer } from '../../src/server/inference-server.js';
import { hostHasVnni } from '../../src/optimize/cpu-features.js';
import { mlpLayersModel, mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { convGraph } from './random-graphs.js';

/**
 * The int8 options the CLI's `--reduce-range auto` picks on this host: without VNNI, ONNX Runtime's u8×s8 kernels can
 * saturate (docs), which is the runtime's error, not the pattern's; these tests check the pattern.
 */
const INT8 = { ...DEFAULT_OPTIMIZE.int8, reduceRange: hostHasVnni() === false };

const noTiming = { threads: 1, maxBatch: 1, windowMs: 1, pairs: 1, shapes: { dims: new Map(), defaultDim: 4 }, timing: false } as const;

test('int8: MatMul/Gemm weights become int8 in the pattern ORT fuses; outputs stay within 5 % of the FLOAT model', async () => {
  const source = mlpLayersModel([64, 256, 256, 10]);
  const r = await optimizeModel(source, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: INT8 });
  assert.equal(r.int8?.quantized, 3);
  const ops = readOnnxModel(r.bytes).graph.nodes.map((n) => n.opType);
  for (const op of ['DynamicQuantizeLinear', 'MatMulInteger', 'Cast']) assert.ok(ops.includes(op), ops.join(','));
  assert.ok(!ops.includes('Gemm'), ops.join(','));
  assert.deepEqual([...new Set((await ortOptimizeOffline(r.bytes, 'extended').then(readOnnxModel)).graph.nodes.map((n) => n.opType))].sort(), ['DynamicQuantizeMatMul', 'Relu']);
  // FLOAT weights 4 bytes, int8 1: the file shrinks to about a quarter.
  assert.ok(r.bytes.byteLength < source.byteLength * 0.3, `${r.bytes.byteLength} vs ${source.byteLength}`);
  const c = await compareModels(source, r.bytes, noTiming);
  assert.ok(c.errors[0].maxRel < 0.05 && c.errors[0].maxRel > 0, JSON.stringify(c.errors));
  assert.ok(c.errors[0].top1Agreement! >= 0.9, JSON.stringify(c.errors));
});

test('int8: per-channel scales where columns differ, 7-bit weights with reduceRange, small weights left FLOAT', async () => {
  // Column j of W scaled by 2^(j mod 6): column ranges differ, so auto picks per-channel scales.
  const k = 64;
  const n = 32;
  const w = seededFloats(k * n, 3, 0.2).map((v, i) => v * 2 ** ((i % n) % 6));
  const bytes = writeOnnxModel({
    name: 'm', nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] }, { op: 'MatMul', inputs: ['h', 'S'], outputs: ['y'] }],
    inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', k] }], outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 4] }],
    initializers: [{ name: 'W', elemType: ONNX.FLOAT, dims: [k, n], raw: f32Raw(w) }, { name: 'S', elemType: ONNX.FLOAT, dims: [n, 4], raw: f32Raw(seededFloats(n * 4, 4)) }],
  });
  const perChannel = await optimizeModel(bytes, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: INT8 });
  assert.equal(perChannel.int8?.perChannel, 1);
  assert.deepEqual(perChannel.int8?.skipped.map((s) => s.reason), ['B has 128 elements (< 1024)']);
  const perTensor = await optimizeModel(bytes, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: { ...INT8, perChannel: false } });
  const reduced = await optimizeModel(bytes, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: { ...DEFAULT_OPTIMIZE.int8, reduceRange: true } });
  const q = readOnnxModel(reduced.bytes).graph.initializers.get('W_quantized')!;
  assert.ok(new Int8Array(q.raw!.buffer, q.raw!.byteOffset, q.raw!.byteLength).every((v) => v >= -64 && v <= 64));
  const [pc, pt, rr] = await Promise.all([perChannel, perTensor, reduced].map((r) => compareModels(bytes, r.bytes, noTiming)));
  // Per-channel scales fit each column: less error than one scale for all.
  assert.ok(pc.errors[0].maxRel < pt.errors[0].maxRel, `per-channel ${pc.errors[0].maxRel}, per-tensor ${pt.errors[0].maxRel}`);
  assert.ok(rr.errors[0].maxRel < 0.05, JSON.stringify(rr.errors));
});

test('int8 below opset 11 uses com.microsoft.DynamicQuantizeMatMul (no DynamicQuantizeLinear there)', async () => {
  const m = readOnnxModel(mlpModel(32, 64, 8).bytes);
  m.opsets = [{ domain: '', version: 9 }];
  const source = writeOnnxModelProto(m);
  const r = await optimizeModel(source, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: { ...INT8, minElements: 1 } });
  const q = readOnnxModel(r.bytes);
  assert.deepEqual(q.graph.nodes.map((n) => `${n.domain}:${n.opType}`), ['com.microsoft:DynamicQuantizeMatMul', ':Relu', 'com.microsoft:DynamicQuantizeMatMul']);
  assert.ok(q.opsets.some((o) => o.domain === 'com.microsoft'));
  const c = await compareModels(source, r.bytes, noTiming);
  assert.ok(c.errors[0].maxRel < 0.05, JSON.stringify(c.errors));
});

test('fp16: weights become FLOAT16, inputs and outputs stay FLOAT, outputs within 1 % of the FLOAT model', async () => {
  for (const source of [mlpLayersModel([32, 64, 16]), convGraph(['conv-bn', 'relu', 'conv', 'identity', 'const-expr'], 9)]) {
    const r = await optimizeModel(source, { ...DEFAULT_OPTIMIZE, quantize: 'fp16' });
    const m = readOnnxModel(r.bytes);
    assert.ok(r.fp16!.converted > 0);
    assert.ok([...m.graph.initializers.values()].every((t) => t.elemType === ONNX.FLOAT16 || t.elemType === ONNX.INT64), [...m.graph.initializers.values()].map((t) => t.elemType).join());
    assert.deepEqual([...m.graph.inputs, ...m.graph.outputs].map((v) => v.elemType), [ONNX.FLOAT, ONNX.FLOAT]);
    const c = await compareModels(source, r.bytes, noTiming);
    assert.ok(c.errors[0].maxRel < 0.01, JSON.stringify(c.errors));
  }
});

test('fp16: a block-listed op (Softmax) runs in FLOAT between Casts', async () => {
  const bytes = writeOnnxModel({
    name: 's', nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] }, { op: 'Softmax', inputs: ['h'], outputs: ['p'], attrs: { axis: { i: -1 } } }, { op: 'Mul', inputs: ['p', 'W2'], outputs: ['y'] }],
    inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 8] }], outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 8] }],
    initializers: [{ name: 'W', elemType: ONNX.FLOAT, dims: [8, 8], raw: f32Raw(seededFloats(64, 2, 1)) }, { name: 'W2', elemType: ONNX.FLOAT, dims: [8], raw: f32Raw(seededFloats(8, 3, 1)) }],
  });
  const r = await optimizeModel(bytes, { ...DEFAULT_OPTIMIZE, quantize: 'fp16' });
  assert.deepEqual(r.fp16?.blocked, ['Softmax']);
  const ops = readOnnxModel(r.bytes).graph.nodes.map((n) => n.opType);
  assert.deepEqual(ops, ['Cast', 'MatMul', 'Cast', 'Softmax', 'Cast', 'Mul', 'Cast']);
  const c = await compareModels(bytes, r.bytes, noTiming);
  assert.ok(c.errors[0].maxRel < 0.01, JSON.stringify(c.errors));
});

test('the server serves an optimized INT8 file beside the original as two versions of one model', async () => {
  const repo = mkdtempSync(join(tmpdir(), 'autoglm-opt-'));
  const source = mlpLayersModel([64, 256, 10]);
  writeModel(repo, 'mlp', source, { version: '1' });
  writeModel(repo, 'mlp', (await optimizeModel(source, { ...DEFAULT_OPTIMIZE, quantize: 'int8', int8: INT8 })).bytes, { version: '2', config: 'version_policy: { all: {} }\n' });
  const server = await InferenceServer.create({ modelRepositories: [repo] });
  try {
    const x = seededFloats(2 * 64, 8, 1);
    const run = async (version: string) => (await server.infer({ model: 'mlp', version, inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 64], data: x }] })).outputs[0].data as Float32Array;
    const [a, b] = [await run('1'), await run('2')];
    const scale = Math.max(...a.map(Math.abs));
    assert.ok(a.every((v, i) => Math.abs(v - b[i]) < 0.05 * scale), `${a} vs ${b}`);
  } finally {
    await server.close();
  }
});

test('PP-OCRv4 det and rec: read → write keeps every byte the runtime needs (same outputs), and passes keep the function', async () => {
  const assets = join(import.meta.dirname, '..', '..', 'node_modules', '@gutenye', 'ocr-models', 'assets');
  for (const [file, h] of [['ch_PP-OCRv4_det_infer.onnx', 64], ['ch_PP-OCRv4_rec_infer.onnx', 48]] as const) {
    const x = new ort.Tensor('float32', seededFloats(3 * h * 96, 12, 1), [1, 3, h, 96]);
    const source = readFileSync(join(assets, file));
    const copy = writeOnnxModelProto(readOnnxModel(source));
    assert.equal(copy.byteLength, source.byteLength, file);
    const optimized = (await optimizeModel(source)).bytes;
    const outs: Float32Array[] = [];
    for (const bytes of [source, copy, optimized]) {
      const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, logSeverityLevel: 3 });
      outs.push((await s.run({ x }))[s.outputNames[0]].data as Float32Array);
      await s.release();
    }
    assert.deepEqual(outs[1], outs[0], `${file}: round trip`);
    const scale = Math.max(...outs[0].map(Math.abs));
    const worst = outs[2].reduce((m, v, i) => Math.max(m, Math.abs(v - outs[0][i])), 0);
    // Both outputs are probabilities (sigmoid, softmax): folding BN into weights rounds differently, within 1e-5.
    assert.ok(worst <= 1e-5 + 1e-4 * scale, `${file}: optimized differs by ${worst} (output scale ${scale})`);
  }
});
