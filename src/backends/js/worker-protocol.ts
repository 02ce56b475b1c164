/** Messages between a JsModelInstance (server thread) and its worker (js-worker.ts). One execute (or stream) at a time. */
import type { JsModelContext } from './js-model.js';
import type { WireTensor } from './tensor-wire.js';

export type ToWorker =
  | { readonly type: 'init'; readonly modelPath: string; readonly context: JsModelContext }
  | { readonly type: 'execute'; readonly id: number; readonly inputs: WireTensor[]; readonly outputNames: string[] }
  /** A decoupled model's request: each response comes back as an `item`, then `done` (or `error`). */
  | { readonly type: 'execute-stream'; readonly id: number; readonly inputs: WireTensor[]; readonly outputNames: string[] }
  /** Stop the stream `id` between responses (its iterator's return() runs); `done` still follows. */
  | { readonly type: 'cancel'; readonly id: number }
  /**
   * Flow control: the server has taken `count` items of stream `id` in all. The worker keeps at most
   * STREAM_WINDOW items ahead of it, so a server that is slow to take them (or holds them back while its client does
   * not read) pauses the model.
   */
  | { readonly type: 'ack'; readonly id: number; readonly count: number }
  | { readonly type: 'finalize' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly outputs: WireTensor[]; readonly inferUs: number }
  /** One response of stream `id`; `inferUs`: the time since the previous one (or since the start). */
  | { readonly type: 'item'; readonly id: number; readonly outputs: WireTensor[]; readonly inferUs: number }
  /** Stream `id` ended: no item follows (its iterator finished, or it was cancelled). */
  | { readonly type: 'done'; readonly id: number }
  /** `code`: the error's own catalog code, when model code set one. */
  | { readonly type: 'error'; readonly id: number; readonly message: string; readonly code?: string }
  | { readonly type: 'finalized'; readonly error?: string };

/** Items of one stream the worker sends ahead of the server's `ack`s; the server acks every half window. */
export const STREAM_WINDOW = 64;
