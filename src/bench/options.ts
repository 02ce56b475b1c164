/**
 * `autoglm bench` options: flag names follow Triton's perf_analyzer where one exists. Parsed and validated once,
 * defaults in one place, then frozen; every mistake is an INVALID_ARGUMENT InferenceError naming the flag.
 */
import { parseArgs } from 'node:util';
import { InferenceError, invalidArgument } from '../core/index.js';
import { checkCpuList } from './cpu-affinity.js';

export type RequestDistribution = 'constant' | 'poisson';
export type ProtocolFormat = 'binary' | 'json';
/** perf_analyzer's -i: KServe v2 over HTTP/1.1, or over gRPC (inference.GRPCInferenceService). */
export type Protocol = 'http' | 'grpc';
/** 'random' | 'zero' | a path to a JSON file of input values. */
export type InputDataSource = string;

/** Closed loop: a fixed number of requests in flight. Open loop: a fixed arrival rate, whatever the server does. */
export type LoadPlan =
  | { readonly mode: 'concurrency'; readonly levels: readonly number[] }
  | { readonly mode: 'rate'; readonly levels: readonly number[]; readonly distribution: RequestDistribution };

export interface BenchOptions {
  readonly model: string;
  /** Empty = the server's choice. */
  readonly modelVersion: string;
  /** Base URL: http://127.0.0.1:8000, or for gRPC grpc://127.0.0.1:8001. */
  readonly url: string;
  readonly protocol: Protocol;
  /** HTTP only; gRPC always sends raw_input_contents. */
  readonly protocolFormat: ProtocolFormat;
  readonly load: LoadPlan;
  readonly batchSize: number;
  readonly shapes: Readonly<Record<string, readonly number[]>>;
  readonly inputData: InputDataSource;
  readonly measurementIntervalMs: number;
  /** Three consecutive windows agree when each is within this % of their mean (throughput and mean latency). */
  readonly stabilityPercentage: number;
  readonly maxTrials: number;
  /** Load applied before the first window of each step, not measured. */
  readonly warmupMs: number;
  /** Open loop: the most connections (requests in flight) the client opens; beyond it requests wait client-side. */
  readonly maxConnections: number;
  /** Prometheus endpoint for the server-side queue/compute split; empty = none. */
  readonly metricsUrl: string;
  readonly jsonFile: string;
  readonly csvFile: string;
  readonly htmlFile: string;
  /** Live progress line (on by default on a TTY). */
  readonly progress: boolean;
  /** CPUs (taskset list) `autoglm bench` pins itself to before the run (pinClientTo); empty = not pinned. */
  readonly cpus: string;
}

export const DEFAULTS = {
  url: 'http://127.0.0.1:8000',
  grpcUrl: '127.0.0.1:8001',
  protocolFormat: 'binary',
  batchSize: 1,
  inputData: 'random',
  measurementIntervalMs: 5000,
  stabilityPercentage: 10,
  maxTrials: 10,
  warmupMs: 1000,
  maxConnections: 1024,
} as const;

export const USAGE = `Usage: autoglm bench -m MODEL [options]

Measures a KServe v2 server (Open-AutoGLM, Triton, any v2 HTTP or gRPC server) under load.

Target
  -m, --model-name NAME            model to load (required)
  -x, --model-version V            model version (default: the server's choice)
  -i, --protocol P                 http (default) | grpc (inference.GRPCInferenceService, raw_input_contents)
  -u, --url URL                    server URL (default ${DEFAULTS.url}; gRPC: host:port, default ${DEFAULTS.grpcUrl})
      --protocol-format F          HTTP: binary (tensor extension, default) | json
      --metrics-url URL            Prometheus metrics (e.g. http://127.0.0.1:8002/metrics): adds the server's
                                   per-request queue, compute input/infer/output, and other = mean - their sum
Inputs
  -b, --batch-size N               batch size for batching models (default 1)
      --shape NAME:D1,D2,...       shape of a dynamic input (repeatable; without the batch dimension)
      --input-data SRC             random (default) | zero | FILE.json ({"name": [values], ...})
Load (one of)
      --concurrency-range S:E:STEP closed loop; STEP is +N (default 1) or xN (multiply), e.g. 1:64:x2
      --request-rate-range S:E:STEP
                                   open loop, requests/s; latency counts from each intended send time
      --request-distribution D     constant (default) | poisson
      --max-connections N          open loop: most requests in flight (default ${DEFAULTS.maxConnections})
Measurement
  -p, --measurement-interval MS    window length (default ${DEFAULTS.measurementIntervalMs})
  -s, --stability-percentage P     windows agree within P % (default ${DEFAULTS.stabilityPercentage})
  -r, --max-trials N               most windows per step (default ${DEFAULTS.maxTrials})
      --warmup MS                  unmeasured load before each step (default ${DEFAULTS.warmupMs})
Output
      --json FILE  --csv FILE  --html FILE
      --progress / --no-progress   live progress line (default: on a terminal)
Client
      --cpus LIST                  pin the load generator (all its threads) to these CPUs, taskset list syntax
                                   (e.g. 1, 8-15, 1,3): keeps it off a server's cores on the same machine (Linux)
  -h, --help
`;

/** Thrown for --help: not an error, the caller prints USAGE. */
export class HelpRequested extends Error {
  constructor() {
    super('help requested');
  }
}

function positiveInt(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw invalidArgument(`${flag}: expected a positive integer, got '${s}'`);
  return n;
}

function positiveNumber(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw invalidArgument(`${flag}: expected a positive number, got '${s}'`);
  return n;
}

/**
 * Parses perf_analyzer's `start[:end[:step]]`; step `xK` multiplies (1:64:x2 → 1,2,4,…,64), a plain number adds.
 * The end is included when the steps land on it; integers only when `integer`.
 */
export function parseRange(flag: string, spec: string, integer: boolean): number[] {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p.trim() === '')) {
    throw invalidArgument(`${flag}: expected start:end:step (e.g. 1:64:x2), got '${spec}'`);
  }
  const num = integer ? positiveInt : positiveNumber;
  const start = num(flag, parts[0]);
  const end = parts.length > 1 ? num(flag, parts[1]) : start;
  if (end < start) throw invalidArgument(`${flag}: end ${end} is below start ${start}`);
  const stepSpec = parts[2] ?? '1';
  const multiply = stepSpec.startsWith('x') || stepSpec.startsWith('*');
  const step = multiply ? Number(stepSpec.slice(1)) : Number(stepSpec);
  if (!Number.isFinite(step) || (multiply ? step <= 1 : step <= 0)) {
    throw invalidArgument(`${flag}: step '${stepSpec}' must be a number > 0, or xK with K > 1`);
  }
  const levels: number[] = [];
  // Tolerance so 0.1-steps of a rate range reach their end despite binary fractions.
  for (let v = start; v <= end * (1 + 1e-9); v = multiply ? v * step : v + step) {
    levels.push(integer ? Math.round(v) : Number(v.toPrecision(12)));
    if (levels.length > 10_000) throw invalidArgument(`${flag}: '${spec}' has more than 10000 steps`);
  }
  return levels;
}

/** `name:d1,d2` → [name, [d1, d2]]; the name may itself contain ':' (split at the last one). */
export function parseShape(spec: string): [string, number[]] {
  const at = spec.lastIndexOf(':');
  if (at <= 0) throw invalidArgument(`--shape: expected NAME:D1,D2,..., got '${spec}'`);
  const dims = spec.slice(at + 1).split(',').map((d) => Number(d.trim()));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw invalidArgument(`--shape: dimensions must be non-negative integers, got '${spec}'`);
  }
  return [spec.slice(0, at), dims];
}

function normalizeUrl(u: string, protocol: Protocol): string {
  const scheme = protocol === 'grpc' ? 'grpc:' : 'http:';
  const withScheme = /^[a-z]+:\/\//i.test(u) ? u : `${scheme}//${u}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw invalidArgument(`--url: not a URL: '${u}'`);
  }
  if (parsed.protocol !== scheme) {
    throw invalidArgument(`--url: ${protocol === 'grpc' ? 'with -i grpc give host:port (or grpc://host:port)' : 'only http:// is supported'}, got '${parsed.protocol}'`);
  }
  if (protocol === 'grpc') {
    if (parsed.pathname !== '' && parsed.pathname !== '/') throw invalidArgument(`--url: a gRPC target has no path, got '${u}'`);
    return `grpc://${parsed.host}`;
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** Parses `autoglm bench` arguments (after the subcommand). Throws InferenceError or HelpRequested. */
export function parseBenchArgs(argv: readonly string[], isTty = false): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'model-name': { type: 'string', short: 'm' },
        'model-version': { type: 'string', short: 'x' },
        url: { type: 'string', short: 'u' },
        protocol: { type: 'string', short: 'i' },
        'protocol-format': { type: 'string' },
        'metrics-url': { type: 'string' },
        'batch-size': { type: 'string', short: 'b' },
        shape: { type: 'string', multiple: true },
        'input-data': { type: 'string' },
        'concurrency-range': { type: 'string' },
        'request-rate-range': { type: 'string' },
        'request-distribution': { type: 'string' },
        'max-connections': { type: 'string' },
        'measurement-interval': { type: 'string', short: 'p' },
        'stability-percentage': { type: 'string', short: 's' },
        'max-trials': { type: 'string', short: 'r' },
        warmup: { type: 'string' },
        json: { type: 'string' },
        csv: { type: 'string' },
        html: { type: 'string' },
        progress: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        cpus: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new InferenceError('INVALID_ARGUMENT', `${(err as Error).message}\n(see autoglm bench --help)`);
  }
  if (values.help) throw new HelpRequested();
  const model = values['model-name'];
  if (!model) throw invalidArgument('-m/--model-name is required');

  const protocol = values.protocol ?? 'http';
  if (protocol !== 'http' && protocol !== 'grpc') throw invalidArgument(`-i/--protocol: expected http or grpc, got '${protocol}'`);
  const format = values['protocol-format'] ?? DEFAULTS.protocolFormat;
  if (format !== 'binary' && format !== 'json') {
    throw invalidArgument(`--protocol-format: expected binary or json, got '${format}'`);
  }
  if (protocol === 'grpc' && format !== 'binary') {
    throw invalidArgument('--protocol-format json applies to HTTP: gRPC sends tensors as raw_input_contents');
  }
  const distribution = values['request-distribution'] ?? 'constant';
  if (distribution !== 'constant' && distribution !== 'poisson') {
    throw invalidArgument(`--request-distribution: expected constant or poisson, got '${distribution}'`);
  }
  if (values['concurrency-range'] !== undefined && values['request-rate-range'] !== undefined) {
    throw invalidArgument('--concurrency-range and --request-rate-range are exclusive: pick closed or open loop');
  }
  if (values['request-distribution'] !== undefined && values['request-rate-range'] === undefined) {
    throw invalidArgument('--request-distribution applies only with --request-rate-range');
  }
  const load: LoadPlan = values['request-rate-range'] !== undefined
    ? { mode: 'rate', levels: parseRange('--request-rate-range', values['request-rate-range'], false), distribution }
    : { mode: 'concurrency', levels: parseRange('--concurrency-range', values['concurrency-range'] ?? '1', true) };

  const shapes: Record<string, number[]> = {};
  for (const s of values.shape ?? []) {
    const [name, dims] = parseShape(s);
    shapes[name] = dims;
  }
  const stability = Number(values['stability-percentage'] ?? DEFAULTS.stabilityPercentage);
  if (!Number.isFinite(stability) || stability <= 0 || stability > 100) {
    throw invalidArgument(`--stability-percentage: expected 0 < P <= 100, got '${values['stability-percentage']}'`);
  }
  const warmup = Number(values.warmup ?? DEFAULTS.warmupMs);
  if (!Number.isFinite(warmup) || warmup < 0) throw invalidArgument(`--warmup: expected ms >= 0, got '${values.warmup}'`);

  return Object.freeze({
    model,
    modelVersion: values['model-version'] ?? '',
    url: normalizeUrl(values.url ?? (protocol === 'grpc' ? DEFAULTS.grpcUrl : DEFAULTS.url), protocol),
    protocol,
    protocolFormat: format,
    load,
    batchSize: positiveInt('--batch-size', values['batch-size'] ?? String(DEFAULTS.batchSize)),
    shapes,
    inputData: values['input-data'] ?? DEFAULTS.inputData,
    measurementIntervalMs: positiveInt('--measurement-interval', values['measurement-interval'] ?? String(DEFAULTS.measurementIntervalMs)),
    stabilityPercentage: stability,
    maxTrials: positiveInt('--max-trials', values['max-trials'] ?? String(DEFAULTS.maxTrials)),
    warmupMs: warmup,
    maxConnections: positiveInt('--max-connections', values['max-connections'] ?? String(DEFAULTS.maxConnections)),
    metricsUrl: values['metrics-url'] ?? '',
    jsonFile: values.json ?? '',
    csvFile: values.csv ?? '',
    htmlFile: values.html ?? '',
    progress: values['no-progress'] ? false : values.progress ?? isTty,
    cpus: values.cpus === undefined ? '' : checkCpuList('--cpus', values.cpus),
  });
}
