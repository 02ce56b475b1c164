/**
 * `npm run bench`: the project's benchmark suite in one run.
 *
 * 1. Canonical scenarios, measured with the `autoglm bench` engine against three servers, each its own process,
 *    all on this machine (client and servers share its cores): Open-AutoGLM (`autoglm serve` on the example
 *    repository), the naive server (node:http + session.run per request) and the bare HTTP floor (node:http
 *    answering the real server's exact response bytes). Closed loop over concurrencies, steps alternating between
 *    servers at each level; then open loop (Poisson) at fractions of Open-AutoGLM's measured peak.
 * 2. The in-process limit: onnxruntime-node session.run called directly at several batch sizes.
 * 3. Every other benchmark script under bench/ (http-overhead.ts, batching-*.ts, …), each as a child process,
 *    its output kept in bench/results/<name>.txt and its tail in the summary.
 *
 * Writes bench/results/summary.md (printed at the end), report.html and reports.json.
 *
 *   npm run bench [-- --quick] [-- --scripts none|all|a,b] [-- --concurrency-range 1:64:x2] [-- -p 2000 -r 5]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatComparisonTable } from '../src/bench/comparison.js';
import { renderHtmlReport } from '../src/bench/html-report.js';
import { Http1Connection, type HttpResult } from '../src/bench/http1-connection.js';
import { fetchModel, modelPath } from '../src/bench/model-metadata.js';
import { parseBenchArgs, parseRange } from '../src/bench/options.js';
import type { BenchReport, StepResult } from '../src/bench/report.js';
import { encodeInferBody, encodeInferRequest } from '../src/bench/request-body.js';
import { prepareBench, targetOf, type PreparedBench } from '../src/bench/run-bench.js';
import { synthesizeInputs } from '../src/bench/synthetic-inputs.js';
import type { FloorSpecFile } from './baselines/floor-server.js';
import { measureInProcessLimit, type InProcessLimit } from './baselines/in-process-limit.js';
import { spawnAutoglmServe, spawnFloorServer, spawnNaiveServer, type ServerProcess } from './baselines/processes.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scripts: { type: 'string', default: 'all' },
    'concurrency-range': { type: 'string' },
    'measurement-interval': { type: 'string', short: 'p' },
    'max-trials': { type: 'string', short: 'r' },
    'script-timeout-s': { type: 'string', default: '600' },
  },
});
const QUICK = args.quick;
const ROOT = join(import.meta.dirname, '..');
const BENCH = join(ROOT, 'bench');
const RESULTS = join(BENCH, 'results');
const REPO = join(ROOT, 'examples', 'model_repository');
const MODEL = 'mlp';
const MODEL_FILE = join(REPO, MODEL, '1', 'model.onnx');
const LEVELS = args['concurrency-range'] ?? (QUICK ? '1:16:x4' : '1:64:x2');
const INTERVAL = args['measurement-interval'] ?? (QUICK ? '500' : '2000');
const TRIALS = args['max-trials'] ?? (QUICK ? '3' : '5');
/**
 * bench/*.ts files that are not benchmarks to run here (besides `_scratch` files, `*.d.ts` and `*-common.ts`
 * shared modules): itself; the client check (run by hand, minutes per run); batching-plot.ts (draws docs/ figures
 * from a simulation, measures nothing, and would rewrite tracked files).
 */
const NOT_SCENARIOS = new Set(['run-all.ts', 'client-vs-autocannon.ts', 'batching-plot.ts']);
const isModule = (f: string) => f.endsWith('.d.ts') || f.endsWith('-common.ts') || f.startsWith('_');

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Sends one binary request to the real server and keeps its metadata and answer for the floor server to mimic. */
async function captureFloorSpec(url: string): Promise<FloorSpecFile> {
  const model = await fetchModel(url, MODEL, '');
  const [inputs] = synthesizeInputs(model, { batchSize: 1, shapes: {}, inputData: 'random' }, 1);
  const request = encodeInferRequest(url, `${modelPath(MODEL, '')}/infer`, encodeInferBody(inputs, 'binary'));
  const conn = new Http1Connection(targetOf(url));
  const r = await new Promise<HttpResult>((resolve) => conn.send(request, resolve));
  conn.close();
  if (r.status !== 200) throw new Error(`capturing the floor response: HTTP ${r.status || r.networkError}`);
  const body = Buffer.concat(r.body as Buffer[]);
  return {
    model: { name: MODEL, inputs: model.inputs, outputs: model.outputs, maxBatchSize: model.maxBatchSize ?? 0 },
    responseBase64: body.toString('base64'),
    headers: { 'Content-Type': 'application/octet-stream', ...(r.inferenceHeaderLength >= 0 ? { 'Inference-Header-Content-Length': r.inferenceHeaderLength } : {}) },
  };
}

/** A free loopback port (listen on 0, note it, close). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `--metrics-port N` for `autoglm serve` when this version has it (its help says so), else nothing. */
async function metricsFlags(): Promise<{ flags: string[]; url: string }> {
  const help = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--help'], { cwd: ROOT, encoding: 'utf8' });
  if (!`${help.stdout}${help.stderr}`.includes('--metrics-port')) return { flags: [], url: '' };
  const port = await freePort();
  return { flags: ['--metrics-port', String(port)], url: `http://127.0.0.1:${port}/metrics` };
}

interface Contender {
  readonly label: string;
  readonly bench: PreparedBench;
  readonly steps: StepResult[];
}

/** Each level measured on every contender in turn (A B C A B C …), so a drift in the machine's load is shared. */
async function sweep(contenders: readonly Contender[], levels: readonly number[], what: string): Promise<void> {
  for (const level of levels) {
    for (const c of contenders) {
      const s = await c.bench.measure(level);
      c.steps.push(s);
      log(`  ${what} ${level}: ${c.label} ${s.throughput.toFixed(1)} req/s, p50 ${(s.latency.p50Us / 1000).toFixed(2)} ms, ` +
        `p99 ${(s.latency.p99Us / 1000).toFixed(2)} ms${s.errorCount ? `, ${s.errorCount} errors` : ''}${s.stable ? '' : ' (not stable)'}`);
    }
  }
}

interface ScriptResult {
  readonly name: string;
  readonly code: number | null;
  readonly seconds: number;
  readonly tail: string;
}

function discoverScripts(): string[] {
  const all = readdirSync(BENCH).filter((f) => f.endsWith('.ts') && !isModule(f) && !NOT_SCENARIOS.has(f)).sort();
  if (args.scripts === 'none') return [];
  if (args.scripts === 'all') return all;
  const wanted = args.scripts!.split(',').map((s) => (s.endsWith('.ts') ? s : `${s}.ts`));
  return all.filter((f) => wanted.includes(f));
}

function runScript(name: string, timeoutS: number): Promise<ScriptResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('bench', name)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); process.stderr.write(c); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); process.stderr.write(c); });
    const timer = setTimeout(() => { out += `\n[run-all: killed after ${timeoutS} s]\n`; child.kill('SIGTERM'); }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      writeFileSync(join(RESULTS, name.replace(/\.ts$/, '.txt')), out);
      const lines = out.trimEnd().split('\n');
      resolve({ name, code, seconds: (performance.now() - t0) / 1000, tail: lines.slice(-25).join('\n') });
    });
  });
}

function summaryMarkdown(closed: BenchReport[], open: BenchReport[], limit: InProcessLimit | undefined, scripts: ScriptResult[]): string {
  const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const peak = Math.max(0, ...closed[0].steps.map((s) => s.throughput));
  const out: string[] = [
    `# Benchmark summary — ${when} UTC`,
    '',
    `${cpu}, ${availableParallelism()} cores shared by the load generator and every server (each server its own ` +
      `process), Node ${process.version}. Model \`${MODEL}\` from examples/model_repository, binary tensors, batch 1 ` +
      `per request; windows of ${INTERVAL} ms, at most ${TRIALS} per step. Reproduce: \`npm run bench${QUICK ? ' -- --quick' : ''}\`.`,
    '',
    `## Closed loop (concurrency ${LEVELS})`,
    '',
    formatComparisonTable(closed),
    '',
  ];
  if (closed[0].steps.some((s) => s.server)) {
    out.push('Open-AutoGLM server side (its Prometheus counters over the same windows), per request:', '',
      '| concurrency | queue ms | compute ms (input + infer + output) | mean batch executed |', '| --- | ---: | ---: | ---: |');
    for (const s of closed[0].steps) {
      const v = s.server;
      out.push(v ? `| ${s.level} | ${(v.queueUs / 1000).toFixed(3)} | ${((v.computeInputUs + v.computeInferUs + v.computeOutputUs) / 1000).toFixed(3)} | ${v.meanBatch.toFixed(2)} |` : `| ${s.level} | - | - | - |`);
    }
    out.push('');
  }
  if (limit) {
    out.push(`In-process limit (onnxruntime-node session.run back to back, ${limit.threads} thread): ` +
      limit.points.map((p) => `batch ${p.batch}: ${p.inferencesPerSec.toFixed(0)} inf/s (${p.runUs.toFixed(0)} µs/run)`).join('; ') +
      `. Open-AutoGLM's peak ${peak.toFixed(0)} req/s is ${((100 * peak) / limit.best.inferencesPerSec).toFixed(1)} % of the best (batch ${limit.best.batch}).`, '');
  }
  if (open.length > 0) {
    out.push(`## Open loop (Poisson arrivals at fractions of Open-AutoGLM's peak; latency from each intended send time)`, '', formatComparisonTable(open), '');
  }
  if (scripts.length > 0) {
    out.push('## Other benchmarks under bench/', '');
    for (const s of scripts) {
      out.push(`### bench/${s.name} (exit ${s.code}, ${s.seconds.toFixed(0)} s; full output in bench/results/${s.name.replace(/\.ts$/, '.txt')})`, '', '```', s.tail, '```', '');
    }
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const levels = parseRange('--concurrency-range', LEVELS, true);
  const common = ['-p', INTERVAL, '-r', TRIALS, '--warmup', QUICK ? '200' : '1000'];
  const servers: ServerProcess[] = [];
  const closed: BenchReport[] = [];
  const open: BenchReport[] = [];
  let limit: InProcessLimit | undefined;
  try {
    log('starting servers: autoglm serve, naive, floor');
    const metrics = await metricsFlags();
    const serve = await spawnAutoglmServe(REPO, metrics.flags);
    servers.push(serve);
    const naive = await spawnNaiveServer(MODEL_FILE, MODEL);
    servers.push(naive);
    const specFile = join(RESULTS, 'floor-spec.json');
    writeFileSync(specFile, JSON.stringify(await captureFloorSpec(serve.url)));
    const floor = await spawnFloorServer({ specFile });
    servers.push(floor);
    const targets = [['Open-AutoGLM', serve.url], ['naive', naive.url], ['floor', floor.url]] as const;

    const contenders: Contender[] = [];
    // Open-AutoGLM's steps carry the server-side queue/compute split when its metrics endpoint answers.
    const metricsFor = (label: string) => (label === 'Open-AutoGLM' && metrics.url ? ['--metrics-url', metrics.url] : []);
    for (const [label, url] of targets) {
      const bench = await prepareBench(parseBenchArgs(['-m', MODEL, '-u', url, '--concurrency-range', LEVELS, ...metricsFor(label), ...common]));
      contenders.push({ label, bench, steps: [] });
    }
    log(`closed loop, concurrency ${LEVELS}`);
    await sweep(contenders, levels, 'concurrency');
    closed.push(...contenders.map((c) => c.bench.report(c.steps, c.label)));

    const peak = Math.max(...contenders[0].steps.map((s) => s.throughput));
    const rates = (QUICK ? [0.5, 1.5] : [0.5, 0.8, 1.1, 1.5]).map((f) => Math.max(1, Math.round(f * peak)));
    log(`open loop, Poisson, rates ${rates.join(', ')} req/s`);
    const openers: Contender[] = [];
    for (const [label, url] of targets.slice(0, 2)) {
      const bench = await prepareBench(parseBenchArgs(['-m', MODEL, '-u', url, '--request-rate-range', String(rates[0]),
        '--request-distribution', 'poisson', ...metricsFor(label), ...common]));
      openers.push({ label, bench, steps: [] });
    }
    await sweep(openers, rates, 'rate');
    open.push(...openers.map((c) => c.bench.report(c.steps, `${c.label} (open loop)`)));
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
  log('in-process limit');
  limit = await measureInProcessLimit(MODEL_FILE, [1, 8, 64], QUICK ? 300 : 1000, 1);

  const scripts: ScriptResult[] = [];
  for (const name of discoverScripts()) {
    log(`running bench/${name}`);
    scripts.push(await runScript(name, Number(args['script-timeout-s'])));
  }

  const summary = summaryMarkdown(closed, open, limit, scripts);
  writeFileSync(join(RESULTS, 'summary.md'), summary);
  writeFileSync(join(RESULTS, 'reports.json'), JSON.stringify({ closed, open, inProcessLimit: limit }, null, 2));
  writeFileSync(join(RESULTS, 'report.html'), renderHtmlReport([...closed, ...open], {
    title: 'Open-AutoGLM benchmark suite',
    introHtml: `<p>Model ${MODEL}, binary tensors. Client and servers share ${availableParallelism()} cores. ` +
      'Series: Open-AutoGLM, the naive node:http + session.run server, the bare HTTP floor; closed loop, then open loop.</p>',
  }));
  process.stdout.write(`${summary}\nwritten: bench/results/summary.md, report.html, reports.json\n`);
}

await main();
