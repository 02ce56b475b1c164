/**
 * Shutdown that always ends (issue 14): the server exits after SIGTERM even when the reader of its stdout is gone,
 * within --exit-timeout-secs when in-flight work never finishes, and at once on a second signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { slowModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];

/**
 * A JS model whose execute never returns for x = 42 (other inputs pass through, so its load-time warm-up passes):
 * such requests stay in flight, and a graceful shutdown never completes.
 */
function writeHangingModel(repo: string): void {
  const dir = join(repo, 'hang');
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, 'config.pbtxt'), `name: "hang"
backend: "js"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
`);
  writeFileSync(join(dir, '1', 'model.mjs'), `export function execute([x]) {
  if (x.data[0] === 42) return new Promise(() => {});
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }];
}
`);
}

/** Whether `pid` has ended (gone, or a zombie nobody reaps yet). */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitEnded(pid: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!ended(pid)) {
    if (Date.now() - t0 > ms) return -1;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** `autoglm serve` with JSON logs; resolves with its HTTP port once it listens. */
function serve(repo: string, extra: string[]): { child: ChildProcess; port: Promise<number>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; lines: Array<Record<string, unknown>> } {
  const child = spawn(process.execPath, [...MAIN, 'serve', '--model-repository', repo, '--http-port', '0', '--grpc-port', '0',
    '--allow-metrics=false', '--http-address', '127.0.0.1', '--log-format', 'json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines: Array<Record<string, unknown>> = [];
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      lines.push(rec);
      if (rec.msg === 'HTTP server listening') resolve(rec.port as number);
    });
    void exited.then((e) => reject(new Error(`exited ${e.code ?? e.signal} before listening: ${stderr}`)));
  });
  return { child, port, exited, lines };
}

const hangRequest = (port: number) => fetch(`http://127.0.0.1:${port}/v2/models/hang/infer`, {
  method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [42] }] }),
}).then((r) => r.status, () => -1);

/**
 * The parent: spawns the server with its stdout on a pipe it reads, sends one request to a slow model, and when the
 * server has it (trace log), prints the server's pid, sends SIGTERM and exits at once: the server's stdout then
 * has no reader (EPIPE), while it still logs its shutdown.
 */
const PARENT = `
const { spawn } = require('node:child_process');
const { createInterface } = require('node:readline');
const [main, repo] = JSON.parse(process.argv[1]);
const child = spawn(process.execPath, ['--import', 'tsx', main, 'serve', '--model-repository', repo, '--http-port', '0',
  '--grpc-port', '0', '--allow-metrics=false', '--http-address', '127.0.0.1', '--log-format', 'json', '--log-verbose', '2',
  '--exit-timeout-secs', '10'], { stdio: ['ignore', 'pipe', 'ignore'] });
createInterface({ input: child.stdout }).on('line', (line) => {
  const rec = JSON.parse(line);
  if (rec.msg === 'HTTP server listening') {
    const x = new Array(256 * 512).fill(0.5);
    fetch('http://127.0.0.1:' + rec.port + '/v2/models/slow/infer', { method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], data: x }] }) }).catch(() => {});
  }
  if (rec.msg === 'infer request received') {
    process.stdout.write(child.pid + '\\n');
    child.kill('SIGTERM');
    process.exit(0);
  }
});
`;

test('orphaned stdout: the parent reading the server\'s stdout exits right after SIGTERM; the server still exits', { timeout: 90_000 }, async () => {
  const repo = tempRepo('autoglm-shutdown-');
  try {
    writeModel(repo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
` });
    const parent = spawn(process.execPath, ['-e', PARENT, JSON.stringify([join(ROOT, 'src/cli/main.ts'), repo.dir])],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
    let out = '';
    parent.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const parentCode = await new Promise<number | null>((resolve) => parent.on('exit', (code) => resolve(code)));
    assert.equal(parentCode, 0);
    const pid = Number(out.trim());
    assert.ok(pid > 0, `the parent printed the server's pid (got '${out}')`);
    // Well within its --exit-timeout-secs 10: the batch in flight finishes, the models unload, it exits.
    const took = await waitEnded(pid, 15_000);
    if (took < 0) process.kill(pid, 'SIGKILL');
    assert.ok(took >= 0, 'the server exited within its exit timeout');
  } finally {
    repo.remove();
  }
});

test('--exit-timeout-secs: a shutdown whose in-flight work never finishes ends the process anyway', { timeout: 90_000 }, async () => {
  const repo = tempRepo('autoglm-shutdown-');
  let s: ReturnType<typeof serve> | undefined;
  try {
    writeHangingModel(repo.dir);
    s = serve(repo.dir, ['--exit-timeout-secs', '1']);
    const port = await s.port;
    const reply = hangRequest(port);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const { signal } = await s.exited;
    const took = Date.now() - t0;
    assert.equal(signal, 'SIGTERM', 'ends by its signal, as a process that did not handle it');
    assert.ok(took >= 900 && took < 5000, `exited after ${took} ms`);
    assert.ok(s.lines.some((l) => /exit-timeout-secs 1/.test(String(l.msg))), 'says why');
    assert.equal(await reply, -1, 'the hung request is cut, not answered');
  } finally {
    s?.child.kill('SIGKILL');
    repo.remove();
  }
});

test('a second signal exits at once, whatever is in flight', { timeout: 90_000 }, async () => {
  const repo = tempRepo('autoglm-shutdown-');
  let s: ReturnType<typeof serve> | undefined;
  try {
    writeHangingModel(repo.dir);
    s = serve(repo.dir, ['--exit-timeout-secs', '600']);
    const port = await s.port;
    void hangRequest(port);
    await new Promise((r) => setTimeout(r, 300));
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(s.child.exitCode, null, 'still draining after the first signal');
    const t0 = Date.now();
    s.child.kill('SIGINT');
    const { signal } = await s.exited;
    assert.ok(Date.now() - t0 < 2000, `exited ${Date.now() - t0} ms after the second signal`);
    assert.equal(signal, 'SIGTERM', 'the first signal, raised again with its default action');
    assert.ok(s.lines.some((l) => /second signal/.test(String(l.msg))));
  } finally {
    s?.child.kill('SIGKILL');
    repo.remove();
  }
});

test('stdout whose reader is gone (EPIPE): the server keeps serving, counts the lines it drops, and exits 0', { timeout: 90_000 }, async () => {
  const repo = tempRepo('autoglm-shutdown-');
  let child: ChildProcess | undefined;
  try {
    writeHangingModel(repo.dir);
    child = spawn(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', '0',
      '--metrics-port', '0', '--http-address', '127.0.0.1', '--log-format', 'json', '--log-verbose', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.on('exit', (code, signal) => resolve({ code, signal })));
    const ports = await new Promise<{ http: number; metrics: number }>((resolve, reject) => {
      let http = 0;
      createInterface({ input: child!.stdout! }).on('line', (line) => {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'HTTP server listening') http = rec.port!;
        if (rec.msg === 'metrics server listening') resolve({ http, metrics: rec.port! });
      });
      void exited.then((e) => reject(new Error(`exited ${e.code ?? e.signal} before listening`)));
    });
    child.stdout!.destroy(); // the reader goes away: every later write to the server's stdout fails with EPIPE
    const infer = (v: number) => fetch(`http://127.0.0.1:${ports.http}/v2/models/hang/infer`, {
      method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [v] }] }),
    });
    for (let i = 0; i < 20; i++) assert.equal((await infer(i)).status, 200); // each logs at trace level
    const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    const dropped = Number(/^autoglm_log_lines_dropped (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(dropped >= 20, `autoglm_log_lines_dropped ${dropped}`);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
  } finally {
    child?.kill('SIGKILL');
    repo.remove();
  }
});

test('a signal while models load: no port opens, the loads finish and unload, exit 0', { timeout: 90_000 }, async () => {
  const repo = tempRepo('autoglm-shutdown-');
  try {
    // A JS model whose initialize takes 1.5 s: the signal arrives while it loads.
    const dir = join(repo.dir, 'sleepy');
    mkdirSync(join(dir, '1'), { recursive: true });
    writeFileSync(join(dir, 'config.pbtxt'), `backend: "js"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
`);
    writeFileSync(join(dir, '1', 'model.mjs'), `export async function initialize() { await new Promise((r) => setTimeout(r, 1500)); }
export function execute([x]) { return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }]; }
`);
    const s = serve(repo.dir, ['--log-verbose', '1']);
    s.port.catch(() => {});
    while (!s.lines.some((l) => l.msg === 'loading model')) await new Promise((r) => setTimeout(r, 20));
    s.child.kill('SIGTERM');
    const e = await s.exited;
    assert.deepEqual(e, { code: 0, signal: null });
    const msgs = s.lines.map((l) => l.msg);
    assert.ok(msgs.includes('shut down'), msgs.join(' | '));
    assert.ok(!msgs.includes('HTTP server listening'), 'no frontend started after the signal');
  } finally {
    repo.remove();
  }
});
