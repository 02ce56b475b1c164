/** Shared set-up for the ONNX backend tests: a model file in a temp folder and the InstanceSpec for it. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/core/index.js';
import type { InstanceSpec } from '../../src/backends/backend.js';

export interface TempModel {
  readonly path: string;
  spec(overrides?: Omit<Partial<InstanceSpec>, 'config'> & { config?: Partial<ModelConfig> }): InstanceSpec;
  remove(): void;
}

export function tempModel(name: string, bytes: Uint8Array): TempModel {
  const dir = mkdtempSync(join(tmpdir(), `autoglm-onnx-${name}-`));
  const path = join(dir, 'model.onnx');
  writeFileSync(path, bytes);
  return {
    path,
    spec(overrides = {}) {
      const { config: configOverrides, ...rest } = overrides;
      const config: ModelConfig = {
        name, platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: 0,
        version_policy: { latest: { num_versions: 1 } }, input: [], output: [], instance_group: [],
        parameters: {}, default_model_filename: 'model.onnx', ...configOverrides,
      };
      return {
        model: name, version: '1', modelDir: dir, versionDir: dir, modelPath: path, config,
        instanceName: `${name}_0_0`, kind: 'KIND_CPU', threads: 1, ...rest,
      };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
