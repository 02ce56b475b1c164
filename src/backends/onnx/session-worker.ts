/**
 * Worker entry: holds one InferenceSession and runs one batch at a time for its OnnxInstance.
 * Runs here because onnxruntime-node computes `session.run()` on the calling JS thread (ARCHITECTURE.md).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { invalidArgument } from '../../core/index.js';
import { explainLoadError } from './execution-providers.js';
import { classifyRunError, fromOrtTensor, toOrtTensor } from './ort-tensors.js';
import { commitEntry, discardTemp, readEntry, tempPathFor } from './optimized-model-file.js';
import type { FromWorker, ToWorker, WireOutput, WorkerInit } from './worker-protocol.js';

const port = parentPort!;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

const quoted = (names: Set<string>): string => [...names].map((n) => `'${n}'`).join(', ');

class SessionHost {
  private readonly inputNames: Set<string>;
  private readonly outputNames: Set<string>;

  constructor(private readonly session: ort.InferenceSession) {
    this.inputNames = new Set(session.inputNames);
    this.outputNames = new Set(session.outputNames);
  }

  async run(msg: Extract<ToWorker, { kind: 'run' }>): Promise<void> {
    const { id, buffer } = msg;
    try {
      const t0 = performance.now();
      const feeds: Record<string, ort.Tensor> = {};
      for (const w of msg.inputs) {
        if (!this.inputNames.has(w.name)) throw invalidArgument(`model has no input '${w.name}' (inputs: ${quoted(this.inputNames)})`);
        feeds[w.name] = toOrtTensor(buffer, w);
      }
      for (const name of msg.outputNames) {
        if (!this.outputNames.has(name)) throw invalidArgument(`model has no output '${name}' (outputs: ${quoted(this.outputNames)})`);
      }
      const t1 = performance.now();
      const results = msg.outputNames.length > 0 ? await this.session.run(feeds, [...msg.outputNames]) : {};
      const t2 = performance.now();
      const outputs: WireOutput[] = msg.outputNames.map((name) => fromOrtTensor(name, results[name]));
      const transfer = new Set<ArrayBuffer>([buffer]);
      for (const o of outputs) transfer.add(o.buffer);
      const t3 = performance.now();
      const timing = { inputUs: (t1 - t0) * 1000, inferUs: (t2 - t1) * 1000, outputUs: (t3 - t2) * 1000 };
      post({ kind: 'result', id, buffer, outputs, timing }, [...transfer]);
    } catch (err) {
      const e = classifyRunError(err);
      post({ kind: 'failed', id, buffer, code: e.code, message: e.message }, [buffer]);
    }
  }

  async close(): Promise<void> {
    try {
      await this.session.release();
    } finally {
      post({ kind: 'closed' });
      port.close();
    }
  }
}

/**
 * With a cache entry (docs/model-cache.md): a verified entry is loaded with graph optimization off (its graph is
 * already optimized at the requested level, for this machine); otherwise the model is optimized as usual and ORT
 * saves the result, which becomes the entry. A cache that cannot be read or written never fails the load: a bad
 * entry is a miss, and a failed save is retried once without saving (e.g. a model ORT cannot save in one file).
 */
async function createSession(init: WorkerInit): Promise<ort.InferenceSession> {
  const entry = init.cache;
  if (entry === undefined) return ort.InferenceSession.create(init.modelPath, init.options);
  const found = readEntry(entry);
  if (found.kind === 'hit') {
    try {
      return await ort.InferenceSession.create(found.model, { ...init.options, graphOptimizationLevel: 'disabled' });
    } catch {
      // verified bytes ORT still refuses (e.g. written by a build that differs in ways the key misses): rewrite it
    }
  }
  const temp = tempPathFor(entry);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.modelPath, { ...init.options, optimizedModelFilePath: temp });
  } catch {
    discardTemp(temp);
    return ort.InferenceSession.create(init.modelPath, init.options);
  }
  try {
    commitEntry(entry, temp, ort.env.versions.node ?? 'unknown');
  } catch {
    // a full or read-only folder: this start is cold, the session is good
  }
  return session;
}

async function start(init: WorkerInit): Promise<void> {
  let session: ort.InferenceSession;
  try {
    session = await createSession(init);
  } catch (err) {
    post({ kind: 'loadFailed', message: explainLoadError(err instanceof Error ? err.message : String(err)) });
    port.close(); // nothing keeps the worker alive now: it ends once the message is out
    return;
  }
  const host = new SessionHost(session);
  port.on('message', (msg: ToWorker) => {
    if (msg.kind === 'run') void host.run(msg);
    else if (msg.kind === 'close') void host.close();
  });
  post({ kind: 'ready', inputNames: session.inputNames, outputNames: session.outputNames });
}

await start(workerData as WorkerInit);
