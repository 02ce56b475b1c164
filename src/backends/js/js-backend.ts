/**
 * The `js` backend: models written in JavaScript/TypeScript (pre- and post-processing, tokenizers, decoders), each
 * instance in its own worker thread. The model directory is trusted code: it runs with the server's privileges.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Backend, InstanceSpec, ModelInstance } from '../backend.js';
import { JsModelInstance } from './js-instance.js';

/** The file names a JS model may use when the config names none (or names one that is absent). */
export const JS_MODEL_FILENAMES = ['model.js', 'model.mjs'] as const;

function resolveModelPath(spec: InstanceSpec): string {
  if (existsSync(spec.modelPath)) return spec.modelPath;
  // The repository's default (model.js) may not be the file the author wrote (model.mjs), or the other way round.
  if ((JS_MODEL_FILENAMES as readonly string[]).includes(basename(spec.modelPath))) {
    for (const f of JS_MODEL_FILENAMES) {
      const p = join(spec.versionDir, f);
      if (existsSync(p)) return p;
    }
  }
  throw new Error(`model '${spec.model}' version ${spec.version}: no model file ${spec.modelPath}`);
}

export class JsBackend implements Backend {
  readonly name = 'js';

  async createInstance(spec: InstanceSpec): Promise<ModelInstance> {
    const modelPath = resolveModelPath(spec);
    const instance = new JsModelInstance({ ...spec, modelPath });
    try {
      await instance.start();
    } catch (err) {
      await instance.unload();
      throw new Error(`model '${spec.model}' version ${spec.version} (${modelPath}): ${(err as Error).message}`, { cause: err });
    }
    return instance;
  }
}

export function createJsBackend(): Backend {
  return new JsBackend();
}
