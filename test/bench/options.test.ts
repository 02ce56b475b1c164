import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseBenchArgs, parseRange, parseShape, HelpRequested } from '../../src/bench/options.js';
import { InferenceError } from '../../src/core/index.js';
import { runBenchCommand } from '../../src/cli/bench-command.js';
import { currentCpuList } from '../../src/bench/cpu-affinity.js';

test('ranges: additive, multiplicative (x2), single value, fractional rates', () => {
  assert.deepEqual(parseRange('--concurrency-range', '1:64:x2', true), [1, 2, 4, 8, 16, 32, 64]);
  assert.deepEqual(parseRange('--concurrency-range', '1:10:x3', true), [1, 3, 9]);
  assert.deepEqual(parseRange('--concurrency-range', '2:8:2', true), [2, 4, 6, 8]);
  assert.deepEqual(parseRange('--concurrency-range', '4', true), [4]);
  assert.deepEqual(parseRange('--concurrency-range', '1:3', true), [1, 2, 3]);
  assert.deepEqual(parseRange('--request-rate-range', '0.5:1.5:0.5', false), [0.5, 1, 1.5]);
  assert.deepEqual(parseRange('--request-rate-range', '0.1:0.3:0.1', false), [0.1, 0.2, 0.3]);
});

test('shapes: name:dims, the name may contain colons', () => {
  assert.deepEqual(parseShape('input:3,224,224'), ['input', [3, 224, 224]]);
  assert.deepEqual(parseShape('ns:x:5'), ['ns:x', [5]]);
});

test('defaults and flags map to options', () => {
  const o = parseBenchArgs(['-m', 'mlp', '-u', 'localhost:9000', '--concurrency-range', '1:4:x2', '-b', '4', '--shape', 'x:2,3', '--protocol-format', 'json', '-p', '200', '-s', '5', '-r', '7']);
  assert.equal(o.model, 'mlp');
  assert.equal(o.url, 'http://localhost:9000');
  assert.deepEqual(o.load, { mode: 'concurrency', levels: [1, 2, 4] });
  assert.equal(o.batchSize, 4);
  assert.deepEqual(o.shapes, { x: [2, 3] });
  assert.equal(o.protocolFormat, 'json');
  assert.equal(o.measurementIntervalMs, 200);
  assert.equal(o.stabilityPercentage, 5);
  assert.equal(o.maxTrials, 7);
  assert.ok(Object.isFrozen(o));
  const open = parseBenchArgs(['-m', 'm', '--request-rate-range', '100:300:100', '--request-distribution', 'poisson']);
  assert.deepEqual(open.load, { mode: 'rate', levels: [100, 200, 300], distribution: 'poisson' });
  assert.equal(parseBenchArgs(['-m', 'm']).protocolFormat, 'binary');
  assert.throws(() => parseBenchArgs(['-h']), HelpRequested);
});

test('--cpus: taskset list syntax, kept as given; not pinned by default', () => {
  assert.equal(parseBenchArgs(['-m', 'm']).cpus, '');
  for (const list of ['1', '8-15', '1,3', '0-7:2', '0,2-3']) assert.equal(parseBenchArgs(['-m', 'm', '--cpus', list]).cpus, list);
  assert.equal(parseBenchArgs(['-m', 'm', '--cpus', '1, 3']).cpus, '1,3');
});

const bad: [string[], RegExp][] = [
  [[], /--model-name is required/],
  [['-m', 'm', '--bogus'], /Unknown option '--bogus'/],
  [['-m', 'm', '--concurrency-range', '0:4'], /--concurrency-range: expected a positive integer, got '0'/],
  [['-m', 'm', '--concurrency-range', '8:4'], /end 4 is below start 8/],
  [['-m', 'm', '--concurrency-range', '1:4:x1'], /step 'x1'/],
  [['-m', 'm', '--concurrency-range', '1:4:5:6'], /expected start:end:step/],
  [['-m', 'm', '--concurrency-range', '1', '--request-rate-range', '10'], /exclusive/],
  [['-m', 'm', '--request-distribution', 'poisson'], /only with --request-rate-range/],
  [['-m', 'm', '--request-rate-range', '10', '--request-distribution', 'uniform'], /constant or poisson/],
  [['-m', 'm', '--protocol-format', 'xml'], /binary or json/],
  [['-m', 'm', '--shape', 'input'], /--shape: expected NAME:D1,D2/],
  [['-m', 'm', '--shape', 'input:3,-2'], /non-negative integers/],
  [['-m', 'm', '-b', '0'], /--batch-size: expected a positive integer/],
  [['-m', 'm', '-s', '0'], /--stability-percentage/],
  [['-m', 'm', '-u', 'https://x:1'], /only http:\/\//],
  [['-m', 'm', 'extra'], /Unexpected argument 'extra'/],
  [['-m', 'm', '--cpus', ''], /--cpus: expected a CPU list like 1, 8-15 or 1,3, got ''/],
  [['-m', 'm', '--cpus', 'a'], /--cpus: expected a CPU list/],
  [['-m', 'm', '--cpus', '3-1'], /--cpus: expected a CPU list .* got '3-1'/],
  [['-m', 'm', '--cpus', '1,'], /--cpus: expected a CPU list/],
  [['-m', 'm', '--cpus', '0-4:0'], /--cpus: expected a CPU list/],
  [['-m', 'm', '--cpus', '0x3'], /--cpus: expected a CPU list/],
];

for (const [argv, message] of bad) {
  test(`refused: ${argv.join(' ') || '(nothing)'}`, () => {
    assert.throws(() => parseBenchArgs(argv), (err: unknown) => {
      assert.ok(err instanceof InferenceError);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(err.message, message);
      return true;
    });
  });
}

test('the command exits 2 with the message on stderr for bad arguments, 0 for --help', async () => {
  let out = '';
  let err = '';
  const io = { out: (s: string) => { out += s; }, err: (s: string) => { err += s; }, isTty: false };
  assert.equal(await runBenchCommand(['-m', 'm', '--concurrency-range', 'a:b'], io), 2);
  assert.match(err, /^autoglm bench: --concurrency-range: expected a positive integer, got 'a'/);
  assert.equal(out, '');
  assert.equal(await runBenchCommand(['--help'], io), 0);
  assert.match(out, /Usage: autoglm bench -m MODEL/);
});

test('the command exits 1 with a clear message when the server is unreachable', async () => {
  let err = '';
  const io = { out: () => {}, err: (s: string) => { err += s; }, isTty: false };
  // A port that was just free: listen on port 0, note it, close.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  assert.equal(await runBenchCommand(['-m', 'm', '-u', `http://127.0.0.1:${port}`], io), 1);
  assert.match(err, new RegExp(`UNAVAILABLE: cannot reach http://127\\.0\\.0\\.1:${port}`));
});

const linux = existsSync('/proc/self/status') && spawnSync('taskset', ['-V']).status === 0;

/** Pins a child node process with pinClientTo and reports what every thread of it may run on afterwards. */
function pinInChild(list: string, env: NodeJS.ProcessEnv = process.env) {
  const module = new URL('../../src/bench/cpu-affinity.ts', import.meta.url).href;
  const script = `import { pinClientTo } from '${module}';
import { readdirSync, readFileSync } from 'node:fs';
try { const applied = pinClientTo(${JSON.stringify(list)});
  const threads = readdirSync('/proc/self/task').map((t) => /Cpus_allowed_list:\\s*(\\S+)/.exec(readFileSync('/proc/self/task/' + t + '/status', 'utf8'))[1]);
  console.log(JSON.stringify({ applied, threads }));
} catch (e) { console.log(JSON.stringify({ error: e.code + ': ' + e.message })); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env, cwd: new URL('../..', import.meta.url) });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { applied?: string; threads?: string[]; error?: string };
}

test('pinClientTo pins every thread of the process (in a child process, so this one stays unpinned)', { skip: linux ? false : 'needs Linux taskset' }, () => {
  const first = currentCpuList()!.split(/[,-]/)[0];
  const r = pinInChild(first);
  assert.equal(r.applied, first);
  assert.ok(r.threads!.length > 1, 'node has worker threads');
  assert.deepEqual(new Set(r.threads), new Set([first]));
});

test('pinClientTo: a CPU the machine lacks, and a missing taskset, are clear INVALID_ARGUMENT errors', { skip: linux ? false : 'needs Linux taskset' }, () => {
  assert.match(pinInChild('4095').error!, /^INVALID_ARGUMENT: --cpus 4095: taskset could not pin the client: .*\(CPUs available: [\d,-]+\)$/);
  assert.match(pinInChild('0', { ...process.env, PATH: '/nonexistent' }).error!, /^INVALID_ARGUMENT: --cpus 0: taskset not found/);
});

test('the command exits 2 when --cpus cannot be applied, before touching the server', { skip: linux ? false : 'needs Linux taskset' }, async () => {
  let err = '';
  const io = { out: () => {}, err: (s: string) => { err += s; }, isTty: false };
  assert.equal(await runBenchCommand(['-m', 'm', '-u', 'http://127.0.0.1:1', '--cpus', '4095'], io), 2);
  assert.match(err, /^autoglm bench: --cpus 4095: taskset could not pin the client/);
});
