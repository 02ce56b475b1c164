/** Messages between a JsModelInstance (server thread) and its worker (js-worker.ts). One execute at a time. */
import type { JsModelContext } from './js-model.js';
import type { WireTensor } from './tensor-wire.js';

export type ToWorker =
  | { readonly type: 'init'; readonly modelPath: string; readonly context: JsModelContext }
  | { readonly type: 'execute'; readonly id: number; readonly inputs: WireTensor[]; readonly outputNames: string[] }
  | { readonly type: 'finalize' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly outputs: WireTensor[]; readonly inferUs: number }
  /** `code`: the error's own catalog code, when model code set one. */
  | { readonly type: 'error'; readonly id: number; readonly message: string; readonly code?: string }
  | { readonly type: 'finalized'; readonly error?: string };
