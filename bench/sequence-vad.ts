/**
 * Silero VAD streams through the sequence batcher (issue 18): 64 concurrent streams of 32 ms windows (512 samples at
 * 16 kHz), one request per window over HTTP (binary tensor data), each stream sending its next window when the last
 * is answered. Contender: the example's silero_vad (sequence_batching direct, max_batch_size 64: one batch holds a
 * window of every stream that has one ready). Baseline in the same server process: the same model with
 * max_batch_size 1 (oldest strategy, 64 candidate sequences): one stream's window per execution.
 *
 *   closed loop: windows/s, contender ÷ baseline, alternating windows (A B A B …), median and spread over the pairs;
 *   real time:   each stream paced at one window per 32 ms (2,000 windows/s in all): per-window latency p50/p99.
 *
 * Server pinned to --cpus SERVER (default CPU 0), this client to CLIENT (default CPU 1).
 *   node --import tsx bench/sequence-vad.ts [--cpus 0:1] [--streams 64] [--pairs 3] [--window-ms 4000]
 */
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Http1Connection, encodeRequest, type HttpResult } from '../src/bench/http1-connection.js';
import { targetOf } from '../src/bench/run-bench.js';
import { seededFloats } from '../test/fixtures/models.js';
import { fmtRatio, makeRepo, median, sleep } from './batching-common.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' },
  streams: { type: 'string', default: '64' },
  pairs: { type: 'string', default: '3' },
  'window-ms': { type: 'string', default: '4000' },
} });
const STREAMS = Number(a.streams), PAIRS = Number(a.pairs), MS = Number(a['window-ms']);
const WINDOW = 512, WINDOWS_PER_SEQUENCE = 200, REAL_TIME_MS = 32;

const [serverCpus, clientCpus] = a.cpus!.split(':');
requireCommands({ taskset: 'util-linux' });
pinServersTo(serverCpus, clientCpus);

const examples = join(import.meta.dirname, '..', 'examples', 'model_repository');
const repo = makeRepo(new Uint8Array(0), {});
cpSync(join(examples, 'silero_vad'), join(repo.dir, 'silero_vad'), { recursive: true });
cpSync(join(examples, 'silero_vad'), join(repo.dir, 'silero_vad_one'), { recursive: true });
const config = (await import('../scripts/silero-streaming.js')).SILERO_CONFIG;
writeFileSync(join(repo.dir, 'silero_vad_one', 'config.pbtxt'), config
  .replace('name: "silero_vad"', 'name: "silero_vad_one"').replace('max_batch_size: 64', 'max_batch_size: 1')
  .replace('direct { }', 'oldest { max_candidate_sequences: ' + STREAMS + ' }'));

const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0']);
const url = new URL(server.url);

/** Stream s's requests: WINDOWS_PER_SEQUENCE windows of faint noise with a louder burst, the first starting the sequence. */
function streamRequests(model: string, s: number): Buffer[] {
  const out: Buffer[] = [];
  const audio = seededFloats(WINDOW * WINDOWS_PER_SEQUENCE, 100 + s, 0.02);
  for (let i = 0; i < WINDOWS_PER_SEQUENCE; i++) {
    const x = audio.subarray(i * WINDOW, (i + 1) * WINDOW);
    const header = Buffer.from(JSON.stringify({
      parameters: i === 0 ? { sequence_id: s + 1, sequence_start: true } : { sequence_id: s + 1 },
      inputs: [{ name: 'audio', shape: [1, WINDOW], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      outputs: [{ name: 'probability', parameters: { binary_data: true } }],
    }));
    out.push(encodeRequest('POST', url.host, `/v2/models/${model}/infer`,
      { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': header.length },
      Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)])));
  }
  return out;
}

interface Result { perSec: number; p50Ms: number; p99Ms: number; failed: number }

/** Every stream sends its windows in order (sequence restarted every WINDOWS_PER_SEQUENCE); paced or back to back. */
async function run(model: string, ms: number, pacedMs: number | undefined): Promise<Result> {
  const conns = Array.from({ length: STREAMS }, () => new Http1Connection(targetOf(server.url)));
  const reqs = Array.from({ length: STREAMS }, (_, s) => streamRequests(model, s));
  const lat: number[] = [];
  let ok = 0, failed = 0, measuring = false, stop = false;
  const one = (s: number, i: number) => new Promise<HttpResult>((resolve) => conns[s].send(reqs[s][i], resolve));
  const loop = async (s: number) => {
    // Streams start spread over one pacing period, as independent clients would.
    if (pacedMs) await sleep((s / STREAMS) * pacedMs);
    let next = performance.now();
    for (let i = 0; !stop; i = (i + 1) % WINDOWS_PER_SEQUENCE) {
      const t0 = performance.now();
      const r = await one(s, i);
      const t1 = performance.now();
      if (measuring) {
        if (r.status === 200) {
          ok++;
          lat.push(t1 - (pacedMs ? Math.min(t0, next) : t0));
        } else failed++;
      }
      if (r.status !== 200 && failed < 3 && measuring) console.error(`stream ${s}: HTTP ${r.status} ${Buffer.concat(r.body).toString().slice(0, 200)}`);
      if (pacedMs) {
        next += pacedMs;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }
  };
  const loops = Array.from({ length: STREAMS }, (_, s) => loop(s));
  await sleep(Math.min(1000, ms / 4));
  measuring = true;
  await sleep(ms);
  measuring = false;
  stop = true;
  await Promise.all(loops);
  lat.sort((x, y) => x - y);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { perSec: ok / (ms / 1000), p50Ms: q(0.5), p99Ms: q(0.99), failed };
}

try {
  console.log(`server on CPU ${serverCpus}, client on CPU ${clientCpus}; ${STREAMS} streams of ${WINDOW}-sample (32 ms) windows, HTTP binary, one request per window`);
  const ratios: number[] = [];
  const seq: number[] = [], one: number[] = [];
  await run('silero_vad', 1000, undefined); // warm both
  await run('silero_vad_one', 1000, undefined);
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? ['silero_vad', 'silero_vad_one'] : ['silero_vad_one', 'silero_vad'];
    const r: Record<string, Result> = {};
    for (const m of order) r[m] = await run(m, MS, undefined);
    seq.push(r.silero_vad.perSec);
    one.push(r.silero_vad_one.perSec);
    ratios.push(r.silero_vad.perSec / r.silero_vad_one.perSec);
    console.log(`pair ${p + 1}: sequence batching ${r.silero_vad.perSec.toFixed(0)} windows/s (p99 ${r.silero_vad.p99Ms.toFixed(1)} ms), ` +
      `one stream at a time ${r.silero_vad_one.perSec.toFixed(0)} windows/s (p99 ${r.silero_vad_one.p99Ms.toFixed(1)} ms)` +
      (r.silero_vad.failed + r.silero_vad_one.failed > 0 ? `, failed ${r.silero_vad.failed}/${r.silero_vad_one.failed}` : ''));
  }
  console.log(`closed loop: sequence batching ÷ one stream at a time = ${fmtRatio(ratios)} (medians ${median(seq).toFixed(0)} vs ${median(one).toFixed(0)} windows/s)`);
  for (const m of ['silero_vad', 'silero_vad_one']) {
    const rt = await run(m, MS, REAL_TIME_MS);
    console.log(`real time (${STREAMS} streams × 1 window / ${REAL_TIME_MS} ms = ${(STREAMS * 1000 / REAL_TIME_MS).toFixed(0)}/s offered), ${m}: ` +
      `${rt.perSec.toFixed(0)} windows/s answered, latency p50 ${rt.p50Ms.toFixed(1)} ms, p99 ${rt.p99Ms.toFixed(1)} ms${rt.failed ? `, failed ${rt.failed}` : ''}`);
  }
} finally {
  await server.close();
  repo.remove();
}
