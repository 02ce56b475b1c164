/** `autoglm inspect` and `autoglm optimize` as a user runs them: output, files written or refused, exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOnnxModel } from '../../src/onnx-proto/index.js';
import { mlpLayersModel, seededFloats } from '../fixtures/models.js';
import { denseGraph } from './random-graphs.js';

const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];
const autoglm = (...args: string[]) => spawnSync(process.execPath, [...MAIN, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'autoglm-cli-opt-'));

test('inspect: signature, histogram, parameters, MACs, foldable nodes, served config; --json', () => {
  const file = join(dir, 'mlp.onnx');
  writeFileSync(file, mlpLayersModel([64, 256, 10]));
  const r = autoglm('inspect', file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /IR version 8, opsets ai\.onnx 17/);
  assert.match(r.stdout, /input: FP32 \[batch, 64\] \(dynamic: axis 0\)/);
  assert.match(r.stdout, /operators \(3 nodes\): Gemm 2, Relu 1/);
  // 64·256 + 256 + 256·10 + 10 FLOAT parameters; MACs per row 64·256 + 256·10.
  assert.match(r.stdout, /FLOAT: 19,210 in 4 tensors, 76,840 bytes/);
  assert.match(r.stdout, /MatMul\/Gemm with constant weights: 18,944 per row/);
  assert.match(r.stdout, /"max_batch_size": 64/);
  const json = JSON.parse(autoglm('inspect', file, '--json').stdout) as { ops: unknown; servedConfig: { input: { dims: number[] }[] } };
  assert.deepEqual(json.ops, [{ op: 'Gemm', count: 2 }, { op: 'Relu', count: 1 }]);
  assert.deepEqual(json.servedConfig.input[0].dims, [64]);
  const foldable = join(dir, 'dense.onnx');
  writeFileSync(foldable, denseGraph(['const-expr'], 1));
  assert.match(autoglm('inspect', foldable).stdout, /constant-foldable nodes: Add 1, Mul 1, Transpose 1/);
  const bad = autoglm('inspect', join(dir, 'missing.onnx'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing\.onnx/);
});

test('optimize: prints the table, writes the model; refuses (exit 3, nothing written) over --max-error unless --force', () => {
  const file = join(dir, 'm.onnx');
  writeFileSync(file, mlpLayersModel([64, 512, 16]));
  const out = join(dir, 'm.int8.onnx');
  const ok = autoglm('optimize', file, '-o', out, '--quantize', 'int8', '--max-batch', '4', '--window-ms', '20', '--pairs', '1');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /file size .*× smaller/);
  assert.match(ok.stdout, /throughput, best batch/);
  assert.match(ok.stdout, /output: max abs \S+, max rel \S+, top-1 agreement/);
  assert.match(ok.stdout, /int8: 2 MatMul\/Gemm quantized/);
  assert.ok(readOnnxModel(readFileSync(out)).graph.nodes.some((n) => n.opType === 'MatMulInteger'));

  const strict = join(dir, 'strict.onnx');
  const refused = autoglm('optimize', file, '-o', strict, '--quantize', 'int8', '--max-error', '1e-6', '--no-measure');
  assert.equal(refused.status, 3, refused.stderr);
  assert.match(refused.stderr, /not written: max relative error \S+ exceeds --max-error 0.000001/);
  assert.equal(existsSync(strict), false);
  const forced = autoglm('optimize', file, '-o', strict, '--quantize', 'int8', '--max-error', '1e-6', '--no-measure', '--force');
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(existsSync(strict), true);
});

test('optimize: --samples DIR of v2 JSON requests; bad arguments exit 2 naming the problem', () => {
  const file = join(dir, 's.onnx');
  writeFileSync(file, mlpLayersModel([8, 16, 4]));
  const samples = join(dir, 'samples');
  mkdirSync(samples);
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(samples, `${i}.json`), JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 8], data: Array.from(seededFloats(16, i, 1)) }] }));
  }
  const r = autoglm('optimize', file, '-o', join(dir, 's.opt.onnx'), '--samples', samples, '--no-measure', '--json');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { samples: number; errors: { maxRel: number }[]; written: boolean };
  assert.equal(report.samples, 3);
  assert.ok(report.written && report.errors[0].maxRel < 1e-4);
  for (const [args, message] of [
    [[file], /-o\/--output is required/],
    [[file, '-o', 'x.onnx', '--quantize', 'int4'], /--quantize must be one of none, int8, fp16, got 'int4'/],
    [[file, '-o', 'x.onnx', '--passes', 'fold-constants,magic'], /unknown pass 'magic'/],
    [[file, '-o', 'x.onnx', '--dim', 'batch'], /--dim must be NAME=N/],
    [[file, '-o', 'x.onnx', '--frobnicate'], /Unknown option '--frobnicate'/],
  ] as const) {
    const bad = autoglm('optimize', ...args);
    assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, message);
  }
});
