/**
 * `autoglm bench -i grpc` (perf_analyzer's flag) against the real server's gRPC frontend: metadata over gRPC,
 * every datatype, closed and open loop, answers checked, gRPC errors counted by status, the same reports as HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { identityAllTypesModel, mlpModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { type GrpcRunning, startGrpcServer } from '../grpc/helpers.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run-bench.js';
import { formatCsv, formatTable, describeRun } from '../../src/bench/format-table.js';
import { runBenchCommand } from '../../src/cli/bench-command.js';
import { MeasurementWindow, errorKindOf } from '../../src/bench/measurement-window.js';

let srv: GrpcRunning;
const repo = tempRepo('autoglm-grpc-bench-');

before(async () => {
  writeModel(repo.dir, 'mlp', mlpModel(64, 32, 10, 1).bytes);
  writeModel(repo.dir, 'identity', identityAllTypesModel());
  srv = await startGrpcServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const quick = ['-p', '250', '--warmup', '50', '-r', '1'];

test('-i grpc: options (host:port or grpc://, default 127.0.0.1:8001; json refused)', () => {
  assert.equal(parseBenchArgs(['-m', 'm', '-i', 'grpc']).url, 'grpc://127.0.0.1:8001');
  assert.equal(parseBenchArgs(['-m', 'm', '-i', 'grpc', '-u', 'localhost:9001']).url, 'grpc://localhost:9001');
  assert.equal(parseBenchArgs(['-m', 'm', '--protocol', 'grpc', '-u', 'grpc://[::1]:9001']).url, 'grpc://[::1]:9001');
  assert.equal(parseBenchArgs(['-m', 'm']).protocol, 'http');
  assert.throws(() => parseBenchArgs(['-m', 'm', '-i', 'grpc', '--protocol-format', 'json']), /applies to HTTP/);
  assert.throws(() => parseBenchArgs(['-m', 'm', '-i', 'smtp']), /expected http or grpc/);
  assert.throws(() => parseBenchArgs(['-m', 'm', '-i', 'grpc', '-u', 'http://x:1']), /host:port/);
});

test('every datatype over gRPC, closed loop: answers checked, no errors, the target says gRPC', async () => {
  const report = await runBench(parseBenchArgs(['-m', 'identity', '-i', 'grpc', '-u', srv.target, '-b', '2', '--concurrency-range', '4', ...quick]));
  const s = report.steps[0];
  assert.equal(s.errorCount, 0, JSON.stringify(s.errors));
  assert.ok(s.ok > 0);
  assert.ok(s.answersChecked > 0);
  assert.equal(report.target.protocol, 'grpc');
  assert.equal(Object.keys(report.target.inputShapes).length, 13);
  assert.deepEqual(report.target.inputShapes.in_BYTES, [2, 3]);
  assert.match(describeRun(report), new RegExp(`grpc://${srv.target}\\s+model identity\\s+gRPC`));
  assert.match(formatTable(report), /req\/s/);
  assert.match(formatCsv(report), /^mode,level,/);
});

test('open loop over gRPC: the offered rate is carried, latency from the intended send times', async () => {
  const report = await runBench(parseBenchArgs(['-m', 'mlp', '-i', 'grpc', '-u', srv.target, '--request-rate-range', '200', ...quick]));
  const s = report.steps[0];
  assert.equal(s.errorCount, 0, JSON.stringify(s.errors));
  assert.ok(s.throughput > 100 && s.throughput < 300, `${s.throughput} req/s`);
});

test('the CLI: exit 1 with the server\'s reason for an unknown model; the table for a known one', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s), isTty: false };
  assert.equal(await runBenchCommand(['-m', 'nope', '-i', 'grpc', '-u', srv.target, ...quick], io), 1);
  assert.match(err.join(''), /NOT_FOUND: .*unknown model 'nope'/);
  assert.equal(await runBenchCommand(['-m', 'mlp', '-i', 'grpc', '-u', srv.target, '--concurrency-range', '2', ...quick], io), 0);
  assert.match(out.join(''), /gRPC/);
});

test('gRPC failures count by status name, network failures by kind', () => {
  assert.equal(errorKindOf({ status: 429, networkError: undefined, body: [], inferenceHeaderLength: -1, grpcStatus: 8, grpcMessage: '' }), 'grpc_RESOURCE_EXHAUSTED');
  assert.equal(errorKindOf({ status: 0, networkError: 'reset', body: [], inferenceHeaderLength: -1 }), 'network_reset');
  assert.equal(errorKindOf({ status: 503, networkError: undefined, body: [], inferenceHeaderLength: -1 }), 'http_503');
  const w = new MeasurementWindow(undefined);
  w.complete(0, 10, { status: 404, networkError: undefined, body: [], inferenceHeaderLength: -1, grpcStatus: 5, grpcMessage: 'x' });
  assert.deepEqual([...w.errors], [['grpc_NOT_FOUND', 1]]);
  w.latency.destroy();
});
