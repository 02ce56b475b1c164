/**
 * The graph pass suite: each pass, and all of them together, on generated graphs (random chains of blocks built to
 * give each pass work). The rewritten model must compute what the original computes (both run by ONNX Runtime
 * with its own optimizations off, so they cannot hide a wrong rewrite), and running a pass again changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { readOnnxModel, writeOnnxModelProto } from '../../src/onnx-proto/index.js';
import { PASS_NAMES, graphPass, type PassName } from '../../src/optimize/optimize-model.js';
import { runPasses } from '../../src/optimize/pass.js';
import { seededFloats } from '../fixtures/models.js';
import { CHANNELS, CONV_BLOCKS, DENSE_BLOCKS, DENSE_WIDTH, SPATIAL, convGraph, denseGraph } from './random-graphs.js';

async function outputs(bytes: Uint8Array, x: ort.Tensor): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    return (await s.run({ x })).y.data as Float32Array;
  } finally {
    await s.release();
  }
}

function assertClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: output length`);
  for (let i = 0; i < want.length; i++) {
    const tol = 1e-4 * Math.max(1, Math.abs(want[i]));
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}: y[${i}] = ${got[i]}, original ${want[i]}`);
  }
}

/** Runs `passes` to a fixed point; checks the function is kept and that a second run finds nothing to do. */
async function checkPasses(original: Uint8Array, passes: readonly PassName[], x: ort.Tensor, what: string): Promise<Map<string, number>> {
  const model = readOnnxModel(original);
  const counts = await runPasses(model, passes.map((p) => graphPass(p)));
  const once = writeOnnxModelProto(model);
  assertClose(await outputs(once, x), await outputs(original, x), what);
  const again = readOnnxModel(once);
  const second = await runPasses(again, passes.map((p) => graphPass(p)), 1);
  assert.deepEqual([...second.values()].filter((n) => n > 0), [], `${what}: second run rewrote ${JSON.stringify([...second])}`);
  assert.deepEqual(Buffer.from(writeOnnxModelProto(again)), Buffer.from(once), `${what}: second run changed the bytes`);
  return counts;
}

const denseInput = (batch: number) => new ort.Tensor('float32', seededFloats(batch * DENSE_WIDTH, 5, 1), [batch, DENSE_WIDTH]);
const convInput = (batch: number) => new ort.Tensor('float32', seededFloats(batch * CHANNELS * SPATIAL * SPATIAL, 6, 1), [batch, CHANNELS, SPATIAL, SPATIAL]);

for (const pass of PASS_NAMES) {
  test(`${pass}: keeps the function of generated dense graphs and is idempotent`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(...DENSE_BLOCKS), { minLength: 1, maxLength: 7 }), fc.integer({ min: 1, max: 1000 }),
      async (blocks, seed) => { await checkPasses(denseGraph(blocks, seed), [pass], denseInput(3), `${pass} on ${blocks.join(',')} seed ${seed}`); }),
    { numRuns: 12, seed: 16 });
  });
  test(`${pass}: keeps the function of generated conv graphs and is idempotent`, async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(...CONV_BLOCKS), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 1000 }),
      async (blocks, seed) => { await checkPasses(convGraph(blocks, seed), [pass], convInput(2), `${pass} on ${blocks.join(',')} seed ${seed}`); }),
    { numRuns: 8, seed: 16 });
  });
}

test('all passes together keep the function and leave each rewrite done (counts per block kind)', async () => {
  const dense = denseGraph(['identity', 'const-expr', 'matmul-add', 'dropout', 'gemm-add', 'dead-branch', 'constant-node', 'identity-out'], 3);
  const counts = await checkPasses(dense, PASS_NAMES, denseInput(4), 'all passes, dense');
  assert.ok(counts.get('identity')! >= 2, JSON.stringify([...counts]));
  assert.ok(counts.get('fold-constants')! >= 4, JSON.stringify([...counts]));
  assert.equal(counts.get('matmul-add'), 2);
  assert.ok(counts.get('dead-code')! >= 3, JSON.stringify([...counts]));
  const m = readOnnxModel(dense);
  await runPasses(m, PASS_NAMES.map((p) => graphPass(p)));
  const ops = m.graph.nodes.map((n) => n.opType);
  assert.deepEqual(ops.filter((o) => o === 'Identity' || o === 'Dropout' || o === 'MatMul' || o === 'Constant' || o === 'Transpose' || o === 'Sigmoid'), [],
    `left: ${ops.join(',')}`);
  assert.ok(ops.includes('Tanh') && ops.filter((o) => o === 'Gemm').length === 2, ops.join(','));
  assert.equal(m.graph.outputs[0].name, 'y');

  const conv = convGraph(['conv-bn', 'relu', 'conv-bn-nobias', 'identity', 'conv-bn-group', 'dead-branch', 'conv'], 4);
  const convCounts = await checkPasses(conv, PASS_NAMES, convInput(2), 'all passes, conv');
  assert.equal(convCounts.get('conv-bn'), 3);
  const mc = readOnnxModel(conv);
  await runPasses(mc, PASS_NAMES.map((p) => graphPass(p)));
  assert.deepEqual(mc.graph.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Conv', 'Conv', 'Conv']);
  // Nothing but the weights the remaining nodes read.
  assert.equal(mc.graph.initializers.size, 8);
});
