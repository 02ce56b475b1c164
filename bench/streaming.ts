/**
 * Streaming responses of a decoupled model (docs/streaming.md): responses/s delivered over gRPC ModelStreamInfer
 * against HTTP generate_stream (Server-Sent Events), same server, same model, alternating windows.
 *
 * The model is the example repeat_int32 (2 instances): each request asks for --responses responses (no delay), so the
 * figure is the per-response cost of the whole path (worker → main thread → encoding → socket → client). --streams
 * requests are in flight per transport, each sending its next request when the last response of the one before came.
 * The client does no decoding beyond framing: gRPC messages counted by their length prefixes, SSE events by their
 * blank lines — what it measures is the server.
 *
 *   contender: SSE (generate_stream), baseline: gRPC (ModelStreamInfer); ratio SSE ÷ gRPC, median and spread.
 *
 * Server pinned to --cpus SERVER (default CPU 0), this client to CLIENT (default CPU 1).
 *   node --import tsx bench/streaming.ts [--cpus 0:1] [--streams 4] [--responses 2000] [--pairs 3] [--window-ms 3000]
 */
import { cpSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeGrpcInferRequest, frameGrpcMessage } from '../src/bench/grpc-messages.js';
import { fmtRatio, makeRepo, median } from './batching-common.js';
import { pinServersTo, requireCommands, spawnAutoglmServe } from './baselines/processes.js';

const { values: a } = parseArgs({ options: {
  cpus: { type: 'string', default: '0:1' },
  streams: { type: 'string', default: '4' },
  responses: { type: 'string', default: '2000' },
  pairs: { type: 'string', default: '3' },
  'window-ms': { type: 'string', default: '3000' },
} });
const STREAMS = Number(a.streams), N = Number(a.responses), PAIRS = Number(a.pairs), MS = Number(a['window-ms']);

const [serverCpus, clientCpus] = a.cpus!.split(':');
requireCommands({ taskset: 'util-linux' });
pinServersTo(serverCpus, clientCpus);

const repo = makeRepo(new Uint8Array(0), {});
cpSync(join(import.meta.dirname, '..', 'examples', 'model_repository', 'repeat_int32'), join(repo.dir, 'repeat_int32'), { recursive: true });
const server = await spawnAutoglmServe(repo.dir, ['--metrics-port', '0']);

const values = Int32Array.from({ length: N }, (_, i) => i);
const grpcRequest = frameGrpcMessage(encodeGrpcInferRequest('repeat_int32', '', [{ name: 'IN', datatype: 'INT32', shape: [N], data: values }]));
const sseBody = JSON.stringify({ IN: Array.from(values) });

interface Window { readonly perSec: number; readonly clientCpu: number }

/** Counts responses for `ms` with `loop` run by STREAMS workers (each calls `count` per response, returns at stop). */
async function measure(loop: (count: () => void, stopped: () => boolean) => Promise<void>, ms: number): Promise<Window> {
  let n = 0, measuring = false, stop = false;
  const count = () => { if (measuring) n++; };
  const running = Array.from({ length: STREAMS }, () => loop(count, () => stop));
  await new Promise((r) => setTimeout(r, 300)); // warm: every stream running
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(running);
  return { perSec: (n * 1000) / (t1 - t0), clientCpu: (cpu.user + cpu.system) / 1000 / (t1 - t0) };
}

/** One ModelStreamInfer call per worker: a request, its N responses counted from the length prefixes, the next request. */
function grpcLoop(session: ClientHttp2Session) {
  return (count: () => void, stopped: () => boolean) => new Promise<void>((resolve, reject) => {
    const call = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelStreamInfer',
      'content-type': 'application/grpc', te: 'trailers' });
    let pending: Buffer = Buffer.alloc(0);
    let got = 0;
    call.on('data', (d: Buffer) => {
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      let off = 0;
      while (pending.length - off >= 5) {
        const len = pending.readUInt32BE(off + 1);
        if (pending.length - off < 5 + len) break;
        off += 5 + len;
        count();
        if (++got === N) {
          got = 0;
          if (stopped()) call.end();
          else call.write(grpcRequest);
        }
      }
      pending = pending.subarray(off);
    });
    call.on('error', reject);
    call.on('close', () => resolve());
    call.write(grpcRequest);
  });
}

/** One keep-alive connection per worker: generate_stream requests one after another, events counted by blank lines. */
function sseLoop(agent: Agent) {
  const url = new URL('/v2/models/repeat_int32/generate_stream', server.url);
  return async (count: () => void, stopped: () => boolean) => {
    while (!stopped()) {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
          let tail = '';
          res.setEncoding('utf8');
          res.on('data', (s: string) => {
            const text = tail + s;
            let i = text.indexOf('\n\n');
            let from = 0;
            while (i !== -1) {
              count();
              from = i + 2;
              i = text.indexOf('\n\n', from);
            }
            tail = text.slice(from);
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(sseBody);
      });
    }
  };
}

const session = connect(`http://${server.grpcTarget}`);
const agent = new Agent({ keepAlive: true, maxSockets: STREAMS });
const ratios: number[] = [];
const grpcRates: number[] = [], sseRates: number[] = [];
try {
  console.log(`repeat_int32, ${N} responses per request, ${STREAMS} requests in flight, server on CPU ${serverCpus}, client on ${clientCpus}`);
  for (let p = 0; p < PAIRS; p++) {
    const g = await measure(grpcLoop(session), MS);
    const s = await measure(sseLoop(agent), MS);
    grpcRates.push(g.perSec);
    sseRates.push(s.perSec);
    ratios.push(s.perSec / g.perSec);
    console.log(`pair ${p + 1}: gRPC ${g.perSec.toFixed(0)} responses/s (client CPU ${(g.clientCpu * 100).toFixed(0)} %), ` +
      `SSE ${s.perSec.toFixed(0)} responses/s (client CPU ${(s.clientCpu * 100).toFixed(0)} %)`);
  }
  console.log(`gRPC ModelStreamInfer: median ${median(grpcRates).toFixed(0)} responses/s; SSE generate_stream: median ${median(sseRates).toFixed(0)} responses/s`);
  console.log(`SSE ÷ gRPC: ${fmtRatio(ratios)}`);
} finally {
  session.close();
  agent.destroy();
  await server.close();
  repo.remove();
}
