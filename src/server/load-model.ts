import { join } from 'node:path';
import { type ModelConfig, dataTypeInfo, fromConfigName } from '../core/index.js';
import type { Backend, InstanceSpec, ModelCacheSettings, ModelInstance } from '../backends/backend.js';
import { loadModelConfig, selectVersions, modelFilePath, scanModel } from '../repository/index.js';
import { COMPOSITE_PLATFORMS, createScheduler, type SchedulerContext } from './scheduler-factory.js';
import { compileRequestSpec } from './validate-request.js';
import { type ManagedModel, ModelVersion } from './model-version.js';
import type { ModelMetadata, TensorMetadata } from './service.js';
import { sloGuardOf } from './slo-guard.js';
import { queueConfigOf } from '../scheduler/queue-config.js';

export interface LoadOptions {
  readonly strictModelConfig: boolean;
  readonly defaultMaxBatchSize: number | undefined;
  readonly backends: ReadonlyMap<string, Backend>;
  /** Receives config warnings (Triton fields this server ignores), with file and line. */
  readonly onWarning?: (model: string, warning: string) => void;
  /** Cores to split among one version's instances (InferenceServerOptions.computeCores). */
  readonly cores: number;
  /** InferenceServerOptions.modelCacheDir's settings; undefined = no optimized-model cache. */
  readonly modelCache: ModelCacheSettings | undefined;
  readonly schedulerContext: SchedulerContext;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Which backend runs a config: `backend` wins, then `platform` (Triton's two spellings). */
export function backendNameOf(config: Readonly<ModelConfig>): string {
  if (config.backend) return config.backend;
  if (config.platform === 'onnxruntime_onnx' || config.platform === '') return 'onnxruntime';
  return config.platform;
}

function tensorMetadata(t: { name: string; data_type: string; dims: number[] }, batched: boolean): TensorMetadata {
  const dt = fromConfigName(t.data_type);
  return Object.freeze({
    name: t.name,
    datatype: dt ? dataTypeInfo(dt).name : t.data_type,
    shape: Object.freeze(batched ? [-1, ...t.dims] : [...t.dims]),
  });
}

/** The v2 metadata of a model (batch dimension shown as -1 when max_batch_size > 0). */
export function buildMetadata(config: Readonly<ModelConfig>, versions: readonly string[]): ModelMetadata {
  const batched = config.max_batch_size > 0;
  return Object.freeze({
    name: config.name,
    versions: Object.freeze([...versions]),
    platform: config.platform || 'onnxruntime_onnx',
    inputs: Object.freeze(config.input.map((t) => tensorMetadata(t, batched))),
    outputs: Object.freeze(config.output.map((t) => tensorMetadata(t, batched))),
  });
}

/** The instances one version gets: each instance_group's count (per listed GPU for KIND_GPU). */
export function planInstances(config: Readonly<ModelConfig>): Array<Pick<InstanceSpec, 'instanceName' | 'kind' | 'gpu'>> {
  const groups = config.instance_group.length > 0
    ? config.instance_group
    : [{ name: `${config.name}_0`, count: 1, kind: 'KIND_CPU' as const, gpus: [] }];
  const plan: Array<Pick<InstanceSpec, 'instanceName' | 'kind' | 'gpu'>> = [];
  groups.forEach((g, gi) => {
    const groupName = g.name || `${config.name}_${gi}`;
    const gpu = g.kind === 'KIND_GPU';
    const devices: Array<number | undefined> = gpu ? (g.gpus.length > 0 ? g.gpus : [0]) : [undefined];
    let i = 0;
    for (const device of devices) {
      for (let c = 0; c < Math.max(1, g.count); c++) {
        plan.push({ instanceName: `${groupName}_${i++}`, kind: gpu ? 'KIND_GPU' : 'KIND_CPU', gpu: device });
      }
    }
  });
  return plan;
}

async function loadVersion(m: ManagedModel, v: ModelVersion, config: Readonly<ModelConfig>, opts: LoadOptions): Promise<void> {
  v.queue = queueConfigOf(config.dynamic_batching);
  const metrics = opts.schedulerContext.metrics;
  v.slo = sloGuardOf(config, metrics && ((levels) => metrics.forSlo(m.name, v.version, levels)));
  if (COMPOSITE_PLATFORMS.has(config.platform)) {
    v.spec = compileRequestSpec(config);
    v.scheduler = createScheduler({ model: m.name, version: v.version, config, instances: [] }, opts.schedulerContext);
    v.state = 'READY';
    return;
  }
  const backendName = backendNameOf(config);
  const backend = opts.backends.get(backendName);
  if (!backend) throw new Error(`no backend '${backendName}' (platform '${config.platform}') is available`);
  const plan = planInstances(config);
  const threads = Math.max(1, Math.floor(opts.cores / plan.length));
  const versionDir = join(m.modelDir, v.version);
  const modelPath = modelFilePath(m.modelDir, v.version, config);
  const settled = await Promise.allSettled(plan.map((p) => backend.createInstance(Object.freeze({
    model: m.name, version: v.version, modelDir: m.modelDir, versionDir, modelPath, config, threads, modelCache: opts.modelCache, ...p,
  }))));
  const instances: ModelInstance[] = [];
  let failure: unknown;
  for (const s of settled) {
    if (s.status === 'fulfilled') instances.push(s.value);
    else failure ??= s.reason;
  }
  if (failure !== undefined) {
    await Promise.allSettled(instances.map((i) => i.unload()));
    throw failure;
  }
  v.instances = instances;
  v.spec = compileRequestSpec(config);
  try {
    v.scheduler = createScheduler({ model: m.name, version: v.version, config, instances }, opts.schedulerContext);
    // Warm-up batches teach the batch policy t(b) and pay the session's first-run cost before live traffic.
    await v.scheduler.warmUp?.();
  } catch (err) {
    await Promise.allSettled(instances.map((i) => i.unload()));
    throw err;
  }
  v.state = 'READY';
}

/**
 * Loads a model from its folder: config (parsed or auto-completed), versions by the version policy, and each
 * version's instances and scheduler. Never throws: failures end in state UNAVAILABLE with the reason, on the model
 * (config errors) or on the version (load errors), so other models and versions keep serving.
 */
export async function loadModel(m: ManagedModel, opts: LoadOptions): Promise<void> {
  m.state = 'LOADING';
  m.reason = '';
  m.versions = new Map();
  let config: Readonly<ModelConfig>;
  let versions: string[];
  try {
    if (m.scanError) throw new Error(m.scanError);
    // Rescanned on every load, so a repository load picks up new version folders and a changed config.
    const scanned = await scanModel(m.name, m.root, m.modelDir);
    const loaded = await loadModelConfig(scanned, { strict: opts.strictModelConfig, defaultMaxBatchSize: opts.defaultMaxBatchSize });
    config = loaded.config;
    for (const w of loaded.warnings) opts.onWarning?.(m.name, w);
    versions = selectVersions(config, scanned.versions).map(String);
    if (versions.length === 0) {
      throw new Error(`no version folder of model '${m.name}' matches its version policy (found: ${scanned.versions.join(', ') || 'none'})`);
    }
  } catch (err) {
    m.state = 'UNAVAILABLE';
    m.reason = reasonOf(err);
    return;
  }
  m.config = config;
  m.metadata = buildMetadata(config, [...versions].sort((a, b) => Number(a) - Number(b)));
  for (const ver of versions) m.versions.set(ver, new ModelVersion(m.name, ver));
  await Promise.all([...m.versions.values()].map(async (v) => {
    try {
      await loadVersion(m, v, config, opts);
    } catch (err) {
      v.fail(reasonOf(err));
    }
  }));
  const ready = [...m.versions.values()].some((v) => v.state === 'READY');
  m.state = ready ? 'READY' : 'UNAVAILABLE';
  if (!ready) m.reason = [...m.versions.values()].map((v) => `version ${v.version}: ${v.reason}`).join('; ');
}

/** Drains every version's scheduler (queued and running requests finish), then unloads its instances. */
export async function unloadModel(m: ManagedModel, reason = 'unloaded'): Promise<void> {
  m.state = 'UNLOADING';
  await Promise.all([...m.versions.values()].map(async (v) => {
    if (v.state !== 'READY') return;
    v.state = 'UNLOADING';
    await v.scheduler?.drain();
    await Promise.allSettled(v.instances.map((i) => i.unload()));
    v.fail(reason);
  }));
  m.state = 'UNAVAILABLE';
  m.reason = reason;
}
