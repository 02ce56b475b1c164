import { join } from 'node:path';
import { type ModelConfig, dataTypeInfo, fromConfigName } from '../core/index.js';
import type { Backend, InstanceSpec, ModelInstance } from '../backends/backend.js';
import { loadModelConfig, selectVersions, modelFilePath, scanModel } from '../repository/index.js';
import { COMPOSITE_PLATFORMS, createScheduler, type SchedulerContext } from './scheduler-factory.js';
import { compileRequestSpec } from './validate-request.js';
import type { ManagedModel, ModelVersion } from './model-version.js';
import { compileWarmup } from './warmup-samples.js';
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
  readonly schedulerContext: SchedulerContext;
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

/**
 * Starts one version: its instances, its scheduler, then its warm-up (the config's model_warmup samples, else the
 * automatic one). Sets the version's runtime fields; its state is the caller's (ModelLifecycle). On failure, frees
 * what it made and throws.
 */
export async function startVersion(m: ManagedModel, v: ModelVersion, config: Readonly<ModelConfig>, opts: LoadOptions): Promise<void> {
  v.queue = queueConfigOf(config.dynamic_batching);
  const metrics = opts.schedulerContext.metrics;
  v.slo = sloGuardOf(config, metrics && ((levels) => metrics.forSlo(m.name, v.version, levels)));
  const samples = compileWarmup(config, m.modelDir);
  if (COMPOSITE_PLATFORMS.has(config.platform)) {
    v.spec = compileRequestSpec(config);
    v.scheduler = createScheduler({ model: m.name, version: v.version, config, instances: [] }, opts.schedulerContext);
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
    model: m.name, version: v.version, modelDir: m.modelDir, versionDir, modelPath, config, threads, ...p,
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
    // Warm-up pays the session's first-run cost before live traffic and teaches the batch policy t(b); a version is
    // READY only once it ran on every instance.
    await v.scheduler.warmUp?.(samples);
  } catch (err) {
    await Promise.allSettled(instances.map((i) => i.unload()));
    throw err;
  }
}

/** A model's config (parsed or auto-completed, rescanned from its folder) and the versions its policy serves. */
export async function readModel(m: ManagedModel, opts: LoadOptions): Promise<{ config: Readonly<ModelConfig>; versions: string[] }> {
  if (m.scanError) throw new Error(m.scanError);
  // Rescanned on every load, so a repository load picks up new version folders and a changed config.
  const scanned = await scanModel(m.name, m.root, m.modelDir);
  const loaded = await loadModelConfig(scanned, { strict: opts.strictModelConfig, defaultMaxBatchSize: opts.defaultMaxBatchSize });
  for (const w of loaded.warnings) opts.onWarning?.(m.name, w);
  const versions = selectVersions(loaded.config, scanned.versions).map(String);
  if (versions.length === 0) {
    throw new Error(`no version folder of model '${m.name}' matches its version policy (found: ${scanned.versions.join(', ') || 'none'})`);
  }
  return { config: loaded.config, versions };
}

/** Drains a started version's scheduler (queued and running requests finish), then unloads its instances. */
export async function stopVersion(v: ModelVersion): Promise<void> {
  await v.scheduler?.drain();
  await Promise.allSettled(v.instances.map((i) => i.unload()));
}
