/**
 * Whether the execution providers an instance asks for exist in the installed onnxruntime-node.
 *
 * onnxruntime-node ships the CPU build; its `listSupportedBackends()` names `cuda` and `tensorrt` with
 * `bundled: false` on linux/x64: the provider libraries come only from `npm ci --onnxruntime-node-install=cuda12`,
 * which puts `libonnxruntime_providers_<ep>.so` beside the native binding. Without that file ORT fails deep in
 * session creation ("Failed to load shared library"), so we check first and say how to fix it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ProviderName } from './session-options.js';

export const CUDA_INSTALL_HINT =
  'install the CUDA build of onnxruntime-node with `npm ci --onnxruntime-node-install=cuda12` ' +
  '(or ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci); it needs CUDA 12 and cuDNN 9 on the machine';

/** Folder of onnxruntime-node's native binding (where the provider libraries must lie), if it can be found. */
function bindingFolder(): string | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    const dir = join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function providerLibrary(ep: string): string {
  return process.platform === 'win32' ? `onnxruntime_providers_${ep}.dll` : `libonnxruntime_providers_${ep}.so`;
}

/** Why the providers cannot be used, or undefined when they can (as far as can be told before loading). */
export function missingProviderReason(providers: readonly ProviderName[]): string | undefined {
  const supported = new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  const folder = bindingFolder();
  for (const ep of providers) {
    if (ep === 'cpu') continue;
    const bundled = supported.get(ep);
    if (bundled === undefined) {
      return `execution provider '${ep}' is not available in onnxruntime-node on ${process.platform}/${process.arch} ` +
        `(available: ${[...supported.keys()].join(', ')})`;
    }
    if (!bundled && folder !== undefined && !existsSync(join(folder, providerLibrary(ep)))) {
      return `execution provider '${ep}' is not installed (no ${providerLibrary(ep)} in ${folder}): ${CUDA_INSTALL_HINT}`;
    }
  }
  return undefined;
}

/** ORT's own message when a provider library fails to load, with the fix appended. */
export function explainLoadError(message: string): string {
  return /Failed to load (shared )?library|providers_(cuda|tensorrt|shared)/i.test(message)
    ? `${message}; ${CUDA_INSTALL_HINT}`
    : message;
}
