import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import {
  type InferenceRequest, type InferenceResponse, type ModelConfig, type RequestLimits,
  DEFAULT_LIMITS, InferenceError, invalidArgument, notFound, unavailable,
} from '../core/index.js';
import type { Backend } from '../backends/backend.js';
import { createBackends } from '../backends/index.js';
import { modelCacheSettings } from '../backends/model-cache.js';
import type {
  AdmissionProbe, InferenceService, ModelMetadata, ModelStatistics, ModelStatisticsResponse, RepositoryIndexEntry, ServerMetadata,
  ResponseSink,
} from './service.js';
import { Admission } from './admission.js';
import { setComputeWorkerNice } from '../core/start-worker.js';
import { ResponseCache } from '../cache/response-cache.js';
import type { TierSpec } from '../cache/cache-config.js';
import { cacheKey } from '../cache/cache-key.js';
import { CacheMetrics } from '../metrics/cache-metrics.js';
import type { ManagedModel, ModelVersion } from './model-version.js';
import { type ModelControlMode, ModelLifecycle } from './model-lifecycle.js';
import { ControlAccess } from './control-access.js';
import type { ModelCacheMetrics } from '../metrics/cache-metrics.js';
import type { LoadOptions } from './load-model.js';
import { validateRequest } from './validate-request.js';
import { isPlainName } from './names.js';
import { PACKAGE_VERSION } from './package-version.js';
import { InferenceMetrics } from '../metrics/inference-metrics.js';
import type { BatchingPolicyName } from '../scheduler/create-scheduler.js';
import { configureOrtTelemetry } from '../backends/onnx/telemetry.js';

export interface InferenceServerOptions {
  /** Triton-layout repository roots: `<root>/<model>/<version>/model.onnx` (+ optional config.pbtxt). */
  readonly modelRepositories: readonly string[];
  /** Refuse models without config.pbtxt instead of deriving their config from the model file. */
  readonly strictModelConfig?: boolean;
  /** max_batch_size given to auto-completed configs of batchable models. */
  readonly defaultMaxBatchSize?: number;
  readonly limits?: Partial<RequestLimits>;
  /** Default: silent. */
  readonly logger?: Logger;
  /** Backends by name (`onnxruntime`, …). Default: createBackends(). */
  readonly backends?: Map<string, Backend>;
  /** Where schedulers record (Prometheus, Triton's names). Default: a new registry, as `server.metrics`. */
  readonly metrics?: InferenceMetrics;
  /** Overrides every model's batching policy ('adaptive' | 'static' | 'none'); default: each config's choice. */
  readonly batchingPolicy?: BatchingPolicyName;
  /**
   * Cores one model version's instances split among them (ONNX Runtime's intra-op threads). Default
   * (defaultComputeCores): every core on a machine of 1–2, three quarters of them on larger ones. The event loop that
   * reads requests needs CPU too, and ONNX Runtime's thread pool stalls when busy threads share all its cores (16
   * cores: 16 threads served 5.6–6.4 k req/s, 12 threads 10.4 k); on 2 cores, halving the compute costs more than
   * the sharing (bench/README.md). In-process use without a frontend can give it every core.
   */
  readonly computeCores?: number;
  /**
   * How much lower model instances' threads run than request handling (Linux nice, 0..19; 0 = the same). Where they
   * share cores, requests are then read, refused or answered at once rather than after the kernel's time slice
   * (docs/overload.md). Process-wide; default DEFAULT_COMPUTE_NICE.
   */
  readonly computeNice?: number;
  /**
   * Let ONNX Runtime collect its telemetry. Default false: `create` sets ORT_DISABLE_TELEMETRY=1 in the process
   * environment before any model loads (process-wide; src/backends/onnx/telemetry.ts, SECURITY.md).
   */
  readonly allowOrtTelemetry?: boolean;
  /**
   * The response cache's tiers, in lookup order (`--cache-config`; docs/cache.md); absent or empty = no cache, and
   * models' `response_cache { enable: true }` is ignored with a warning.
   */
  readonly cache?: readonly TierSpec[];
  /**
   * tritonserver's --model-control-mode (docs/lifecycle.md). Default 'none': every model loads at start and
   * loadModel/unloadModel are refused (PERMISSION_DENIED); 'explicit': `startupModels` load at start and
   * loadModel/unloadModel work; 'poll': every model loads and the repositories are rescanned every `pollSecs`.
   */
  readonly modelControlMode?: ModelControlMode;
  /** Explicit mode: the models loaded at start (`*` = every one; default none), and the models their ensembles use. */
  readonly startupModels?: readonly string[];
  /** Poll mode: seconds between rescans of the repositories (default 15, tritonserver's). */
  readonly pollSecs?: number;
  /** When set, loadModel/unloadModel need `Bearer <token>` as their authorization (compared in constant time). */
  readonly controlToken?: string;
  /**
   * A folder where ONNX sessions keep their optimized graphs, so a restart skips graph optimization (created when
   * missing; may be shared by servers; docs/model-cache.md). Absent = no caching.
   */
  readonly modelCacheDir?: string;
  /** The most the model cache folder may hold; default DEFAULT_MODEL_CACHE_MAX_BYTES (2 GiB). */
  readonly modelCacheMaxBytes?: number;
}

/** The default of InferenceServerOptions.computeNice (measured in docs/overload.md). */
export const DEFAULT_COMPUTE_NICE = 10;

/** The default of InferenceServerOptions.computeCores. */
export const defaultComputeCores = (cores = availableParallelism()): number => (cores <= 2 ? cores : Math.floor((cores * 3) / 4));


/**
 * The server core: owns the models, their lifecycle and readiness, and answers inference requests (the in-process
 * library API; frontends are thin layers over it). Create it with `InferenceServer.create`, end it with `close`.
 */
export class InferenceServer implements InferenceService {
  readonly limits: RequestLimits;
  /** The server's metrics; render with `metrics.render()` (served by `autoglm serve` on --metrics-port). */
  readonly metrics: InferenceMetrics;
  /** Models and their lifecycle (the one owner of each version's state). */
  private readonly lifecycle: ModelLifecycle;
  private readonly models: ReadonlyMap<string, ManagedModel>;
  /** Who may load and unload (control mode, token). */
  readonly control: ControlAccess;
  private readonly log: Logger;
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly admission: Admission;
  /** The response cache, when the server has one (InferenceServerOptions.cache). */
  readonly cache: ResponseCache | undefined;
  private readonly cacheMetrics: CacheMetrics | undefined;

  private constructor(options: InferenceServerOptions, backends: Map<string, Backend>) {
    this.limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
    this.admission = new Admission(this.limits);
    this.log = options.logger ?? pino({ level: 'silent' });
    this.metrics = options.metrics ?? new InferenceMetrics();
    if (options.cache && options.cache.length > 0) {
      this.cache = ResponseCache.fromSpecs(options.cache);
      this.cacheMetrics = new CacheMetrics(this.metrics.registry);
      for (const t of this.cache.tiers) this.cacheMetrics.watchTier(t);
    }
    const cores = options.computeCores ?? defaultComputeCores();
    const loadOptions: LoadOptions = Object.freeze({
      strictModelConfig: options.strictModelConfig === true,
      defaultMaxBatchSize: options.defaultMaxBatchSize,
      backends,
      onWarning: (model: string, warning: string) => this.log.warn({ model }, warning),
      cores,
      modelCache: options.modelCacheDir === undefined ? undefined : modelCacheSettings(options.modelCacheDir, options.modelCacheMaxBytes),
      schedulerContext: {
        service: this, lookupConfig: (model: string, version: number) => this.lookupConfig(model, version),
        metrics: this.metrics, batchingPolicy: options.batchingPolicy,
        singleCore: availableParallelism() === 1,
      },
    });
    const mode = options.modelControlMode ?? 'none';
    this.control = new ControlAccess(mode, options.controlToken);
    this.lifecycle = new ModelLifecycle({
      repositories: options.modelRepositories, load: loadOptions, log: this.log, controlMode: mode,
      startupModels: options.startupModels ?? [], pollSecs: options.pollSecs ?? 15,
      onReady: (m, v) => this.onVersionReady(m, v),
      onGone: (model, version) => {
        this.metrics.removeModel(model, version);
        this.cacheMetrics?.removeModel(model, version);
      },
    });
    this.models = this.lifecycle.models;
  }

  /**
   * Scans the repositories and loads the models the control mode says (every one, or in explicit mode the startup
   * models) concurrently; resolves when each is READY or UNAVAILABLE. Rejects when a startup model is not found.
   */
  static async create(options: InferenceServerOptions): Promise<InferenceServer> {
    setComputeWorkerNice(options.computeNice ?? DEFAULT_COMPUTE_NICE);
    configureOrtTelemetry(options.allowOrtTelemetry === true);
    const backends = options.backends ?? await createBackends();
    const server = new InferenceServer(options, backends);
    try {
      await server.lifecycle.start();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  private lookupConfig(model: string, version: number): Readonly<ModelConfig> | undefined {
    const m = this.models.get(model);
    if (!m?.config) return undefined;
    if (version === -1) return m.newestReady() ? m.config : undefined;
    return m.versions.get(String(version))?.state === 'READY' ? m.config : undefined;
  }

  /** What the server keeps per READY version: its response cache's counters, when the model is cached. */
  private onVersionReady(m: ManagedModel, v: ModelVersion): void {
    const cached = m.config?.response_cache?.enable === true;
    if (!cached) return;
    if (this.cacheMetrics) v.responseCache = this.cacheMetrics.forModel(m.name, v.version);
    else this.log.warn({ model: m.name }, 'response_cache is enabled but the server has no cache (--cache-config): not cached');
  }

  private model(name: string): ManagedModel {
    if (!isPlainName(name)) throw invalidArgument(`'${name}' is not a plain model name`);
    const m = this.models.get(name);
    if (!m) throw notFound(`unknown model '${name}'`);
    return m;
  }

  /**
   * The version a request runs on: the one asked for, or (none asked) for an infer request (`routed`) the traffic
   * split's pick for its id when the config has a split (ManagedModel.route), else — and for a readiness question,
   * which must not move the split's round robin — the highest READY one.
   */
  private resolve(name: string, version: string | undefined, routed = false, requestId?: string): ModelVersion {
    const m = this.model(name);
    if (version !== undefined && version !== '') {
      if (!/^\d+$/.test(version)) throw invalidArgument(`'${version}' is not a version number`);
      const v = m.versions.get(String(Number(version)));
      if (!v) {
        if (m.state === 'UNAVAILABLE' && m.versions.size === 0) throw unavailable(`model '${name}' is not available: ${m.reason}`);
        throw notFound(`model '${name}' has no version ${version}`);
      }
      if (v.state !== 'READY') throw unavailable(`model '${name}' version ${v.version} is not ready (${v.state}${v.reason ? `: ${v.reason}` : ''})`);
      return v;
    }
    const v = routed ? m.route(requestId) : m.newestReady();
    if (v) return v;
    throw unavailable(`model '${name}' is not ready (${m.state}${m.reason ? `: ${m.reason}` : ''})`);
  }

  admit(probe: AdmissionProbe): InferenceError | undefined {
    if (this.closing) return unavailable('the server is shutting down');
    const refusal = this.admission.serverRefusal();
    if (refusal) return refusal;
    const m = this.models.get(probe.model);
    // Only the common case is judged early (no version asked, or the newest, no traffic split); infer resolves and
    // answers the rest.
    const v = m && !m.traffic ? m.newestReady() : undefined;
    if (!v || (probe.version !== undefined && probe.version !== '' && probe.version !== v.version)) return undefined;
    return this.admission.versionRefusal(v, probe, performance.now() * 1000);
  }

  private isDecoupled(v: ModelVersion): boolean {
    return this.models.get(v.model)?.config?.model_transaction_policy?.decoupled === true;
  }

  async infer(request: InferenceRequest): Promise<InferenceResponse> {
    if (this.closing) throw unavailable('the server is shutting down');
    const v = this.resolve(request.model, request.version, true, request.id);
    if (this.isDecoupled(v)) {
      // As Triton's HTTP infer and gRPC ModelInfer: one answer cannot carry zero or several responses.
      throw new InferenceError('UNIMPLEMENTED', `model '${v.model}' is decoupled (zero or more responses per request): ` +
        'use a streaming call (gRPC ModelStreamInfer, HTTP generate_stream or generate)');
    }
    const startUs = performance.now() * 1000;
    if (v.responseCache && this.cache) return this.inferCached(v, v.responseCache, this.cache, request, startUs);
    return this.run(v, request, startUs, false);
  }

  async inferStream(request: InferenceRequest, sink: ResponseSink): Promise<void> {
    if (this.closing) throw unavailable('the server is shutting down');
    const v = this.resolve(request.model, request.version, true, request.id);
    const scheduler = v.scheduler!;
    // Only a decoupled model streams: a scheduler that can stream (generation) answers an ordinary config once.
    if (!scheduler.enqueueStream || !this.isDecoupled(v)) {
      const startUs = performance.now() * 1000;
      const res = v.responseCache && this.cache ? await this.inferCached(v, v.responseCache, this.cache, request, startUs) : await this.run(v, request, startUs, false);
      sink(res, true);
      return;
    }
    const startUs = performance.now() * 1000;
    const refusal = this.admission.serverRefusal() ?? this.admission.shedRefusal(v, request.priority, startUs);
    if (refusal) throw refusal;
    validateRequest(request, v.spec!, this.limits);
    // The SLO guard learns each request's time to its first response: what a streaming client waits for.
    let first = true;
    const slo = v.slo;
    const counted: ResponseSink = (response, final) => {
      if (first && slo) {
        const nowUs = performance.now() * 1000;
        slo.observe(nowUs - Math.min(startUs, request.receivedUs ?? startUs), nowUs);
      }
      first = false;
      return sink(response, final);
    };
    this.admission.inProgress++;
    try {
      await scheduler.enqueueStream(request, counted);
    } finally {
      this.admission.inProgress--;
    }
  }

  /**
   * The response cache's way (docs/cache.md): the answer from the cache, looked up before admission (a hit costs less
   * than a refusal), or the request run and its answer stored. Only successful answers are stored.
   */
  private async inferCached(v: ModelVersion, m: ModelCacheMetrics, cache: ResponseCache, request: InferenceRequest, startUs: number): Promise<InferenceResponse> {
    validateRequest(request, v.spec!, this.limits);
    const key = cacheKey(v.model, v.version, request);
    const found = cache.lookup(key);
    const outputs = found instanceof Promise ? await found : found;
    const lookedUs = performance.now() * 1000;
    if (outputs) {
      m.hits.inc();
      m.hitUs.inc(lookedUs - startUs);
      return { id: request.id, model: v.model, version: v.version, outputs: [...outputs] };
    }
    const res = await this.run(v, request, startUs, true);
    const ranUs = performance.now() * 1000;
    cache.insert(key, res.outputs);
    m.misses.inc();
    m.missUs.inc(lookedUs - startUs + performance.now() * 1000 - ranUs);
    return res;
  }

  /** Admission, then the scheduler; `validated` when the caller checked the request against the model already. */
  private async run(v: ModelVersion, request: InferenceRequest, startUs: number, validated: boolean): Promise<InferenceResponse> {
    // The scheduler's own admission runs in enqueue: here only what it does not know (server-wide bound, shedding).
    const refusal = this.admission.serverRefusal() ?? this.admission.shedRefusal(v, request.priority, startUs);
    if (refusal) throw refusal;
    if (!validated) validateRequest(request, v.spec!, this.limits);
    this.admission.inProgress++;
    let res: InferenceResponse;
    try {
      res = await v.scheduler!.enqueue(request);
    } finally {
      this.admission.inProgress--;
    }
    if (v.slo) {
      const nowUs = performance.now() * 1000;
      v.slo.observe(nowUs - Math.min(startUs, request.receivedUs ?? startUs), nowUs);
    }
    let outputs = res.outputs;
    if (request.outputs && request.outputs.length > 0 && outputs.length !== request.outputs.length) {
      const asked = new Set(request.outputs.map((o) => o.name));
      outputs = outputs.filter((o) => asked.has(o.name));
    }
    return { id: request.id, model: v.model, version: v.version, outputs, parameters: res.parameters };
  }

  isLive(): boolean {
    return !this.closing;
  }

  /**
   * Triton's strict readiness: every model not explicitly unloaded is READY (and so is one of its instances: see
   * ModelVersion.readiness), and the server is not closing.
   */
  isReady(): boolean {
    if (this.closing) return false;
    for (const m of this.models.values()) if (m.wanted && (m.state !== 'READY' || !this.isModelReady(m.name))) return false;
    return true;
  }

  serverMetadata(): ServerMetadata {
    return { name: 'open-autoglm', version: PACKAGE_VERSION, extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics', 'generate'] };
  }

  modelMetadata(name: string, version?: string): ModelMetadata {
    const m = this.model(name);
    if (!m.metadata) throw unavailable(`model '${name}' is not available (${m.state}${m.reason ? `: ${m.reason}` : ''})`);
    if (version !== undefined && !m.versions.has(String(Number(version)))) throw notFound(`model '${name}' has no version ${version}`);
    return m.metadata;
  }

  modelConfig(name: string, version?: string): Readonly<ModelConfig> {
    const m = this.model(name);
    if (!m.config) throw unavailable(`model '${name}' is not available (${m.state}${m.reason ? `: ${m.reason}` : ''})`);
    if (version !== undefined && !m.versions.has(String(Number(version)))) throw notFound(`model '${name}' has no version ${version}`);
    return m.config;
  }

  /** The version a request would go to is READY and so is one of its instances (ModelVersion.readiness). */
  isModelReady(name: string, version?: string): boolean {
    try {
      return this.resolve(name, version).readiness().state === 'READY';
    } catch {
      return false;
    }
  }

  repositoryIndex(options: { readyOnly?: boolean } = {}): RepositoryIndexEntry[] {
    const rows: RepositoryIndexEntry[] = [];
    for (const m of [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      if (m.versions.size === 0) rows.push({ name: m.name, state: m.state, reason: m.reason });
      for (const v of [...m.versions.values()].reverse()) {
        const r = v.readiness();
        // A failed reload leaves this copy serving: its READY rows say why the change was not taken.
        const reason = r.state === 'READY' && m.reloadError ? `reload failed (this copy keeps serving): ${m.reloadError}` : r.reason;
        rows.push({ name: m.name, version: v.version, state: r.state, reason });
      }
    }
    return options.readyOnly ? rows.filter((r) => r.state === 'READY') : rows;
  }

  // --- Statistics extension (InferenceService.modelStatistics; numbers from this.metrics) ---

  modelStatistics(name?: string, version?: string): ModelStatisticsResponse {
    const stats = (v: ModelVersion): ModelStatistics => withCacheStats(this.metrics.statistics(v.model, v.version), v.responseCache);
    const ready = (m: ManagedModel): ModelVersion[] =>
      [...m.versions.values()].filter((v) => v.state === 'READY').sort((a, b) => Number(a.version) - Number(b.version));
    const hasVersion = version !== undefined && version !== '';
    if (name === undefined || name === '') {
      if (hasVersion) throw invalidArgument('statistics of a version need the model\'s name');
      const all = [...this.models.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { model_stats: all.flatMap((m) => ready(m).map(stats)) };
    }
    const m = this.model(name);
    if (!hasVersion) {
      const versions = ready(m);
      if (versions.length === 0) throw unavailable(`model '${name}' has no READY version (${m.state}${m.reason ? `: ${m.reason}` : ''})`);
      return { model_stats: versions.map(stats) };
    }
    if (!/^\d+$/.test(version)) throw invalidArgument(`'${version}' is not a version number`);
    const v = m.versions.get(String(Number(version)));
    if (!v) {
      if (m.state === 'UNAVAILABLE' && m.versions.size === 0) throw unavailable(`model '${name}' is not available: ${m.reason}`);
      throw notFound(`model '${name}' has no version ${version}`);
    }
    if (v.state !== 'READY') throw unavailable(`model '${name}' version ${v.version} is not ready (${v.state}${v.reason ? `: ${v.reason}` : ''})`);
    return { model_stats: [stats(v)] };
  }

  /**
   * Triton's repository load (explicit control mode; with the control token when the server has one): (re)loads a
   * model from its folder, found again in the repositories when new, with new version folders and config changes. A
   * reload builds the new copy beside the serving one and swaps it in when READY, then drains and unloads the old
   * one, so requests never see a gap; if the new copy fails, the serving one stays (ModelLifecycle).
   */
  async loadModel(name: string, authorization?: string): Promise<void> {
    if (this.closing) throw unavailable('the server is shutting down');
    this.control.check(`loading model '${name}'`, authorization);
    if (!isPlainName(name)) throw invalidArgument(`'${name}' is not a plain model name`);
    await this.lifecycle.load(name);
  }

  /** Triton's repository unload (as loadModel's rules): finishes the model's queued and running requests, then frees its instances. */
  async unloadModel(name: string, authorization?: string): Promise<void> {
    this.control.check(`unloading model '${name}'`, authorization);
    this.model(name);
    await this.lifecycle.unload(name);
  }

  /** Poll mode's rescan, run now (tests; an operator's nudge): see ModelLifecycle.poll. */
  pollRepositories(): Promise<void> {
    return this.lifecycle.poll();
  }

  /** Stops accepting requests, lets queued and running ones finish, unloads every model. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      await this.lifecycle.close();
      await this.cache?.close();
      this.log.info('server closed');
    })();
    return this.closed;
  }
}

/** A version's statistics with the response cache's counts (cache_hit / cache_miss stay 0 for uncached models). */
function withCacheStats(s: ModelStatistics, c: ModelCacheMetrics | undefined): ModelStatistics {
  if (!c) return s;
  return {
    ...s,
    inference_stats: {
      ...s.inference_stats,
      cache_hit: { count: c.hits.value, ns: Math.round(c.hitUs.value * 1000) },
      cache_miss: { count: c.misses.value, ns: Math.round(c.missUs.value * 1000) },
    },
  };
}
