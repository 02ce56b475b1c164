/** `autoglm serve --metrics-port 0`: Prometheus text on its own port, fed by the batching scheduler. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';

test('serve exposes Triton-named metrics on --metrics-port; concurrent requests are batched', async () => {
  const repo = tempRepo('autoglm-metrics-');
  const { bytes, reference } = mlpModel(16, 32, 4, 2);
  writeModel(repo.dir, 'mlp', bytes, { config: `
max_batch_size: 32
input [ { name: "input" data_type: TYPE_FP32 dims: [ 16 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 4 ] } ]
` });
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model-repository', repo.dir,
    '--http-port', '0', '--grpc-port', '0', '--http-address', '127.0.0.1', '--metrics-port', '0', '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const ports = await new Promise<{ http: number; metrics: number }>((resolve, reject) => {
      let http = 0;
      createInterface({ input: child.stdout }).on('line', (line) => {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'HTTP server listening') http = rec.port!;
        if (rec.msg === 'metrics server listening') resolve({ http, metrics: rec.port! });
      });
      void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
    });
    const n = 40;
    const xs = Array.from({ length: n }, (_, i) => seededFloats(16, 50 + i, 1));
    const replies = await Promise.all(xs.map(async (x) => {
      const r = await fetch(`http://127.0.0.1:${ports.http}/v2/models/mlp/infer`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...x] }] }),
      });
      return (await r.json()) as { outputs: Array<{ data: number[] }> };
    }));
    replies.forEach((r, i) => {
      const want = reference(xs[i], 1);
      r.outputs[0].data.forEach((v, j) => assert.ok(Math.abs(v - want[j]) < 1e-4, `request ${i}`));
    });
    const res = await fetch(`http://127.0.0.1:${ports.metrics}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /nv_inference_request_success\{model="mlp",version="1"\} 40\n/);
    assert.match(text, /nv_inference_count\{model="mlp",version="1"\} 40\n/);
    assert.match(text, /nv_inference_pending_request_count\{model="mlp",version="1"\} 0\n/);
    assert.match(text, /autoglm_batch_size_count\{model="mlp",version="1"\} \d+\n/);
    const execs = Number(/nv_inference_exec_count\{model="mlp",version="1"\} (\d+)/.exec(text)![1]);
    assert.ok(execs >= 1 && execs <= n, `${execs} executions`);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    repo.remove();
  }
});
