/**
 * The HTTP/2 transport's ceiling (issue 11): node:http2 against the hand-written HTTP/2 server
 * (src/frontends/grpc/http2), each answering every gRPC call with the same fixed 4 KiB reply
 * (bench/baselines/h2-fixed-reply-server.ts), driven by the grpc-js load client. Servers pinned to CPU 0, the client
 * to CPU 1; windows alternate node:http2, h2, node:http2, …; medians over pairs (min–max). Per concurrency: req/s,
 * p50, and the server's CPU per call (/proc); ratios h2 ÷ node:http2.
 *
 *   flock /tmp/bench.lock node --import tsx bench/grpc-h2-transport.ts [--pairs 3] [--window-ms 3000] [--concurrency 1,128]
 */
import { parseArgs } from 'node:util';
import { median, sleep } from './batching-common.js';
import { processCpu } from './baselines/cpu-time.js';
import { GrpcLoadClient } from './baselines/grpc-load-client.js';
import { pinServersTo, requireCommands, spawnH2FixedReplyServer, type ServerProcess } from './baselines/processes.js';

const { values: a } = parseArgs({ options: {
  pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '1,128' },
} });

interface Win { rps: number; p50Us: number; cpuUs: number }
const STACKS = ['node-http2', 'h2'] as const;

const pct = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const spread = (xs: number[], d = 3) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;

async function window(server: ServerProcess, conc: number, ms: number): Promise<Win> {
  // A 4 KiB request, as the MLP's: the bytes are never decoded.
  const request = Buffer.alloc(4164);
  const client = new GrpcLoadClient(server.url, [request]);
  await client.ready();
  client.start(conc);
  await sleep(1000);
  const cpu0 = processCpu(server.child.pid!);
  const t0 = client.resetWindow();
  await sleep(ms);
  const w = client.window(t0);
  const cpu1 = processCpu(server.child.pid!);
  await client.stop();
  client.close();
  const errs = Object.entries(w.errors);
  if (errs.length) throw new Error(`errors: ${JSON.stringify(w.errors)}`);
  const cpuSec = cpu1.mainSec + cpu1.otherSec - cpu0.mainSec - cpu0.otherSec;
  return { rps: w.ok / w.seconds, p50Us: pct(w.latenciesUs, 50), cpuUs: (cpuSec / w.ok) * 1e6 };
}

async function main(): Promise<void> {
  requireCommands({ taskset: 'util-linux' });
  pinServersTo('0', '1');
  const servers = { 'node-http2': await spawnH2FixedReplyServer('node-http2'), h2: await spawnH2FixedReplyServer('h2') };
  try {
    for (const conc of a.concurrency.split(',').map(Number)) {
      const wins: Record<string, Win[]> = { 'node-http2': [], h2: [] };
      for (let p = 0; p < Number(a.pairs); p++) {
        for (const stack of STACKS) {
          const w = await window(servers[stack], conc, Number(a['window-ms']));
          wins[stack].push(w);
          console.log(`c=${conc} pair ${p + 1} ${stack.padEnd(10)} ${w.rps.toFixed(0)} req/s  p50 ${(w.p50Us / 1000).toFixed(3)} ms  server CPU ${w.cpuUs.toFixed(1)} µs/call`);
        }
      }
      const ratio = (f: (w: Win) => number) => wins.h2.map((w, i) => f(w) / f(wins['node-http2'][i]));
      const diff = wins.h2.map((w, i) => (w.p50Us - wins['node-http2'][i].p50Us) / 1000);
      console.log(`c=${conc}: throughput h2 ÷ node:http2 ${spread(ratio((w) => w.rps))}; p50 h2 − node:http2 ${spread(diff)} ms; ` +
        `server CPU/call h2 ÷ node:http2 ${spread(ratio((w) => w.cpuUs))} (${spread(wins.h2.map((w) => w.cpuUs), 1)} vs ${spread(wins['node-http2'].map((w) => w.cpuUs), 1)} µs)`);
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.close()));
  }
}

await main();
