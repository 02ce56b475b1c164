/**
 * Is `autoglm bench`'s client right, and cheap? In one run, against one server, for each concurrency: windows of
 * our closed-loop engine and of autocannon (an independent client) alternate A B A B … after a warm-up, sending the
 * same pre-encoded request over the same number of keep-alive connections. Prints, per concurrency, the median
 * throughput ratio ours ÷ autocannon (min–max over the pairs), each client's CPU per request, and p50 latencies.
 *
 * Targets (the server runs in its own process; client and server share this machine's cores):
 *   --target floor   (default) the bare node:http floor server: the most requests/s any node:http server gives
 *   --target serve   `autoglm serve` on examples/model_repository, model mlp
 *   --url URL -m M   a server already running (e.g. `npm start`)
 *
 *   node --import tsx bench/client-vs-autocannon.ts [--target floor|serve] [--url URL -m MODEL]
 *        [--concurrency-range 1:64:x2] [--pairs 3] [--window-s 2] [--protocol-format binary|json] [--json FILE]
 *        [--metrics-url URL] [--pin]
 *
 * --simultaneous: both clients at once, each with the concurrency's connections (the server sees twice as many):
 * the same moment's noise hits both, so their throughputs should agree whatever else the machine does (CPU per
 * request is then not separable and shows as '-').
 * --pin (Linux, 2+ cores): the spawned server runs on CPU 0 and this process on CPU 1, so a client that spends more
 * CPU per request (autocannon does) cannot slow the server it measures; other processes still share both.
 *
 * Each client's count is also checked against the server's own count of answers over the same window (the floor
 * server's /floor/served, or nv_inference_request_success from --metrics-url): a ratio of 1 means the client
 * counted exactly what the server sent. Noise from other processes moves both clients' throughput; it does not
 * move that ratio.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ClosedLoopDriver } from '../src/bench/load-driver.js';
import { MeasurementWindow } from '../src/bench/measurement-window.js';
import { fetchModel, getJson, modelPath } from '../src/bench/model-metadata.js';
import { scrapeCounters } from '../src/bench/server-metrics.js';
import { parseRange } from '../src/bench/options.js';
import { encodeInferBody, encodeInferRequest } from '../src/bench/request-body.js';
import { targetOf } from '../src/bench/run-bench.js';
import { synthesizeInputs } from '../src/bench/synthetic-inputs.js';
import { pinServersTo, spawnAutoglmServe, spawnFloorServer, type ServerProcess } from './baselines/processes.js';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'floor' },
    url: { type: 'string' },
    'model-name': { type: 'string', short: 'm' },
    'concurrency-range': { type: 'string', default: '1:64:x2' },
    pairs: { type: 'string', default: '3' },
    'window-s': { type: 'string', default: '2' },
    'protocol-format': { type: 'string', default: 'binary' },
    json: { type: 'string' },
    'metrics-url': { type: 'string' },
    pin: { type: 'boolean', default: false },
    simultaneous: { type: 'boolean', default: false },
  },
});

export interface ClientWindow {
  readonly throughput: number;
  /** Responses the client counted ÷ responses the server says it sent meanwhile (undefined: no server count). */
  readonly countRatio: number | undefined;
  /** Client process CPU (user + system) per successful request, µs. */
  readonly cpuUsPerRequest: number;
  readonly p50Us: number;
  readonly errors: number;
}

export interface ComparisonRow {
  readonly concurrency: number;
  readonly ours: readonly ClientWindow[];
  readonly autocannon: readonly ClientWindow[];
  /** Median of ours ÷ autocannon throughput over the pairs, with min and max. */
  readonly ratio: { readonly median: number; readonly min: number; readonly max: number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Median of the windows' client ÷ server count ratios, or '-' without a server count. */
const countRatio = (ws: readonly ClientWindow[]) => {
  const rs = ws.map((w) => w.countRatio).filter((r): r is number => r !== undefined);
  return rs.length ? median(rs).toFixed(4) : '-';
};

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The server's own count of answered infers (the floor server's /floor/served, or Prometheus), if it has one. */
type ServerCount = () => Promise<number | undefined>;

async function oursWindow(url: string, request: Buffer, concurrency: number, seconds: number, count: ServerCount): Promise<ClientWindow> {
  const driver = new ClosedLoopDriver(targetOf(url), [request], concurrency);
  await new Promise((r) => setTimeout(r, 200)); // connections open and warm before the window starts
  // The server count is read just before and just after the window (a few ms of skew on a window of seconds).
  const before = await count();
  const window = new MeasurementWindow(undefined);
  const cpu0 = cpuUs();
  driver.sink = window;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  window.close();
  const cpu = cpuUs() - cpu0;
  const after = await count();
  await driver.stop(2000);
  return {
    throughput: window.throughput,
    countRatio: before !== undefined && after !== undefined ? window.ok / (after - before) : undefined,
    cpuUsPerRequest: cpu / Math.max(1, window.ok), p50Us: window.latency.percentile(50), errors: window.errorCount,
  };
}

async function autocannonWindow(url: string, path: string, body: Buffer, headers: Record<string, string>, concurrency: number, seconds: number, count: ServerCount): Promise<ClientWindow> {
  const before = await count();
  const cpu0 = cpuUs();
  const r = await autocannon({ url: url + path, method: 'POST', body, headers, connections: concurrency, duration: seconds });
  const cpu = cpuUs() - cpu0;
  const after = await count();
  const ok = r['2xx'];
  // autocannon's latency percentiles are in ms.
  return {
    throughput: ok / r.duration,
    countRatio: before !== undefined && after !== undefined ? ok / (after - before) : undefined,
    cpuUsPerRequest: cpu / Math.max(1, ok), p50Us: r.latency.p50 * 1000, errors: r.non2xx + r.errors + r.timeouts,
  };
}

const noCount: ServerCount = async () => undefined;

function serverCounter(url: string, target: string, model: string, metricsUrl: string | undefined): ServerCount {
  if (metricsUrl) {
    return async () => (await scrapeCounters(metricsUrl, model, ''))?.requestSuccess;
  }
  if (target === 'floor') {
    return async () => {
      const r = await getJson(`${url}/floor/served`).catch(() => undefined);
      return r?.status === 200 ? (r.body as { served: number }).served : undefined;
    };
  }
  return async () => undefined;
}

async function main(): Promise<void> {
  let server: ServerProcess | undefined;
  let url = args.url;
  let model = args['model-name'];
  if (args.pin) pinServersTo('0', '1');
  if (!url) {
    if (args.target === 'serve') {
      server = await spawnAutoglmServe(join(import.meta.dirname, '..', 'examples', 'model_repository'));
      model = 'mlp';
    } else if (args.target === 'floor') {
      server = await spawnFloorServer({});
      model = 'floor';
    } else {
      throw new Error(`--target: floor or serve, got '${args.target}'`);
    }
    url = server.url;
  }
  if (!model) throw new Error('-m MODEL is required with --url');
  try {
    const format = args['protocol-format'] === 'json' ? 'json' : 'binary';
    const remote = await fetchModel(url, model, '');
    const [inputs] = synthesizeInputs(remote, { batchSize: 1, shapes: {}, inputData: 'random' }, 1);
    const encoded = encodeInferBody(inputs, format);
    const path = `${modelPath(model, '')}/infer`;
    const request = encodeInferRequest(url, path, encoded);
    const headers = Object.fromEntries(Object.entries(encoded.headers).map(([k, v]) => [k, String(v)]));
    const levels = parseRange('--concurrency-range', args['concurrency-range']!, true);
    const pairs = Number(args.pairs);
    const count = serverCounter(url, args.url ? '' : args.target!, model, args['metrics-url']);
    const seconds = Number(args['window-s']);
    console.log(`client vs autocannon: ${url} model ${model} (${format}, ${request.length} B requests), ` +
      `${pairs} pairs of ${seconds} s windows per concurrency; server in its own process, ` +
      (args.pin ? 'pinned to CPU 0, clients to CPU 1 (other processes share both)' : "all sharing this machine's cores") +
      (args.simultaneous ? '; both clients run at the same time' : '; clients alternate'));
    // Warm-up: both clients, unmeasured (JIT, server caches, connections).
    await oursWindow(url, request, levels[0], 1, count);
    await autocannonWindow(url, path, encoded.body, headers, levels[0], 1, count);

    const rows: ComparisonRow[] = [];
    console.log('\n| concurrency | ours req/s | autocannon req/s | ratio median (min–max) | ours ÷ server count | autocannon ÷ server count | ours CPU µs/req | autocannon CPU µs/req | ours p50 ms | autocannon p50 ms | errors |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const c of levels) {
      const ours: ClientWindow[] = [];
      const theirs: ClientWindow[] = [];
      for (let p = 0; p < pairs; p++) {
        if (args.simultaneous) {
          const [o, a] = await Promise.all([
            oursWindow(url, request, c, seconds, noCount),
            autocannonWindow(url, path, encoded.body, headers, c, seconds, noCount),
          ]);
          ours.push(o);
          theirs.push(a);
        } else if (p % 2 === 0) {
          // Alternate which goes first, so a drift in the machine's load does not favour one client.
          ours.push(await oursWindow(url, request, c, seconds, count));
          theirs.push(await autocannonWindow(url, path, encoded.body, headers, c, seconds, count));
        } else {
          theirs.push(await autocannonWindow(url, path, encoded.body, headers, c, seconds, count));
          ours.push(await oursWindow(url, request, c, seconds, count));
        }
      }
      const ratios = ours.map((o, i) => o.throughput / theirs[i].throughput);
      const row: ComparisonRow = { concurrency: c, ours, autocannon: theirs, ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } };
      rows.push(row);
      const m = (xs: ClientWindow[], f: (w: ClientWindow) => number) => median(xs.map(f));
      console.log(`| ${c} | ${m(ours, (w) => w.throughput).toFixed(0)} | ${m(theirs, (w) => w.throughput).toFixed(0)} | ` +
        `${row.ratio.median.toFixed(3)} (${row.ratio.min.toFixed(3)}–${row.ratio.max.toFixed(3)}) | ` +
        `${countRatio(ours)} | ${countRatio(theirs)} | ` +
        (args.simultaneous ? '- | - | ' : `${m(ours, (w) => w.cpuUsPerRequest).toFixed(1)} | ${m(theirs, (w) => w.cpuUsPerRequest).toFixed(1)} | `) +
        `${(m(ours, (w) => w.p50Us) / 1000).toFixed(2)} | ${(m(theirs, (w) => w.p50Us) / 1000).toFixed(2)} | ` +
        `${ours.reduce((n, w) => n + w.errors, 0)} / ${theirs.reduce((n, w) => n + w.errors, 0)} |`);
    }
    const all = rows.map((r) => r.ratio.median);
    const within = rows.filter((r) => Math.abs(r.ratio.median - 1) <= 0.1).length;
    console.log(`\nthroughput ratio ours ÷ autocannon: median over concurrencies ${median(all).toFixed(3)}, ` +
      `${within}/${rows.length} concurrencies within ±10 %`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ url, model, format, pairs, seconds, rows }, null, 2) + '\n');
  } finally {
    await server?.close();
  }
}

await main();
