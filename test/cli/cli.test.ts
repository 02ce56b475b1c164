import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { slowModel, seededFloats, writeModel } from '../fixtures/models.js';
import { binaryBody, bytesOf, call, tempRepo } from '../http/helpers.js';

const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

test('autoglm --help and --version', () => {
  const help = spawnSync(process.execPath, [...MAIN, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: autoglm <command>/);
  assert.match(help.stdout, /serve/);
  const version = spawnSync(process.execPath, [...MAIN, '--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), pkg.version);
  const serveHelp = spawnSync(process.execPath, [...MAIN, 'serve', '--help'], { encoding: 'utf8' });
  assert.equal(serveHelp.status, 0);
  assert.match(serveHelp.stdout, /--model-repository DIR/);
});

test('unknown commands, unknown flags and bad values exit 2 with a message', () => {
  const cmd = spawnSync(process.execPath, [...MAIN, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(cmd.status, 2);
  assert.match(cmd.stderr, /unknown command 'frobnicate'/);
  const flag = spawnSync(process.execPath, [...MAIN, 'serve', '--model-repository', '.', '--http-prot', '1'], { encoding: 'utf8' });
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /--http-prot/);
  const value = spawnSync(process.execPath, [...MAIN, 'serve', '--model-repository', '.', '--http-port', 'x'], { encoding: 'utf8' });
  assert.equal(value.status, 2);
  assert.match(value.stderr, /--http-port must be an integer/);
  const none = spawnSync(process.execPath, [...MAIN, 'serve'], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--model-repository is required/);
});

for (const threads of ['0', '2']) test(`serve (--http-thread-count ${threads}), then SIGTERM during a request: the request completes, the process exits 0`, async () => {
  const repo = tempRepo('autoglm-cli-');
  try {
    writeModel(repo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
` });
    const child = spawn(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', '0',
      '--http-address', '127.0.0.1', '--log-format', 'json', '--log-verbose', '2', '--http-thread-count', threads], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines: Array<Record<string, unknown>> = [];
    const port = await new Promise<number>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (line) => {
        const rec = JSON.parse(line) as Record<string, unknown>;
        lines.push(rec);
        if (rec.msg === 'HTTP server listening') resolve(rec.port as number);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await call(base, '/v2/health/ready')).status, 200);

    const x = seededFloats(256 * 512, 4, 1);
    const { body, headers } = binaryBody({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }, [bytesOf(x)]);
    const received = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (lines.some((l) => l.msg === 'infer request received')) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    const inFlight = call(base, '/v2/models/slow/infer', { body, headers });
    await received; // the server has the request (logged at trace level): now ask it to stop
    child.kill('SIGTERM');
    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.equal(reply.binary.byteLength, 256 * 512 * 4);
    assert.equal(await exited, 0, stderr);
    assert.ok(lines.some((l) => l.msg === 'shut down'), 'logs its shutdown');
  } finally {
    repo.remove();
  }
});

test('--exit-on-error: a model that fails to load makes serve exit 1', () => {
  const repo = tempRepo('autoglm-cli-');
  try {
    writeModel(repo.dir, 'corrupt', Uint8Array.from([1, 2, 3, 4, 5]));
    const r = spawnSync(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', '0',
      '--http-address', '127.0.0.1', '--log-format', 'json', '--exit-on-error'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /--exit-on-error/);
    assert.match(r.stdout, /"model":"corrupt"/);
  } finally {
    repo.remove();
  }
});
