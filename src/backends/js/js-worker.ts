/**
 * The worker thread of one JS model instance: imports the model file, calls initialize once, execute per batch,
 * finalize at the end. Runs model code off the server's event loop so a slow tokenizer never delays HTTP.
 */
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { JsModel, JsModelContext, JsTensor } from './js-model.js';
import { packTensors, unpackTensor } from './tensor-wire.js';
import type { ToWorker, FromWorker } from './worker-protocol.js';

if (!parentPort) throw new Error('js-worker.ts must run in a worker thread');
const port = parentPort;

let model: JsModel | undefined;

function describe(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, code: typeof code === 'string' ? code : undefined };
  }
  return { message: String(err) };
}

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  try {
    port.postMessage(msg, transfer);
  } catch (err) {
    // Some buffers cannot be moved (e.g. memory owned by a native addon): send copies instead.
    if (transfer.length > 0) port.postMessage(msg);
    else throw err;
  }
}

async function load(modelPath: string, context: JsModelContext): Promise<void> {
  const mod = (await import(pathToFileURL(modelPath).href)) as Record<string, unknown>;
  const candidate = (typeof mod.default === 'object' && mod.default !== null ? mod.default : mod) as Partial<JsModel>;
  if (typeof candidate.execute !== 'function') {
    throw new Error(`${modelPath} exports no execute() function (named export or default export's property)`);
  }
  model = candidate as JsModel;
  await model.initialize?.(context);
}

async function execute(id: number, msg: Extract<ToWorker, { type: 'execute' }>): Promise<void> {
  const inputs = msg.inputs.map(unpackTensor) as JsTensor[];
  const t0 = performance.now();
  let outputs: JsTensor[];
  try {
    outputs = await model!.execute(inputs, msg.outputNames);
    if (!Array.isArray(outputs)) throw new Error(`execute() returned ${typeof outputs}, expected an array of tensors`);
  } catch (err) {
    send({ type: 'error', id, ...describe(err) });
    return;
  }
  const inferUs = (performance.now() - t0) * 1000;
  const wanted = new Set(msg.outputNames);
  let packed;
  try {
    packed = packTensors(outputs.filter((t) => t && wanted.has(t.name)), false);
  } catch (err) {
    send({ type: 'error', id, message: `execute() returned a bad tensor: ${describe(err).message}` });
    return;
  }
  send({ type: 'result', id, outputs: packed.tensors, inferUs }, packed.transfer);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      load(msg.modelPath, msg.context).then(
        () => send({ type: 'ready' }),
        (err) => send({ type: 'init-error', message: describe(err).message }),
      );
      break;
    case 'execute':
      void execute(msg.id, msg);
      break;
    case 'finalize':
      Promise.resolve()
        .then(() => model?.finalize?.())
        .then(
          () => send({ type: 'finalized' }),
          (err) => send({ type: 'finalized', error: describe(err).message }),
        );
      break;
  }
});
