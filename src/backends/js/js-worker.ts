/**
 * The worker thread of one JS model instance: imports the model file, calls initialize once, execute per batch,
 * finalize at the end. Runs model code off the server's event loop so a slow tokenizer never delays HTTP.
 */
import { parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { JsModel, JsModelContext, JsTensor } from './js-model.js';
import { packTensors, unpackTensor } from './tensor-wire.js';
import { STREAM_WINDOW, type ToWorker, type FromWorker } from './worker-protocol.js';

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

const isAsyncIterable = (v: unknown): v is AsyncIterable<JsTensor[]> =>
  typeof v === 'object' && v !== null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

/** The wanted tensors of one answer, packed; throws (a message for the client) when the answer is not tensors. */
function packAnswer(outputs: unknown, outputNames: readonly string[]) {
  if (!Array.isArray(outputs)) throw new Error(`execute() returned ${typeof outputs}, expected an array of tensors`);
  const wanted = new Set(outputNames);
  try {
    return packTensors((outputs as JsTensor[]).filter((t) => t && wanted.has(t.name)), false);
  } catch (err) {
    throw new Error(`execute() returned a bad tensor: ${describe(err).message}`);
  }
}

async function execute(id: number, msg: Extract<ToWorker, { type: 'execute' }>): Promise<void> {
  const inputs = msg.inputs.map(unpackTensor) as JsTensor[];
  const t0 = performance.now();
  let packed;
  try {
    const outputs = await model!.execute(inputs, msg.outputNames);
    if (isAsyncIterable(outputs)) throw new Error('execute() returned an async iterable (several responses): the model must be decoupled (model_transaction_policy { decoupled: true })');
    packed = packAnswer(outputs, msg.outputNames);
  } catch (err) {
    send({ type: 'error', id, ...describe(err) });
    return;
  }
  send({ type: 'result', id, outputs: packed.tensors, inferUs: (performance.now() - t0) * 1000 }, packed.transfer);
}

/** A stream in progress: `cancelled` stops it between responses; items sent and acknowledged bound how far ahead it runs. */
interface StreamState {
  cancelled: boolean;
  iterator?: AsyncIterator<JsTensor[]>;
  sent: number;
  acked: number;
  /** Set while the window is full: called on an ack or a cancel. */
  wake?: () => void;
}

const streams = new Map<number, StreamState>();

/** Longest a stream keeps this thread from its messages (cancel, ack) while its generator runs without waiting. */
const YIELD_MS = 1;

/** Ends a stream early: its iterator's return() runs (a generator's finally), now or after the item it is making. */
function stopIterator(it: AsyncIterator<JsTensor[]>): void {
  Promise.resolve().then(() => it.return?.()).catch(() => { /* the model's cleanup failed: nothing to tell anyone */ });
}

/** A decoupled model's request: one `item` per response (an array answer is one), then `done` — or `error`. */
async function executeStream(id: number, msg: Extract<ToWorker, { type: 'execute-stream' }>): Promise<void> {
  const state: StreamState = { cancelled: false, sent: 0, acked: 0 };
  streams.set(id, state);
  let t = performance.now();
  const item = (outputs: unknown): void => {
    const packed = packAnswer(outputs, msg.outputNames);
    const now = performance.now();
    send({ type: 'item', id, outputs: packed.tensors, inferUs: (now - t) * 1000 }, packed.transfer);
    state.sent++;
    t = now;
  };
  try {
    const produced = await model!.execute(msg.inputs.map(unpackTensor) as JsTensor[], msg.outputNames);
    if (!isAsyncIterable(produced)) {
      if (!state.cancelled) item(produced);
    } else {
      const it = (state.iterator = produced[Symbol.asyncIterator]());
      if (state.cancelled) stopIterator(it);
      try {
        let turn = performance.now();
        while (!state.cancelled) {
          // A generator that never awaits anything but its own yields runs in microtasks only, and would keep this
          // thread from reading `cancel` or `pause`: give the event loop a turn at least every YIELD_MS.
          if (performance.now() - turn > YIELD_MS) {
            await new Promise((r) => setImmediate(r));
            turn = performance.now();
          }
          while (state.sent - state.acked >= STREAM_WINDOW && !state.cancelled) await new Promise<void>((r) => { state.wake = r; });
          if (state.cancelled) break;
          const step = await it.next();
          if (step.done || state.cancelled) break;
          item(step.value);
        }
      } catch (err) {
        if (!state.cancelled) stopIterator(it);
        throw err;
      }
    }
  } catch (err) {
    streams.delete(id);
    send({ type: 'error', id, ...describe(err) });
    return;
  }
  streams.delete(id);
  send({ type: 'done', id });
}

function cancel(id: number): void {
  const s = streams.get(id);
  if (!s || s.cancelled) return;
  s.cancelled = true;
  s.wake?.();
  if (s.iterator) stopIterator(s.iterator);
}

function ack(id: number, count: number): void {
  const s = streams.get(id);
  if (!s) return;
  s.acked = count;
  const wake = s.wake;
  s.wake = undefined;
  wake?.();
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
    case 'execute-stream':
      void executeStream(msg.id, msg);
      break;
    case 'cancel':
      cancel(msg.id);
      break;
    case 'ack':
      ack(msg.id, msg.count);
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
