/**
 * A client on gRPC's C core — Python's grpcio, the core under tritonclient and perf_analyzer — against the gRPC
 * frontend: stubs generated from the vendored protos, every kind of call the Triton clients make. Skipped (and says
 * so) where `python3 -m pip install grpcio grpcio-tools` has not been run; CI does not install Python packages.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { PROTO_DIR } from '../../src/frontends/grpc/service-definition.js';
import { type GrpcRunning, startGrpcServer } from './helpers.js';

const probe = spawnSync('python3', ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : 'Python grpcio / grpcio-tools not installed (python3 -m pip install grpcio grpcio-tools)';

const MLP = mlpModel(8, 4, 2, 21);
let srv: GrpcRunning;
const repo = tempRepo('autoglm-grpc-python-');
const out = mkdtempSync(join(tmpdir(), 'autoglm-grpc-py-'));

before(async () => {
  if (skip) return;
  writeModel(repo.dir, 'mlp', MLP.bytes);
  srv = await startGrpcServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv?.close();
  repo.remove();
  rmSync(out, { recursive: true, force: true });
});

test('grpcio (gRPC C core) calls every kind of RPC and gets Triton\'s answers', { skip }, async () => {
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    // Asynchronous: the server answers on this process's event loop.
    const child = spawn('python3', [join(import.meta.dirname, 'python_client.py'), srv.target, PROTO_DIR, out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('exit', (status: number | null) => resolve({ status, stdout, stderr }));
  });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.live, true);
  assert.equal(o.ready, true);
  assert.deepEqual(o.inputs, [['input', 'FP32', [-1, 8]]]);
  assert.equal(o.max_batch_size, 64);
  assert.deepEqual([o.infer.id, o.infer.model, o.infer.version, o.infer.raw_count], ['py-1', 'mlp', '1', 1]);
  assert.deepEqual(o.infer.outputs, [['output', 'FP32', [1, 2]]]);
  const x = Float32Array.from({ length: 8 }, (_, i) => (i % 8) / 8 - 0.5);
  const want = MLP.reference(x, 1);
  for (const got of [o.infer.values, o.typed_values]) got.forEach((v: number, i: number) => assert.ok(Math.abs(v - want[i]) <= 1e-4 * (1 + Math.abs(want[i]))));
  assert.equal(o.unknown[0], 'NOT_FOUND');
  assert.match(o.unknown[1], /unknown model 'nope'/);
  assert.deepEqual(o.stream, [['s0', false], ['s1', false], ['s2', true], ['s3', false], ['s4', false]]);
  assert.equal(o.unregister, '');
  assert.equal(o.health, 'SERVING');
});
