/**
 * What a JS model file exports (the contract for model authors; see docs/pipelines.md).
 *
 * A version directory holds `model.js` or `model.mjs` (an ES module, or a TypeScript module compiled to one) that
 * exports these functions, either as named exports or as the properties of its default export. It is the shape of
 * Triton's Python backend: initialize once per instance, execute once per batch, finalize at unload.
 */
import type { DataType, ModelConfig } from '../../core/index.js';

/** A tensor as model code sees it: BYTES elements are Uint8Arrays (model code may also return strings). */
export interface JsTensor {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number> | ArrayLike<bigint> | readonly (Uint8Array | string)[];
}

/** Handed to `initialize`, once per instance, in the instance's worker thread. */
export interface JsModelContext {
  readonly model: string;
  readonly version: string;
  readonly config: Readonly<ModelConfig>;
  /** `<repo>/<model>` */
  readonly modelDir: string;
  /** `<repo>/<model>/<version>`: where the model's own files (vocabularies, weights) live. */
  readonly versionDir: string;
  /** e.g. `tokenizer_0_1`; unique among the instances of this model. */
  readonly instanceName: string;
  /** CPU threads the server budgets for this instance. */
  readonly threads: number;
}

export interface JsModel {
  initialize?(context: JsModelContext): void | Promise<void>;
  /**
   * Runs one batch. `inputs` are whole batches (dim 0 is the batch when max_batch_size > 0), in no particular
   * order: find them by name. Returns at least the tensors named in `outputNames` (others are ignored); their
   * buffers are handed over to the server (transferred), so return arrays the model does not keep using.
   * Throw to fail the batch; an error with `code` set to a catalog code (e.g. 'INVALID_ARGUMENT') keeps that code,
   * anything else is INTERNAL.
   *
   * A decoupled model (`model_transaction_policy { decoupled: true }`, docs/streaming.md) may instead return an async
   * iterable (be an `async function*`): each item is one response, sent as it is yielded. When the client goes away
   * the server stops asking for items and calls the iterator's `return()`, so a generator's `finally` runs. An error
   * thrown after some items fails the request after those responses.
   */
  execute(inputs: JsTensor[], outputNames: string[]): JsTensor[] | Promise<JsTensor[]> | AsyncIterable<JsTensor[]>;
  finalize?(): void | Promise<void>;
}
