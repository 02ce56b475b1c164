/**
 * `autoglm serve` with its gRPC frontend: the listening line (address, port, grpc:// URL), a call in flight when
 * SIGTERM comes is answered before the process exits 0, --allow-grpc=false serves HTTP alone, and a gRPC port that
 * is taken fails the start (exit 1), as tritonserver does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { seededFloats, slowModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { expectOk, grpcClient } from './helpers.js';

const MAIN = ['--import', 'tsx', 'src/cli/main.ts'];
const SLOW = `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
`;

test('serve prints the gRPC listening line; a call in flight at SIGTERM is answered, then exit 0', async () => {
  const repo = tempRepo('autoglm-grpc-serve-');
  try {
    writeModel(repo.dir, 'slow', slowModel(48), { config: SLOW });
    const child = spawn(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', '0',
      '--http-address', '127.0.0.1', '--allow-metrics=false', '--log-format', 'json', '--log-verbose', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines: Record<string, unknown>[] = [];
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const rec = JSON.parse(line) as Record<string, unknown>;
        lines.push(rec);
        if (rec.msg === 'gRPC server listening') resolve(rec);
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
    });
    assert.equal(listening.address, '127.0.0.1');
    assert.equal(listening.url, `grpc://127.0.0.1:${listening.port}`);
    const c = grpcClient(`127.0.0.1:${listening.port}`);
    try {
      assert.deepEqual(expectOk(await c.call('ServerLive', {})), { live: true });
      const x = seededFloats(256 * 512, 4, 1);
      const inFlight = c.call('ModelInfer', { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512] }],
        raw_input_contents: [Buffer.from(x.buffer, x.byteOffset, x.byteLength)] });
      // Once the server has the request (logged at trace level), ask it to stop.
      for (let i = 0; i < 5000 && !lines.some((l) => l.msg === 'infer request received'); i++) await new Promise((r) => setTimeout(r, 2));
      child.kill('SIGTERM');
      const reply = expectOk(await inFlight);
      assert.equal(reply.raw_output_contents[0].length, 256 * 512 * 4);
    } finally {
      c.close();
    }
    assert.equal(await exited, 0, stderr);
  } finally {
    repo.remove();
  }
});

test('--allow-grpc=false: no gRPC frontend; a gRPC port already taken: exit 1 saying so', async () => {
  const repo = tempRepo('autoglm-grpc-serve-');
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as AddressInfo).port;
  try {
    const r = spawnSync(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', String(port),
      '--http-address', '127.0.0.1', '--allow-metrics=false', '--log-format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /cannot listen for gRPC/);
    const off = spawn(process.execPath, [...MAIN, 'serve', '--model-repository', repo.dir, '--http-port', '0', '--grpc-port', String(port),
      '--allow-grpc=false', '--http-address', '127.0.0.1', '--allow-metrics=false', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const msgs: string[] = [];
    const httpPort = await new Promise<number>((resolve) => {
      createInterface({ input: off.stdout! }).on('line', (line) => {
        const rec = JSON.parse(line) as { msg: string; port?: number };
        msgs.push(rec.msg);
        if (rec.msg === 'HTTP server listening') resolve(rec.port!);
      });
    });
    // An answer means the start-up code ran to its end (signal handlers included): a signal sent earlier could
    // find the default action still in place on a busy machine.
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/v2/health/live`)).status, 200);
    off.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => off.on('exit', (c, sig) => resolve([c, sig])));
    assert.equal(code, 0, `signal ${signal}; logged: ${msgs.join(' | ')}`);
    assert.ok(!msgs.includes('gRPC server listening'));
  } finally {
    taken.close();
    repo.remove();
  }
});
