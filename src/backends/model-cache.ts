/**
 * The optimized-model cache's settings (`--model-cache-dir`, `--model-cache-max-bytes`; docs/model-cache.md),
 * checked once at server start.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ModelCacheSettings } from './backend.js';

/** The default bound of the cache folder: a few versions of a few models of the sizes served here. */
export const DEFAULT_MODEL_CACHE_MAX_BYTES = 2 * 1024 ** 3;

/** Creates the folder when missing and returns the settings; throws with the reason when it cannot be created. */
export function modelCacheSettings(dir: string, maxBytes = DEFAULT_MODEL_CACHE_MAX_BYTES): ModelCacheSettings {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new Error(`model cache size bound must be a non-negative integer, got ${maxBytes}`);
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (err) {
    throw new Error(`cannot create the model cache folder ${abs}: ${(err as Error).message}`);
  }
  return Object.freeze({ dir: abs, maxBytes });
}
