import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MODEL_CONTROL_MODES, type ModelControlMode } from '../server/model-lifecycle.js';
import { isPlainName } from '../server/names.js';
import type { RequestLimits } from '../core/index.js';
import { BATCHING_POLICIES, type BatchingPolicyName } from '../scheduler/create-scheduler.js';
import { CacheConfigError, type TierSpec, parseCacheConfig } from '../cache/cache-config.js';

/** `autoglm serve` options, validated once and frozen. */
export interface ServeOptions {
  readonly modelRepositories: readonly string[];
  readonly httpPort: number;
  readonly httpAddress: string;
  /** Serve the KServe v2 / Triton gRPC protocol (tritonserver's --allow-grpc). */
  readonly allowGrpc: boolean;
  readonly grpcPort: number;
  readonly grpcAddress: string;
  readonly strictModelConfig: boolean;
  readonly exitOnError: boolean;
  readonly logVerbose: number;
  readonly logFormat: 'text' | 'json' | undefined;
  readonly limits: Partial<RequestLimits>;
  /** Prometheus /metrics on its own port (Triton: 8002); false = not served. */
  readonly allowMetrics: boolean;
  readonly metricsPort: number;
  readonly metricsAddress: string;
  /** The dashboard at / on the metrics port (docs/dashboard.md); only where metrics are served. */
  readonly allowDashboard: boolean;
  /** Every model's batching policy, overriding configs; undefined = each config's choice. */
  readonly batchingPolicy: BatchingPolicyName | undefined;
  /** Cores each model version's instances split among them; undefined = the server's default (defaultComputeCores). */
  readonly computeCores: number | undefined;
  /** HTTP frontend threads (tritonserver's --http-thread-count); 0 = the main thread's event loop. */
  readonly httpThreadCount: number;
  /** Nice value of model instances' threads; undefined = the server's default. */
  readonly computeNice: number | undefined;
  /** How long a shutdown may take before the process exits anyway (tritonserver's --exit-timeout-secs). */
  readonly exitTimeoutSecs: number;
  /** Let ONNX Runtime collect its telemetry (off by default: InferenceServerOptions.allowOrtTelemetry). */
  readonly allowOrtTelemetry: boolean;
  /** Response cache tiers (--cache-config), in lookup order; empty = no cache. */
  readonly cache: readonly TierSpec[];
  /** tritonserver's --model-control-mode (docs/lifecycle.md). */
  readonly modelControlMode: ModelControlMode;
  /** Explicit mode: --load-model names (`*` = all). */
  readonly startupModels: readonly string[];
  /** Poll mode: --repository-poll-secs. */
  readonly pollSecs: number;
  /** The control token read from --control-token-file (load/unload need it), if given. */
  readonly controlToken: string | undefined;
}

export class UsageError extends Error {}

export const SERVE_HELP = `Usage: autoglm serve --model-repository DIR [options]

Serves the models of one or more Triton-layout repositories over the KServe v2 HTTP and gRPC protocols.

  --model-repository DIR          a model repository (repeatable)
  --http-port N                   HTTP port (default 8000; 0 = any free port)
  --http-address ADDR             address to listen on (default 0.0.0.0)
  --allow-grpc[=BOOL]             serve the KServe v2 / Triton gRPC protocol (default true)
  --grpc-port N                   gRPC port (default 8001; 0 = any free port)
  --grpc-address ADDR             address for gRPC (default: the --http-address)
  --http-thread-count N           threads doing the HTTP work, the models staying on the main thread (default 0:
                                  the main thread does it too; worth it on many cores, see bench/README.md)
  --strict-model-config[=BOOL]    require config.pbtxt (default false: derive configs from the model files)
  --exit-on-error[=BOOL]          exit non-zero if any model fails to load (default false)
  --log-verbose N                 0 = info, 1 = debug, 2 = trace (default 0)
  --log-format text|json          log format (default: text on a terminal, json otherwise)
  --max-request-body-bytes N      largest request body (default 67108864); larger → 413
  --max-tensor-elements N         largest element count of one tensor (default 67108864); larger → 413
  --max-tensor-rank N             largest number of dimensions of one tensor (default 16); larger → 400
  --max-inflight-requests N       infer requests in progress in the server at once (default 16384); more → 503
  --max-inflight-bytes N          request body bytes held at once per HTTP frontend (default 1073741824); more → 503
  --max-connections N             open client connections per HTTP frontend (default 8192); more are closed
  --allow-metrics[=BOOL]          serve the metrics port: Prometheus metrics, the dashboard (default true)
  --metrics-port N                metrics port, GET /metrics (default 8002; 0 = any free port)
  --metrics-address ADDR          address for metrics (default: the --http-address)
  --allow-dashboard[=BOOL]        serve the dashboard at / on the metrics port, forwarding /v2/… to the HTTP
                                  port for its try-it panel (default true; see docs/dashboard.md)
  --batching-policy P             adaptive | static | none for every model, overriding configs (default: each
                                  config's choice; see docs/scheduling.md)
  --compute-cores N               cores each model's instances split among them for ONNX Runtime's threads
                                  (default: all of 1–2 cores, three quarters of more, leaving the rest to
                                  request handling)
  --compute-nice N                how much lower (Linux nice, 0..19) model instances' threads run than request
                                  handling (default 10; 0 = the same; see docs/overload.md)
  --exit-timeout-secs N           on SIGTERM/SIGINT, how long to finish in-flight requests and unload before
                                  exiting anyway (default 30); a second signal exits at once
  --allow-ort-telemetry[=BOOL]    let ONNX Runtime write its telemetry (device id, event database under
                                  ~/.cache/Microsoft); default false: ORT_DISABLE_TELEMETRY=1 is set (SECURITY.md)
  --cache-config SPEC             a response cache tier (repeatable; tiers are looked up in the order first named):
                                  local,size=256MiB | lmdb,path=DIR,size=2GiB |
                                  redis,host=H,port=P[,user=U,password=…,db=N,timeout=MS,ttl=S]; models opt in with
                                  response_cache { enable: true } (see docs/cache.md)
  --model-control-mode M          none | poll | explicit (default none: every model loads at start, load/unload
                                  requests are refused; explicit: only --load-model models load at start and the
                                  repository API loads and unloads; poll: the repositories are rescanned and
                                  changes loaded); see docs/lifecycle.md
  --load-model NAME               explicit mode: a model to load at start (repeatable; '*' = every model)
  --repository-poll-secs N        poll mode: seconds between rescans (default 15)
  --control-token-file FILE       load/unload need 'Authorization: Bearer <token>' with the token in FILE (first
                                  line; compared in constant time)
  -h, --help                      this help
`;

const BOOLEAN_FLAGS = ['--strict-model-config', '--exit-on-error', '--allow-metrics', '--allow-dashboard', '--allow-grpc', '--allow-ort-telemetry'];

function int(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got '${v}'`);
  return Number(v);
}

function bool(name: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`--${name} takes true or false, got '${v}'`);
}

function cacheTiers(flags: readonly string[]): TierSpec[] {
  try {
    return parseCacheConfig(flags);
  } catch (err) {
    if (err instanceof CacheConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** The token: the file's first line, trimmed; a file that cannot be read or holds no token is a usage error. */
function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--control-token-file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.split(/\r?\n/, 1)[0].trim();
  if (token === '' || /\s/.test(token)) throw new UsageError(`--control-token-file ${file}: the first line must hold the token (no spaces)`);
  return token;
}

/** Parses `serve` arguments (tritonserver's flag names); unknown flags and bad values throw UsageError. */
export function parseServeArgs(argv: readonly string[]): ServeOptions | 'help' {
  // tritonserver spells booleans --flag=true|false; a bare --flag means true.
  const args = argv.map((a) => (BOOLEAN_FLAGS.includes(a) ? `${a}=true` : a));
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        'model-repository': { type: 'string', multiple: true },
        'http-port': { type: 'string' },
        'http-address': { type: 'string' },
        'http-thread-count': { type: 'string' },
        'allow-grpc': { type: 'string' },
        'grpc-port': { type: 'string' },
        'grpc-address': { type: 'string' },
        'strict-model-config': { type: 'string' },
        'exit-on-error': { type: 'string' },
        'log-verbose': { type: 'string' },
        'log-format': { type: 'string' },
        'max-request-body-bytes': { type: 'string' },
        'max-tensor-elements': { type: 'string' },
        'max-tensor-rank': { type: 'string' },
        'max-inflight-requests': { type: 'string' },
        'max-inflight-bytes': { type: 'string' },
        'max-connections': { type: 'string' },
        'allow-metrics': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-address': { type: 'string' },
        'allow-dashboard': { type: 'string' },
        'batching-policy': { type: 'string' },
        'compute-cores': { type: 'string' },
        'compute-nice': { type: 'string' },
        'exit-timeout-secs': { type: 'string' },
        'allow-ort-telemetry': { type: 'string' },
        'cache-config': { type: 'string', multiple: true },
        'model-control-mode': { type: 'string' },
        'load-model': { type: 'string', multiple: true },
        'repository-poll-secs': { type: 'string' },
        'control-token-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const repos = values['model-repository'] ?? [];
  if (repos.length === 0) throw new UsageError('at least one --model-repository is required');
  const format = values['log-format'];
  if (format !== undefined && format !== 'text' && format !== 'json') throw new UsageError(`--log-format is text or json, got '${format}'`);
  const limits: { -readonly [K in keyof RequestLimits]?: number } = {};
  const body = int('max-request-body-bytes', values['max-request-body-bytes'], 1);
  const elements = int('max-tensor-elements', values['max-tensor-elements'], 1);
  const rank = int('max-tensor-rank', values['max-tensor-rank'], 1, 64);
  if (body !== undefined) limits.maxBodyBytes = body;
  if (elements !== undefined) limits.maxTensorElements = elements;
  if (rank !== undefined) limits.maxRank = rank;
  const inflight = int('max-inflight-requests', values['max-inflight-requests'], 1);
  const inflightBytes = int('max-inflight-bytes', values['max-inflight-bytes'], 1);
  const connections = int('max-connections', values['max-connections'], 1);
  if (inflight !== undefined) limits.maxInflightRequests = inflight;
  if (inflightBytes !== undefined) limits.maxInflightBytes = inflightBytes;
  if (connections !== undefined) limits.maxConnections = connections;
  const policy = values['batching-policy'];
  if (policy !== undefined && !BATCHING_POLICIES.includes(policy as BatchingPolicyName)) {
    throw new UsageError(`--batching-policy is one of ${BATCHING_POLICIES.join(', ')}, got '${policy}'`);
  }
  const mode = (values['model-control-mode'] ?? 'none') as ModelControlMode;
  if (!MODEL_CONTROL_MODES.includes(mode)) throw new UsageError(`--model-control-mode is one of ${MODEL_CONTROL_MODES.join(', ')}, got '${mode}'`);
  const startupModels = values['load-model'] ?? [];
  if (startupModels.length > 0 && mode !== 'explicit') throw new UsageError('--load-model needs --model-control-mode explicit (the other modes load every model)');
  for (const n of startupModels) if (n !== '*' && !isPlainName(n)) throw new UsageError(`--load-model: '${n}' is not a plain model name`);
  const pollSecs = int('repository-poll-secs', values['repository-poll-secs'], 1, 86_400);
  if (pollSecs !== undefined && mode !== 'poll') throw new UsageError('--repository-poll-secs needs --model-control-mode poll');
  const tokenFile = values['control-token-file'];
  if (tokenFile !== undefined && mode !== 'explicit') throw new UsageError('--control-token-file protects load/unload, which only --model-control-mode explicit serves');
  const httpAddress = values['http-address'] ?? '0.0.0.0';
  return Object.freeze({
    modelRepositories: Object.freeze([...repos]),
    httpPort: int('http-port', values['http-port'], 0, 65535) ?? 8000,
    httpAddress,
    allowGrpc: values['allow-grpc'] === undefined ? true : bool('allow-grpc', values['allow-grpc']),
    grpcPort: int('grpc-port', values['grpc-port'], 0, 65535) ?? 8001,
    grpcAddress: values['grpc-address'] ?? httpAddress,
    strictModelConfig: bool('strict-model-config', values['strict-model-config']),
    exitOnError: bool('exit-on-error', values['exit-on-error']),
    logVerbose: int('log-verbose', values['log-verbose'], 0) ?? 0,
    logFormat: format,
    limits: Object.freeze(limits),
    allowMetrics: values['allow-metrics'] === undefined ? true : bool('allow-metrics', values['allow-metrics']),
    metricsPort: int('metrics-port', values['metrics-port'], 0, 65535) ?? 8002,
    metricsAddress: values['metrics-address'] ?? httpAddress,
    allowDashboard: values['allow-dashboard'] === undefined ? true : bool('allow-dashboard', values['allow-dashboard']),
    batchingPolicy: policy as BatchingPolicyName | undefined,
    computeCores: int('compute-cores', values['compute-cores'], 1, 4096),
    httpThreadCount: int('http-thread-count', values['http-thread-count'], 0, 256) ?? 0,
    computeNice: int('compute-nice', values['compute-nice'], 0, 19),
    exitTimeoutSecs: int('exit-timeout-secs', values['exit-timeout-secs'], 0, 86_400) ?? 30,
    allowOrtTelemetry: bool('allow-ort-telemetry', values['allow-ort-telemetry']),
    cache: Object.freeze(cacheTiers(values['cache-config'] ?? [])),
    modelControlMode: mode,
    startupModels: Object.freeze([...startupModels]),
    pollSecs: pollSecs ?? 15,
    controlToken: tokenFile === undefined ? undefined : readToken(tokenFile),
  });
}
