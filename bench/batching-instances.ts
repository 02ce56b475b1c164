/**
 * Instances on a CPU-only machine: the same cores as one instance with all threads, or as N instances with
 * cores/N threads each (what `instance_group { count: N }` gives), each behind the adaptive BatchingScheduler,
 * in-process (no HTTP): closed loop, `--concurrency` single-row requests always outstanding. Windows alternate;
 * figures are the median throughput ratio N instances ÷ 1 instance over the pairs, for a weight-bound MLP
 * (1024→8192→1024) and a compute-bound MatMul chain (8 × 512×512).
 *
 *   node --import tsx bench/batching-instances.ts [--pairs 3] [--window-ms 3000] [--concurrency 128] [--count 2]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelConfig } from '../src/core/index.js';
import { OnnxBackend } from '../src/backends/onnx/onnx-backend.js';
import type { ModelInstance } from '../src/backends/backend.js';
import { createBatchScheduler } from '../src/scheduler/create-scheduler.js';
import type { BatchingScheduler } from '../src/scheduler/batching-scheduler.js';
import { mlpModel, seededFloats, slowModel } from '../test/fixtures/models.js';
import { fmtRatio, sleep } from './batching-common.js';

const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '3000' },
  concurrency: { type: 'string', default: '128' }, count: { type: 'string', default: '2' },
} });
const PAIRS = Number(a.pairs), MS = Number(a['window-ms']), CONC = Number(a.concurrency), N = Number(a.count);
const cores = availableParallelism();
const backend = new OnnxBackend();
const dir = mkdtempSync(join(tmpdir(), 'autoglm-instances-'));

async function setup(name: string, bytes: Uint8Array, inName: string, outName: string, dim: number, outDim: number, count: number) {
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, bytes);
  const config: ModelConfig = {
    name, platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 128, version_policy: { latest: { num_versions: 1 } },
    input: [{ name: inName, data_type: 'TYPE_FP32', dims: [dim] }], output: [{ name: outName, data_type: 'TYPE_FP32', dims: [outDim] }],
    instance_group: [], parameters: {}, default_model_filename: `${name}.onnx`,
  };
  const threads = Math.max(1, Math.floor(cores / count));
  const instances: ModelInstance[] = await Promise.all(Array.from({ length: count }, (_, i) => backend.createInstance({
    model: name, version: '1', modelDir: dir, versionDir: dir, modelPath: path, config, instanceName: `${name}_${i}`,
    kind: 'KIND_CPU', threads,
  })));
  const s = createBatchScheduler({ model: name, version: '1', config, instances });
  await s.warmUp();
  return { s, instances, inName, dim, threads };
}

/** Closed loop in-process: CONC requests outstanding; rows/s over MS. */
async function window(m: { s: BatchingScheduler; inName: string; dim: number }): Promise<number> {
  const x = seededFloats(m.dim, 3, 1);
  let done = 0, running = true, counting = false;
  const loop = async () => {
    while (running) {
      await m.s.enqueue({ model: 'm', inputs: [{ name: m.inName, datatype: 'FP32', shape: [1, m.dim], data: x }] });
      if (counting) done++;
    }
  };
  const loops = Array.from({ length: CONC }, loop);
  await sleep(500);
  counting = true;
  const t0 = performance.now();
  await sleep(MS);
  counting = false;
  const tp = done / ((performance.now() - t0) / 1000);
  running = false;
  await Promise.all(loops);
  return tp;
}

const models: Array<[string, () => Promise<[Awaited<ReturnType<typeof setup>>, Awaited<ReturnType<typeof setup>>]>]> = [
  ['mlp 1024→8192→1024', async () => {
    const b = mlpModel(1024, 8192, 1024, 1).bytes;
    return [await setup('mlp1', b, 'input', 'output', 1024, 1024, 1), await setup('mlpN', b, 'input', 'output', 1024, 1024, N)];
  }],
  ['matmul chain 8×512²', async () => {
    const b = slowModel(8);
    return [await setup('slow1', b, 'x', 'y', 512, 512, 1), await setup('slowN', b, 'x', 'y', 512, 512, N)];
  }],
];
try {
  for (const [label, make] of models) {
    const [one, many] = await make();
    const ratios: number[] = [];
    const rows: string[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const t1 = await window(one);
      const tn = await window(many);
      ratios.push(tn / t1);
      rows.push(`${t1.toFixed(0)} vs ${tn.toFixed(0)}`);
    }
    console.log(`${label}: 1×${one.threads} threads vs ${N}×${many.threads} threads, req/s per pair: ${rows.join('; ')}`);
    console.log(`  ${N} instances ÷ 1 instance: ${fmtRatio(ratios)}`);
    await Promise.all([...one.instances, ...many.instances].map((i) => i.unload()));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
