/**
 * The load generator against the real Open-AutoGLM server (InferenceServer + HTTP frontend, real onnxruntime):
 * inputs synthesized from its metadata for every datatype (BYTES and FP16 included), JSON and binary, --shape for
 * a variable dimension, an input file; every sampled answer decodes and stays the same for its input set.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { ONNX, writeOnnxModel } from '../../src/onnx-proto/index.js';
import { identityAllTypesModel, mlpModel, writeModel } from '../fixtures/models.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run-bench.js';

let dir: string;
let server: InferenceServer;
let http: HttpFrontend;
let url: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bench-real-'));
  writeModel(dir, 'mlp', mlpModel(64, 32, 10, 1).bytes);
  writeModel(dir, 'identity', identityAllTypesModel());
  // A variable second dimension: y = x + x over FP32 [batch, n].
  writeModel(dir, 'double', writeOnnxModel({
    name: 'double',
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
    inputs: [{ name: 'x', elemType: ONNX.FLOAT, dims: ['batch', 'n'] }],
    outputs: [{ name: 'y', elemType: ONNX.FLOAT, dims: ['batch', 'n'] }],
  }));
  server = await InferenceServer.create({ modelRepositories: [dir] });
  http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${http.port}`;
});

after(async () => {
  await http.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const quick = ['--concurrency-range', '2', '-p', '250', '--warmup', '50', '-r', '1'];

for (const format of ['binary', 'json']) {
  test(`every datatype round-trips through the real server (${format})`, async () => {
    const report = await runBench(parseBenchArgs(['-m', 'identity', '-u', url, '--protocol-format', format, '-b', '2', ...quick]));
    const s = report.steps[0];
    assert.equal(s.errorCount, 0, JSON.stringify(s.errors));
    assert.ok(s.ok > 0);
    assert.ok(s.answersChecked > 0);
    assert.equal(Object.keys(report.target.inputShapes).length, 13);
    assert.deepEqual(report.target.inputShapes.in_BYTES, [2, 3]);
  });
}

test('mlp with batch 4, answers consistent; --shape sets a variable dimension', async () => {
  const mlp = await runBench(parseBenchArgs(['-m', 'mlp', '-u', url, '-b', '4', ...quick]));
  assert.equal(mlp.steps[0].errorCount, 0, JSON.stringify(mlp.steps[0].errors));
  assert.equal(mlp.steps[0].inferencesPerSec, mlp.steps[0].throughput * 4);
  const dbl = await runBench(parseBenchArgs(['-m', 'double', '-u', url, '--shape', 'x:5', ...quick]));
  assert.deepEqual(dbl.target.inputShapes.x, [1, 5]);
  assert.equal(dbl.steps[0].errorCount, 0);
  await assert.rejects(runBench(parseBenchArgs(['-m', 'double', '-u', url, ...quick])), /give its shape with --shape x:N/);
  await assert.rejects(runBench(parseBenchArgs(['-m', 'mlp', '-u', url, '--shape', 'nope:3', ...quick])), /--shape nope: model 'mlp' has no such input/);
  await assert.rejects(runBench(parseBenchArgs(['-m', 'mlp', '-u', url, '-b', '1000', ...quick])), /exceeds model 'mlp' max_batch_size/);
});

test('--input-data FILE: perf_analyzer layout; wrong sizes are refused before any load', async () => {
  const file = join(dir, 'inputs.json');
  writeFileSync(file, JSON.stringify({ data: [{ x: [1, 2, 3] }, { x: { content: [4, 5, 6], shape: [3] } }] }));
  const r = await runBench(parseBenchArgs(['-m', 'double', '-u', url, '--shape', 'x:3', '--input-data', file, ...quick]));
  assert.equal(r.steps[0].errorCount, 0);
  writeFileSync(file, JSON.stringify({ x: [1, 2] }));
  await assert.rejects(runBench(parseBenchArgs(['-m', 'double', '-u', url, '--shape', 'x:3', '--input-data', file, ...quick])),
    /'x' has 2 values, shape \[1,3\] needs 3/);
});
