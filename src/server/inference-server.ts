import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import {
  type InferenceRequest, type InferenceResponse, type ModelConfig, type RequestLimits,
  DEFAULT_LIMITS, InferenceError, invalidArgument, notFound, unavailable,
} from '../core/index.js';
import type { Backend } from '../backends/backend.js';
import { createBackends } from '../backends/index.js';
import { modelCacheSettings } from '../backends/model-cache.js';
import { scanRepositories } from '../repository/index.js';
import type {
  AdmissionProbe, InferenceService, ModelMetadata, ModelStatistics, ModelStatisticsResponse, RepositoryIndexEntry, ServerMetadata,
} from './service.js';
import { Admission } from './admission.js';
import { setComputeWorkerNice } from '../core/start-worker.js';
import { ResponseCache } from '../cache/response-cache.js';
import type { TierSpec } from '../cache/cache-config.js';
import { cacheKey } from '../cache/cache-key.js';
import { CacheMetrics } from '../metrics/cache-metrics.js';
import { ManagedModel, type ModelVersion } from './model-version.js';
import type { ModelCacheMetrics } from '../metrics/cache-metrics.js';
import { type LoadOptions, loadModel, unloadModel } from './load-model.js';
import { validateRequest } from './validate-request.js';
import { COMPOSITE_PLATFORMS } from './scheduler-factory.js';
import { ensembleLoadRounds, stepModelNames } from '../pipeline/index.js';
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
  private readonly models = new Map<string, ManagedModel>();
  /** Per model name, the load/unload in progress: later ones queue behind it. */
  private readonly transitions = new Map<string, Promise<void>>();
  private readonly log: Logger;
  private readonly loadOptions: LoadOptions;
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly admission: Admission;
  /** The response cache, when the server has one (InferenceServerOptions.cache). */
  readonly cache: ResponseCache | undefined;
  private readonly cacheMetrics: CacheMetrics | undefined;

  private constructor(private readonly options: InferenceServerOptions, backends: Map<string, Backend>) {
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
    this.loadOptions = Object.freeze({
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
  }

  /** Scans the repositories and loads every model concurrently; resolves when each is READY or UNAVAILABLE. */
  static async create(options: InferenceServerOptions): Promise<InferenceServer> {
    setComputeWorkerNice(options.computeNice ?? DEFAULT_COMPUTE_NICE);
    configureOrtTelemetry(options.allowOrtTelemetry === true);
    const backends = options.backends ?? await createBackends();
    const server = new InferenceServer(options, backends);
    const found = await scanRepositories([...options.modelRepositories], (e) => server.log.warn(e, 'not a model folder: ignored'));
    for (const f of found) {
      const m = new ManagedModel(f.name, f.root, f.modelDir);
      m.scanError = f.error;
      // A name in two repositories is listed once, unavailable with the reason (Triton refuses such a model too).
      if (!server.models.has(f.name)) server.models.set(f.name, m);
    }
    // Models that run on other models (ensembles) load after those, so their plans can look the others up.
    const all = [...server.models.values()];
    const composite = all.filter((m) => server.isComposite(m));
    await Promise.all(all.filter((m) => !composite.includes(m)).map((m) => server.loadOne(m)));
    // Ensembles of ensembles: each after the ones it uses (src/pipeline/load-order.ts).
    const uses = composite.map((m) => ({ name: m.name, uses: stepModelNames(server.configText(m)) }));
    for (const round of ensembleLoadRounds(uses)) {
      await Promise.all(round.map((name) => server.loadOne(server.models.get(name)!)));
    }
    return server;
  }

  /** Whether a model's config.pbtxt names a composite platform (read cheaply, before its config is loaded). */
  private isComposite(m: ManagedModel): boolean {
    const text = this.configText(m);
    return [...COMPOSITE_PLATFORMS].some((p) => new RegExp(`platform\\s*:\\s*"${p}"`).test(text));
  }

  /** The model's config.pbtxt as text ('' when there is none or it cannot be read). */
  private configText(m: ManagedModel): string {
    try {
      return readFileSync(join(m.modelDir, 'config.pbtxt'), 'utf8');
    } catch {
      return '';
    }
  }

  private lookupConfig(model: string, version: number): Readonly<ModelConfig> | undefined {
    const m = this.models.get(model);
    if (!m?.config) return undefined;
    if (version === -1) return m.newestReady() ? m.config : undefined;
    return m.versions.get(String(version))?.state === 'READY' ? m.config : undefined;
  }

  private async loadOne(m: ManagedModel): Promise<void> {
    this.log.debug({ model: m.name, dir: m.modelDir }, 'loading model');
    await loadModel(m, this.loadOptions);
    const cached = m.config?.response_cache?.enable === true;
    if (cached && !this.cacheMetrics) this.log.warn({ model: m.name }, 'response_cache is enabled but the server has no cache (--cache-config): not cached');
    for (const v of m.versions.values()) {
      if (v.state === 'READY' && cached && this.cacheMetrics) v.responseCache = this.cacheMetrics.forModel(m.name, v.version);
      if (v.state === 'READY') this.log.info({ model: m.name, version: v.version, instances: v.instances.length }, 'model ready');
      else this.log.error({ model: m.name, version: v.version, reason: v.reason }, 'model version failed to load');
    }
    if (m.versions.size === 0 && m.state === 'UNAVAILABLE') this.log.error({ model: m.name, reason: m.reason }, 'model failed to load');
  }

  private model(name: string): ManagedModel {
    if (!isPlainName(name)) throw invalidArgument(`'${name}' is not a plain model name`);
    const m = this.models.get(name);
    if (!m) throw notFound(`unknown model '${name}'`);
    return m;
  }

  /** The version a request runs on: the one asked for, or the highest READY one. */
  private resolve(name: string, version: string | undefined): ModelVersion {
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
    const newest = m.newestReady();
    if (newest) return newest;
    throw unavailable(`model '${name}' is not ready (${m.state}${m.reason ? `: ${m.reason}` : ''})`);
  }

  admit(probe: AdmissionProbe): InferenceError | undefined {
    if (this.closing) return unavailable('the server is shutting down');
    const refusal = this.admission.serverRefusal();
    if (refusal) return refusal;
    const v = this.models.get(probe.model)?.newestReady();
    // Only the common case is judged early (no version asked, or the newest); infer resolves and answers the rest.
    if (!v || (probe.version !== undefined && probe.version !== '' && probe.version !== v.version)) return undefined;
    return this.admission.versionRefusal(v, probe, performance.now() * 1000);
  }

  async infer(request: InferenceRequest): Promise<InferenceResponse> {
    if (this.closing) throw unavailable('the server is shutting down');
    const v = this.resolve(request.model, request.version);
    const startUs = performance.now() * 1000;
    if (v.responseCache && this.cache) return this.inferCached(v, v.responseCache, this.cache, request, startUs);
    return this.run(v, request, startUs, false);
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
    return { name: 'open-autoglm', version: PACKAGE_VERSION, extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'] };
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
      for (const v of [...m.versions.values()].reverse()) rows.push({ name: m.name, version: v.version, ...v.readiness() });
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

  /** Runs load/unload steps of one model name one after another. */
  private serialize<T>(name: string, step: () => Promise<T>): Promise<T> {
    const next = (this.transitions.get(name) ?? Promise.resolve()).then(step);
    this.transitions.set(name, next.then(() => undefined, () => undefined));
    return next;
  }

  /**
   * Triton's repository load: (re)loads a model from its folder (found again in the repositories when new), with
   * new version folders and config changes. A reload loads the new copy first and swaps it in when READY, then
   * drains and unloads the old one, so requests never see a gap; if the new copy fails, a serving old copy stays.
   */
  async loadModel(name: string): Promise<void> {
    if (this.closing) throw unavailable('the server is shutting down');
    if (!isPlainName(name)) throw invalidArgument(`'${name}' is not a plain model name`);
    const known = this.models.get(name);
    let root = known?.root;
    if (root === undefined) {
      root = this.options.modelRepositories.find((r) => {
        const d = join(r, name);
        return existsSync(d) && statSync(d).isDirectory();
      });
      if (root === undefined) throw notFound(`no model '${name}' in the model repositories`);
    }
    const modelRoot = root;
    await this.serialize(name, async () => {
      const old = this.models.get(name);
      const fresh = new ManagedModel(name, modelRoot, old?.modelDir ?? resolve(modelRoot, name));
      if (!old) this.models.set(name, fresh);
      await this.loadOne(fresh);
      if (fresh.state !== 'READY' && old?.state === 'READY') {
        this.log.error({ model: name, reason: fresh.reason }, 'reload failed: the loaded copy keeps serving');
        throw unavailable(`model '${name}' failed to reload (the loaded copy keeps serving): ${fresh.reason}`);
      }
      this.models.set(name, fresh);
      if (old && old !== fresh) await unloadModel(old, 'replaced by a reload');
      if (fresh.state !== 'READY') throw unavailable(`model '${name}' failed to load: ${fresh.reason}`);
    });
  }

  /** Triton's repository unload: finishes the model's queued and running requests, then frees its instances. */
  async unloadModel(name: string): Promise<void> {
    this.model(name);
    await this.serialize(name, async () => {
      const model = this.models.get(name)!;
      model.wanted = false;
      await unloadModel(model);
    });
    this.log.info({ model: name }, 'model unloaded');
  }

  /** Stops accepting requests, lets queued and running ones finish, unloads every model. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      await Promise.all([...this.models.keys()].map((name) => this.serialize(name, () => unloadModel(this.models.get(name)!, 'server closed'))));
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
