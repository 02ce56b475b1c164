import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServeOptions, parseServeArgs, UsageError } from '../../src/cli/serve-options.js';

test('defaults follow tritonserver: HTTP 8000 and gRPC 8001 on 0.0.0.0, auto-complete on, keep serving on model errors', () => {
  assert.deepEqual(parseServeArgs(['--model-repository', 'r']), {
    modelRepositories: ['r'], httpPort: 8000, httpAddress: '0.0.0.0', allowGrpc: true, grpcPort: 8001, grpcAddress: '0.0.0.0',
    strictModelConfig: false, exitOnError: false,
    logVerbose: 0, logFormat: undefined, limits: {},
    allowMetrics: true, metricsPort: 8002, metricsAddress: '0.0.0.0', allowDashboard: true, batchingPolicy: undefined, computeCores: undefined, httpThreadCount: 0,
    computeNice: undefined, exitTimeoutSecs: 30, allowOrtTelemetry: false, cache: [],
    modelControlMode: 'none', startupModels: [], pollSecs: 15, controlToken: undefined,
  });
});

test('every flag, repeated repositories, booleans bare or =true/=false', () => {
  const o = parseServeArgs([
    '--model-repository', 'a', '--model-repository=b', '--http-port', '0', '--http-address', '127.0.0.1',
    '--strict-model-config', '--exit-on-error=false', '--log-verbose', '2', '--log-format', 'json',
    '--max-request-body-bytes', '1024', '--max-tensor-elements', '99', '--max-tensor-rank', '3', '--compute-cores', '3', '--http-thread-count', '4',
    '--max-inflight-requests', '5', '--max-inflight-bytes', '4096', '--max-connections', '7', '--compute-nice', '0',
  ]);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  assert.deepEqual(o.modelRepositories, ['a', 'b']);
  assert.equal(o.httpPort, 0);
  assert.equal(o.strictModelConfig, true);
  assert.equal(o.exitOnError, false);
  assert.equal(o.logVerbose, 2);
  assert.equal(o.logFormat, 'json');
  assert.deepEqual(o.limits, {
    maxBodyBytes: 1024, maxTensorElements: 99, maxRank: 3, maxInflightRequests: 5, maxInflightBytes: 4096, maxConnections: 7,
  });
  assert.equal(o.computeNice, 0);
  assert.equal(o.computeCores, 3);
  assert.equal(o.httpThreadCount, 4);
  assert.ok(Object.isFrozen(o));
  assert.equal(parseServeArgs(['--help']), 'help');
});

test('--allow-dashboard bare or =BOOL (default true)', () => {
  const dashboard = (...args: string[]) => (parseServeArgs(['--model-repository', 'r', ...args]) as { allowDashboard: boolean }).allowDashboard;
  assert.equal(dashboard(), true);
  assert.equal(dashboard('--allow-dashboard=false'), false);
  assert.equal(dashboard('--allow-dashboard'), true);
  assert.throws(() => parseServeArgs(['--model-repository', 'r', '--allow-dashboard=maybe']), UsageError);
});

test('gRPC flags: --grpc-port, --grpc-address (default: the --http-address), --allow-grpc bare or =BOOL', () => {
  const o = parseServeArgs(['--model-repository', 'a', '--http-address', '127.0.0.1', '--grpc-port', '0']);
  assert.ok(o !== 'help');
  assert.deepEqual([o.allowGrpc, o.grpcPort, o.grpcAddress], [true, 0, '127.0.0.1']);
  const off = parseServeArgs(['--model-repository', 'a', '--allow-grpc=false', '--grpc-address', '::1']);
  assert.ok(off !== 'help');
  assert.deepEqual([off.allowGrpc, off.grpcPort, off.grpcAddress], [false, 8001, '::1']);
  const bare = parseServeArgs(['--model-repository', 'a', '--allow-grpc']);
  assert.ok(bare !== 'help' && bare.allowGrpc);
});

test('bad input is a UsageError naming the flag', () => {
  const bad: Array<[string[], RegExp]> = [
    [[], /--model-repository is required/],
    [['--model-repository', 'a', '--nope'], /--nope/],
    [['--model-repository', 'a', 'extra'], /extra/],
    [['--model-repository', 'a', '--http-port', '70000'], /--http-port must be an integer in 0\.\.65535/],
    [['--model-repository', 'a', '--grpc-port', '65536'], /--grpc-port must be an integer in 0\.\.65535/],
    [['--model-repository', 'a', '--allow-grpc=yes'], /--allow-grpc takes true or false/],
    [['--model-repository', 'a', '--max-tensor-rank', '0'], /--max-tensor-rank/],
    [['--model-repository', 'a', '--compute-nice', '20'], /--compute-nice must be an integer in 0\.\.19/],
    [['--model-repository', 'a', '--max-inflight-requests', '0'], /--max-inflight-requests/],
    [['--model-repository', 'a', '--log-format', 'xml'], /--log-format is text or json/],
    [['--model-repository', 'a', '--exit-on-error=maybe'], /--exit-on-error takes true or false/],
    [['--model-repository', 'a', '--compute-cores', '0'], /--compute-cores must be an integer in 1\.\.4096/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => parseServeArgs(argv), (e: unknown) => e instanceof UsageError && pattern.test(e.message), argv.join(' '));
});

test('--compute-cores defaults to every core of a 1–2 core machine, three quarters of a larger one', async () => {
  const { defaultComputeCores } = await import('../../src/server/inference-server.js');
  assert.deepEqual([1, 2, 3, 4, 16].map((c) => defaultComputeCores(c)), [1, 2, 2, 3, 12]);
});

test('--exit-timeout-secs (tritonserver\'s, default 30) and --allow-ort-telemetry (default false)', () => {
  const o = parseServeArgs(['--model-repository', 'r', '--exit-timeout-secs', '0', '--allow-ort-telemetry']);
  assert.ok(o !== 'help' && o.exitTimeoutSecs === 0 && o.allowOrtTelemetry);
  const f = parseServeArgs(['--model-repository', 'r', '--allow-ort-telemetry=false']);
  assert.ok(f !== 'help' && !f.allowOrtTelemetry);
  assert.throws(() => parseServeArgs(['--model-repository', 'r', '--exit-timeout-secs', 'soon']), /--exit-timeout-secs must be an integer/);
  assert.throws(() => parseServeArgs(['--model-repository', 'r', '--allow-ort-telemetry=sure']), /--allow-ort-telemetry takes true or false/);
});

test('model control: --model-control-mode (default none), --load-model with explicit only, --repository-poll-secs with poll only, --control-token-file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-token-'));
  try {
    const base = ['--model-repository', 'r'];
    const dflt = parseServeArgs(base) as ServeOptions;
    assert.equal(dflt.modelControlMode, 'none');
    assert.deepEqual(dflt.startupModels, []);
    assert.equal(dflt.pollSecs, 15);
    assert.equal(dflt.controlToken, undefined);
    const explicit = parseServeArgs([...base, '--model-control-mode', 'explicit', '--load-model', 'a', '--load-model', '*']) as ServeOptions;
    assert.deepEqual(explicit.startupModels, ['a', '*']);
    assert.equal((parseServeArgs([...base, '--model-control-mode', 'poll', '--repository-poll-secs', '2']) as ServeOptions).pollSecs, 2);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, '  abc123  \nignored second line\n');
    assert.equal((parseServeArgs([...base, '--model-control-mode', 'explicit', '--control-token-file', tokenFile]) as ServeOptions).controlToken, 'abc123');
    writeFileSync(join(dir, 'empty'), '\n');
    for (const [args, why] of [
      [['--model-control-mode', 'manual'], /one of none, poll, explicit/],
      [['--load-model', 'a'], /needs --model-control-mode explicit/],
      [['--model-control-mode', 'explicit', '--load-model', '../a'], /not a plain model name/],
      [['--repository-poll-secs', '5'], /needs --model-control-mode poll/],
      [['--model-control-mode', 'poll', '--repository-poll-secs', '0'], /repository-poll-secs must be an integer in 1\.\./],
      [['--control-token-file', tokenFile], /only --model-control-mode explicit/],
      [['--model-control-mode', 'explicit', '--control-token-file', join(dir, 'none')], /cannot be read: ENOENT/],
      [['--model-control-mode', 'explicit', '--control-token-file', join(dir, 'empty')], /first line must hold the token/],
    ] as const) {
      assert.throws(() => parseServeArgs([...base, ...args]), (e: Error) => e instanceof UsageError && why.test(e.message), args.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
