/**
 * Step-wise generation (issue 18): the tiny_gpt example (a synthetic GPT-style decoder, docs/generation.md) served by
 * the generation scheduler, tokens streamed over gRPC ModelStreamInfer (one response per token). Contender: iteration-
 * level batching (`generation: iteration`: the batch is re-formed at every step). Baseline in the same server process:
 * request-level batching (`generation: request`: a batch forms when the instance is free and runs until all of its
 * sequences end). Both: one instance, 32 slots.
 *
 *   throughput: 32 clients, each a ModelStreamInfer stream sending its next prompt when the last one's final token
 *     arrives; prompts 8–64 bytes, max_tokens 8–128 (seeded, ignore_eos so lengths are exact); tokens/s,
 *     contender ÷ baseline, alternating windows (A B A B …), median and spread over the pairs.
 *   time to first token: unloaded (one request at a time) and at half load (open loop, Poisson arrivals at half the
 *     contender's measured saturation rate in requests/s), p99 of each from the intended send time; ratio per pair.
 *   copy cost: what the main thread spends per 32-row decode step gathering the cache rows and scattering the new
 *     keys/values (KvSlab), against onnxruntime's own time for the step, in this (client) process.
 *
 * Server pinned to --cpus SERVER (default CPU 0), this client to CLIENT (default CPU 1).
 *   node --import tsx bench/generation.ts [--cpus 0:1] [--clients 32] [--pairs 3] [--window-ms 5000] [--ttft-samples 1000]
 *     [--lengths uniform|log]
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { grpcClient } from '../test/grpc/helpers.js';
import { seededRandom } from '../src/core/index.js';
import { KvSlab, StepBuffers } from '../src/scheduler/iteration/index.js';
import { tinyGptConfig, tinyGptModel } from '../scripts/tiny-gpt.js';
import { fmtRatio, makeRepo, median, sleep } from './batching-common.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' },
  clients: { type: 'string', default: '32' },
  pairs: { type: 'string', default: '3' },
  'window-ms': { type: 'string', default: '5000' },
  'ttft-samples': { type: 'string', default: '1000' },
  lengths: { type: 'string', default: 'uniform' },
} });
const CLIENTS = Number(a.clients), PAIRS = Number(a.pairs), MS = Number(a['window-ms']), TTFT_SAMPLES = Number(a['ttft-samples']);
const PROMPTS = 512;
/** max_tokens: `uniform` on 8–128, or `log` (log-uniform on 8–128: many short answers, a few long ones). */
const LENGTHS = a.lengths!;
if (LENGTHS !== 'uniform' && LENGTHS !== 'log') throw new Error('--lengths is uniform or log');

const [serverCpus, clientCpus] = a.cpus!.split(':');
requireCommands({ taskset: 'util-linux' });
pinServersTo(serverCpus, clientCpus);

const gpt = tinyGptModel();
const MODELS = { iteration: 'gpt_iteration', request: 'gpt_request' } as const;
const repo = makeRepo(gpt.bytes, {
  [MODELS.iteration]: tinyGptConfig(MODELS.iteration, { batching: 'iteration', maxActive: 32 }),
  [MODELS.request]: tinyGptConfig(MODELS.request, { batching: 'request', maxActive: 32 }),
});
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0']);
const client = grpcClient(server.grpcTarget!);
type Obj = Record<string, any>;

/** Seeded prompts: printable text of 8–64 bytes, and a max_tokens of 8–128 each. */
const rnd = seededRandom(18);
const prompts = Array.from({ length: PROMPTS }, () => {
  const n = 8 + Math.floor(rnd() * 57);
  const text = Buffer.from(Array.from({ length: n }, () => 32 + Math.floor(rnd() * 95)));
  const u = rnd();
  return { text, maxTokens: LENGTHS === 'uniform' ? 8 + Math.floor(u * 121) : Math.min(128, Math.floor(8 * 16 ** u)) };
});
const requestOf = (model: string, k: number, id: string, maxTokens: number = prompts[k].maxTokens): Obj => ({
  model_name: model, id,
  inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [prompts[k].text] } }],
  parameters: { max_tokens: { int64_param: maxTokens }, ignore_eos: { bool_param: true } },
});

/** A ModelStreamInfer stream on which requests may overlap; each request's responses go to its own handler by id. */
class Stream {
  private readonly call: grpc.ClientDuplexStream<Obj, Obj>;
  private readonly handlers = new Map<string, (r: Obj) => void>();
  errors = 0;
  constructor() {
    this.call = (client.raw as any).ModelStreamInfer();
    this.call.on('data', (r: Obj) => {
      const id = r.infer_response?.id as string;
      if (r.error_message) {
        this.errors++;
        if (this.errors <= 3) console.error(`stream error: ${r.error_message}`);
      }
      this.handlers.get(id)?.(r);
    });
    this.call.on('error', () => {});
  }
  /** Sends one request; onToken(token, final) per response; resolves after the final one. */
  send(req: Obj, onToken: (token: number, final: boolean) => void): Promise<void> {
    return new Promise((resolve) => {
      this.handlers.set(req.id, (r) => {
        const final = r.error_message !== '' || r.infer_response.parameters?.triton_final_response?.bool_param === true;
        const raw = r.infer_response?.raw_output_contents?.[0];
        if (raw) onToken(Buffer.from(raw).readInt32LE(0), final);
        if (final) {
          this.handlers.delete(req.id);
          resolve();
        }
      });
      this.call.write(req);
    });
  }
  close(): void {
    this.call.end();
  }
}

/** Each prompt's tokens, as first seen per model: both ways must produce the same (answers checked while measuring). */
const seen: Record<string, Map<number, string>> = { [MODELS.iteration]: new Map(), [MODELS.request]: new Map() };
let nextId = 0;

interface Throughput { tokensPerSec: number; requestsPerSec: number }

async function closedLoop(model: string, ms: number): Promise<Throughput> {
  const streams = Array.from({ length: CLIENTS }, () => new Stream());
  let tokens = 0, requests = 0, measuring = false, stop = false;
  const loop = async (c: number) => {
    for (let i = 0; !stop; i++) {
      const k = (c * 16 + i) % PROMPTS;
      const got: number[] = [];
      await streams[c].send(requestOf(model, k, `r${nextId++}`), (t) => {
        got.push(t);
        if (measuring) tokens++;
      });
      if (measuring) requests++;
      if (!seen[model].has(k) && got.length === prompts[k].maxTokens) seen[model].set(k, got.join());
    }
  };
  const loops = Array.from({ length: CLIENTS }, (_, c) => loop(c));
  await sleep(Math.min(1000, ms / 4));
  measuring = true;
  await sleep(ms);
  measuring = false;
  stop = true;
  await Promise.all(loops);
  for (const s of streams) s.close();
  return { tokensPerSec: tokens / (ms / 1000), requestsPerSec: requests / (ms / 1000) };
}

const quantile = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

/** Time to first token, ms: one request at a time (max_tokens 1), or open loop at `rate` requests/s (Poisson). */
async function ttft(model: string, rate: number | undefined, samples: number): Promise<number[]> {
  const streams = Array.from({ length: rate ? 16 : 1 }, () => new Stream());
  const out: number[] = [];
  const one = async (i: number, intended: number) => {
    const k = (i * 7) % PROMPTS;
    let first = NaN;
    await streams[i % streams.length].send(requestOf(model, k, `t${nextId++}`, rate ? prompts[k].maxTokens : 1), () => {
      if (Number.isNaN(first)) first = performance.now() - intended;
    });
    return first;
  };
  if (!rate) {
    for (let i = 0; i < samples; i++) out.push(await one(i, performance.now()));
  } else {
    const arrivals = seededRandom(7);
    const pending: Promise<void>[] = [];
    let at = performance.now();
    for (let i = 0; i < samples; i++) {
      at += (-Math.log(1 - arrivals()) / rate) * 1000;
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(one(i, at).then((t) => { out.push(t); }));
    }
    await Promise.all(pending);
  }
  for (const s of streams) s.close();
  return out;
}

/** Main-thread copy per decode step (gather + scatter) against onnxruntime's step, 32 rows, 100 cached positions each. */
async function copyCost(): Promise<{ copyUs: number; runUs: number }> {
  const { layers, heads, dModel, vocab } = gpt.shape;
  const B = 32, P = 100, dh = dModel / heads;
  const slab = new KvSlab(B, layers, heads, 256, dh);
  const buffers = new StepBuffers();
  const rows = Array.from({ length: B }, (_, b) => ({ slot: b, cached: P - (b % 8), tokens: [65] }));
  const present = new Float32Array(B * layers * 2 * heads * dh);
  const session = await ort.InferenceSession.create(gpt.bytes, { intraOpNumThreads: 1 });
  const N = 300;
  let copy = 0, run = 0;
  for (let i = 0; i < N + 20; i++) {
    const t0 = performance.now();
    const built = buffers.build(rows, slab);
    slab.scatter(present, 1, rows.map((r) => r.slot), rows.map((r) => r.cached), rows.map(() => 1));
    const t1 = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of built.inputs) feeds[t.name] = new ort.Tensor(t.datatype === 'INT64' ? 'int64' : 'float32', t.data as Float32Array, [...t.shape]);
    const out = await session.run(feeds);
    const t2 = performance.now();
    if ((out.logits.data as Float32Array).length !== B * vocab) throw new Error('unexpected logits');
    if (i >= 20) {
      copy += t1 - t0;
      run += t2 - t1;
    }
  }
  await session.release();
  return { copyUs: (copy / N) * 1000, runUs: (run / N) * 1000 };
}

try {
  console.log(`server on CPU ${serverCpus}, client on CPU ${clientCpus}; tiny_gpt (synthetic, ${gpt.shape.layers} layers, d ${gpt.shape.dModel}), ` +
    `one instance, 32 slots; gRPC ModelStreamInfer, one response per token; ${CLIENTS} clients; max_tokens ${LENGTHS} on 8–128`);
  await closedLoop(MODELS.iteration, 1000); // warm both
  await closedLoop(MODELS.request, 1000);
  const ratios: number[] = [], iter: number[] = [], req: number[] = [], iterRps: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? [MODELS.iteration, MODELS.request] : [MODELS.request, MODELS.iteration];
    const r: Record<string, Throughput> = {};
    for (const m of order) r[m] = await closedLoop(m, MS);
    const it = r[MODELS.iteration], rq = r[MODELS.request];
    iter.push(it.tokensPerSec);
    req.push(rq.tokensPerSec);
    iterRps.push(it.requestsPerSec);
    ratios.push(it.tokensPerSec / rq.tokensPerSec);
    console.log(`pair ${p + 1}: iteration-level ${it.tokensPerSec.toFixed(0)} tokens/s (${it.requestsPerSec.toFixed(1)} req/s), ` +
      `request-level ${rq.tokensPerSec.toFixed(0)} tokens/s (${rq.requestsPerSec.toFixed(1)} req/s)`);
  }
  console.log(`throughput: iteration-level ÷ request-level = ${fmtRatio(ratios)} (medians ${median(iter).toFixed(0)} vs ${median(req).toFixed(0)} tokens/s)`);
  let same = 0, differ = 0;
  for (const [k, tokens] of seen[MODELS.iteration]) {
    const other = seen[MODELS.request].get(k);
    if (other !== undefined) other === tokens ? same++ : differ++;
  }
  console.log(`answers: ${same} prompts generated by both agree token for token, ${differ} differ`);

  const half = median(iterRps) / 2;
  const ttftRatios: number[] = [];
  await ttft(MODELS.iteration, undefined, PROMPTS); // every prompt length once (onnxruntime's first run of a shape costs more)
  for (let p = 0; p < PAIRS; p++) {
    const unloaded = await ttft(MODELS.iteration, undefined, TTFT_SAMPLES);
    const loaded = await ttft(MODELS.iteration, half, TTFT_SAMPLES);
    ttftRatios.push(quantile(loaded, 0.99) / quantile(unloaded, 0.99));
    console.log(`pair ${p + 1}: time to first token unloaded p50 ${quantile(unloaded, 0.5).toFixed(2)} / p99 ${quantile(unloaded, 0.99).toFixed(2)} ms, ` +
      `at half load (${half.toFixed(1)} req/s open loop) p50 ${quantile(loaded, 0.5).toFixed(2)} / p99 ${quantile(loaded, 0.99).toFixed(2)} ms`);
  }
  console.log(`time to first token p99: half load ÷ unloaded = ${fmtRatio(ttftRatios)} (${TTFT_SAMPLES} requests each)`);
  const cost = await copyCost();
  console.log(`copy per 32-row decode step (100 cached positions): ${cost.copyUs.toFixed(0)} µs gather+scatter vs ${cost.runUs.toFixed(0)} µs onnxruntime run (client CPU)`);
} finally {
  client.close();
  await server.close();
  repo.remove();
}
