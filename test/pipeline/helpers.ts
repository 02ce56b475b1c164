/** Small builders shared by the pipeline and JS backend tests: model configs and JS model folders on disk. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelConfig, TensorConfig } from '../../src/core/index.js';
import type { InstanceSpec } from '../../src/backends/backend.js';

export function tmpRepo(prefix = 'autoglm-pipe-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function tensorConfig(name: string, data_type: string, dims: number[]): TensorConfig {
  return { name, data_type, dims };
}

export function modelConfig(p: Partial<ModelConfig> & Pick<ModelConfig, 'name' | 'input' | 'output'>): ModelConfig {
  return {
    platform: '',
    backend: 'js',
    max_batch_size: 0,
    version_policy: { latest: { num_versions: 1 } },
    instance_group: [{ name: p.name, count: 1, kind: 'KIND_CPU', gpus: [] }],
    parameters: {},
    default_model_filename: 'model.mjs',
    ...p,
  };
}

/** Writes `<repo>/<name>/1/model.mjs` with `source` and returns the InstanceSpec for instance 0. */
export function writeJsModel(repo: string, config: ModelConfig, source: string, index = 0): InstanceSpec {
  const modelDir = join(repo, config.name);
  const versionDir = join(modelDir, '1');
  mkdirSync(versionDir, { recursive: true });
  const modelPath = join(versionDir, 'model.mjs');
  writeFileSync(modelPath, source);
  return jsSpec(repo, config, index);
}

export function jsSpec(repo: string, config: ModelConfig, index = 0): InstanceSpec {
  const modelDir = join(repo, config.name);
  const versionDir = join(modelDir, '1');
  return {
    model: config.name,
    version: '1',
    modelDir,
    versionDir,
    modelPath: join(versionDir, config.default_model_filename || 'model.mjs'),
    config,
    instanceName: `${config.name}_0_${index}`,
    kind: 'KIND_CPU',
    threads: 1,
  };
}

export const utf8 = (s: string) => new TextEncoder().encode(s);
export const fromUtf8 = (b: Uint8Array) => new TextDecoder().decode(b);
