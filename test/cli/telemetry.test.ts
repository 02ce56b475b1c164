/**
 * ONNX Runtime's telemetry is off unless the operator opts in (issue 14). Each server runs with a HOME and TMPDIR of
 * its own and without ORT_DISABLE_TELEMETRY in its environment, so what ONNX Runtime writes can be seen exactly:
 * `$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/` (device id, event database) and `$TMPDIR/mat-debug-<pid>.log`.
 * The opted-in run is the control: it proves the test would see the files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mlpModel, writeModel } from '../fixtures/models.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ORT_DIR = ['.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime'];

interface Run {
  readonly pid: number;
  /** Files ONNX Runtime left: under $HOME/.cache/Microsoft, and $TMPDIR/mat-debug-<pid>.log. */
  readonly ortFiles: string[];
}

function isolatedEnv(dir: string): NodeJS.ProcessEnv {
  const home = join(dir, 'home');
  const tmp = join(dir, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);
  // ONNX Runtime puts its cache under $XDG_CACHE_HOME when that is set, else $HOME/.cache.
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, TMPDIR: tmp, XDG_CACHE_HOME: join(home, '.cache') };
  delete env.ORT_DISABLE_TELEMETRY;
  return env;
}

function ortFiles(dir: string, pid: number): string[] {
  const found: string[] = [];
  const ortDir = join(dir, 'home', ...ORT_DIR);
  if (existsSync(ortDir)) found.push(...readdirSync(ortDir).map((f) => join(...ORT_DIR, f)));
  if (existsSync(join(dir, 'home', '.cache', 'Microsoft')) && !existsSync(ortDir)) found.push('.cache/Microsoft');
  if (existsSync(join(dir, 'tmp', `mat-debug-${pid}.log`))) found.push(`mat-debug-${pid}.log`);
  return found;
}

/** `autoglm serve` on a repository with one ONNX model: one inference, then SIGTERM. */
async function serveOnce(repo: string, extra: string[]): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-telemetry-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--model-repository', repo,
      '--http-port', '0', '--grpc-port', '0', '--allow-metrics=false', '--http-address', '127.0.0.1', '--log-format', 'json', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: isolatedEnv(dir), cwd: ROOT });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'HTTP server listening') resolve(rec.port!);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const r = await fetch(`http://127.0.0.1:${port}/v2/models/mlp/infer`, {
      method: 'POST', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }),
    });
    assert.equal(r.status, 200, await r.text());
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    return { pid: child.pid!, ortFiles: ortFiles(dir, child.pid!) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The library: InferenceServer.create in a plain Node program, one inference, close. */
async function libraryOnce(repo: string, allow: boolean): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-telemetry-'));
  const script = `
import { InferenceServer } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
const server = await InferenceServer.create({ modelRepositories: [${JSON.stringify(repo)}], allowOrtTelemetry: ${allow} });
const r = await server.infer({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }] });
if (r.outputs.length !== 1) throw new Error('no output');
await server.close();
`;
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
      { stdio: ['ignore', 'ignore', 'pipe'], env: isolatedEnv(dir), cwd: ROOT });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    return { pid: child.pid!, ortFiles: ortFiles(dir, child.pid!) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('telemetry: nothing written by default (CLI and library); written with --allow-ort-telemetry (the control)', async (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'autoglm-telemetry-repo-'));
  try {
    writeModel(repo, 'mlp', mlpModel(4, 8, 2).bytes);
    const [cliOff, libOff, cliOn] = await Promise.all([
      serveOnce(repo, []),
      libraryOnce(repo, false),
      serveOnce(repo, ['--allow-ort-telemetry']),
    ]);
    // Files from the runs with telemetry off fail the test wherever they appear.
    assert.deepEqual(cliOff.ortFiles, [], 'autoglm serve wrote no telemetry files');
    assert.deepEqual(libOff.ortFiles, [], 'InferenceServer.create wrote no telemetry files');
    if (cliOn.ortFiles.length === 0) {
      // Where ONNX Runtime writes nothing even when allowed (seen on one CI machine), the empty lists above prove nothing.
      t.skip('ONNX Runtime wrote no telemetry files even with --allow-ort-telemetry here: the control cannot see them');
      return;
    }
    assert.ok(cliOn.ortFiles.some((f) => f.endsWith('deviceid')), `with --allow-ort-telemetry ORT writes its files (${cliOn.ortFiles})`);
    assert.ok(cliOn.ortFiles.includes(`mat-debug-${cliOn.pid}.log`));
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
});
