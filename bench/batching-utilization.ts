/**
 * Where the throughput of benchmark 1 goes (issue 3): the MLP 1024→8192→1024 at concurrency 128 over HTTP, 1-row
 * binary requests, read from the server's own /metrics — batches and their mean size, the server's compute time per
 * batch (row-weighted mean of nv_inference_compute_infer_duration_us) against `session.run` of the same batch size
 * in-process (measured right after, with every core), and how busy the instance was (batches × compute ÷ window).
 * Server compute slower than in-process = the model's threads lose CPU to the HTTP work and the load client; an
 * instance less than ~100 % busy = gaps between batches.
 *
 *   node --import tsx bench/batching-utilization.ts [--windows 2] [--window-ms 4000] [--http-threads 0]
 */
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import * as ort from 'onnxruntime-node';
import { mlpModel } from '../test/fixtures/models.js';
import { spawnAutoglmServe } from './baselines/processes.js';
import { binaryRequests, closedLoop, expectedOutputs, makeRepo, pbtxt } from './batching-common.js';
const { values: a } = parseArgs({ options: {
  windows: { type: 'string', default: '2' }, 'window-ms': { type: 'string', default: '4000' }, 'http-threads': { type: 'string', default: '0' },
} });
const IN = 1024, OUT = 1024;
const { bytes } = mlpModel(IN, 8192, OUT, 1);
const repo = makeRepo(bytes, { mlp: pbtxt('mlp', 128, IN, OUT, '') });
const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: availableParallelism() });
/** A port free now (the server binds it a moment later). */
const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as AddressInfo;
    s.close(() => resolve(port));
  });
});
const metricsPort = await freePort();
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', String(metricsPort), '--http-thread-count', a['http-threads']!]);
const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
const scrape = async () => {
  const t = await (await fetch(metricsUrl)).text();
  const v = (n: string) => Number(t.split('\n').find((l) => l.startsWith(n + '{') && l.includes('model="mlp"'))?.split(' ').pop());
  return { exec: v('nv_inference_exec_count'), succ: v('nv_inference_request_success'), infer: v('nv_inference_compute_infer_duration_us'), bsum: v('autoglm_batch_size_sum'), bcount: v('autoglm_batch_size_count') };
};
try {
  const r = binaryRequests(server.url, 'mlp', IN, 32);
  const exp = await expectedOutputs(session, r.inputs, IN);
  const check = { wrong: 0 };
  for (let i = 0; i < Number(a.windows); i++) {
    const m0 = await scrape(); const t0 = performance.now();
    const w = await closedLoop(server.url, r.requests, exp, 128, 0, Number(a['window-ms']), check);
    const m1 = await scrape(); const secs = (performance.now() - t0) / 1000;
    const execs = m1.exec - m0.exec, rows = m1.bsum - m0.bsum, reqs = m1.succ - m0.succ;
    const meanRows = rows / execs;
    const tWeighted = (m1.infer - m0.infer) / reqs; // row-weighted mean batch compute, µs
    const busy = (execs * tWeighted) / 1e6 / secs;
    const b = Math.round(meanRows);
    const x = new ort.Tensor('float32', new Float32Array(b * IN), [b, IN]);
    await session.run({ input: x }); const ts: number[] = [];
    for (let k = 0; k < 10; k++) { const s0 = performance.now(); await session.run({ input: x }); ts.push(performance.now() - s0); }
    ts.sort((p, q) => p - q);
    console.log(`${w.throughput.toFixed(0)} req/s; ${execs} batches, mean ${meanRows.toFixed(1)} rows; server compute per batch ~${(tWeighted / 1000).toFixed(2)} ms vs in-process ${ts[5].toFixed(2)} ms; instance busy ~${(busy * 100).toFixed(0)} %`);
  }
} finally { await server.close(); repo.remove(); }
