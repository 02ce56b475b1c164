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
import type { FromWorker, ToWorker, WireOutput, WorkerInit } from './worker-protocol.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (msg: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(init.modelPath, init.options);
} catch (err) {
  post({ kind: 'loadFailed', message: explainLoadError(err instanceof Error ? err.message : String(err)) });
  process.exit(0);
}
const inputNames = new Set(session.inputNames);
const outputNames = new Set(session.outputNames);

function describe(names: Set<string>): string {
  return [...names].map((n) => `'${n}'`).join(', ');
}

async function run(msg: Extract<ToWorker, { kind: 'run' }>): Promise<void> {
  const { id, buffer } = msg;
  try {
    const t0 = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    for (const w of msg.inputs) {
      if (!inputNames.has(w.name)) throw invalidArgument(`model has no input '${w.name}' (inputs: ${describe(inputNames)})`);
      feeds[w.name] = toOrtTensor(buffer, w);
    }
    for (const name of msg.outputNames) {
      if (!outputNames.has(name)) throw invalidArgument(`model has no output '${name}' (outputs: ${describe(outputNames)})`);
    }
    const t1 = performance.now();
    const results = msg.outputNames.length > 0 ? await session.run(feeds, [...msg.outputNames]) : {};
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

port.on('message', (msg: ToWorker) => {
  if (msg.kind === 'run') {
    void run(msg);
  } else if (msg.kind === 'close') {
    void session.release().finally(() => {
      post({ kind: 'closed' });
      port.close();
    });
  }
});

post({ kind: 'ready', inputNames: session.inputNames, outputNames: session.outputNames });
