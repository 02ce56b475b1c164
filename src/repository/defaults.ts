/**
 * Every default of a model configuration, in one place. A field the config leaves out takes its value from
 * here (or from the model file, for inputs, outputs and max_batch_size: see auto-complete.ts).
 */
import type { InstanceGroupConfig, QueuePolicy, VersionPolicy } from '../core/index.js';

export const PLATFORM_ONNX = 'onnxruntime_onnx';
export const BACKEND_ONNX = 'onnxruntime';
export const PLATFORM_ENSEMBLE = 'ensemble';
export const BACKEND_JS = 'js';

/** max_batch_size given to a batchable model whose config does not set it (Triton's default-max-batch-size). */
export const DEFAULT_MAX_BATCH_SIZE = 64;

export const defaultVersionPolicy = (): VersionPolicy => ({ latest: { num_versions: 1 } });

/** CPU only: onnxruntime-node here has no GPU provider, so KIND_AUTO means CPU unless gpus are listed. */
/** The name stays '' here; the loader names unnamed groups `<model>_<index>` once the model name is known. */
export const defaultInstanceGroup = (): InstanceGroupConfig => ({
  name: '',
  count: 1,
  kind: 'KIND_CPU',
  gpus: [],
});

export const defaultQueuePolicy = (): QueuePolicy => ({
  timeout_action: 'REJECT',
  default_timeout_microseconds: 0,
  allow_timeout_override: false,
  max_queue_size: 0,
});

/** Triton's max_sequence_idle_microseconds when the config leaves it out (or writes 0). */
export const DEFAULT_MAX_SEQUENCE_IDLE_US = 1_000_000;

/** The model file name in a version folder, by backend; a js model may also be model.mjs (checked on disk). */
export function defaultModelFilename(backend: string): string {
  if (backend === BACKEND_JS) return 'model.js';
  if (backend === BACKEND_ONNX) return 'model.onnx';
  return '';
}
export const JS_MODEL_FILENAMES = ['model.js', 'model.mjs'] as const;

export const CONFIG_FILENAME = 'config.pbtxt';
