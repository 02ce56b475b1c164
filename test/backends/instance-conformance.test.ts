/**
 * The ModelInstance contract (src/backends/backend.ts), run against every instance kind: answers, one call at a
 * time, the caller's buffers left alone, unload, and what happens when a worker dies — InstanceDiedError for the
 * run in flight, a new worker at once, the restart budget, health along the way. A new instance kind adds one
 * entry to KINDS. Every wait is on an event (a promise or a health change), never on a sleep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { InferenceError, type Tensor } from '../../src/core/index.js';
import { InstanceDiedError, type ExecuteResult, type InstanceHealth, type ModelInstance } from '../../src/backends/backend.js';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import { JsBackend } from '../../src/backends/js/js-backend.js';
import { MAX_RESTARTS } from '../../src/backends/instance-lifecycle.js';
import { mlpModel, seededFloats } from '../fixtures/models.js';
import { tempModel } from './onnx-helpers.js';
import { modelConfig, tensorConfig, tmpRepo, writeJsModel } from '../pipeline/helpers.js';

/** One loaded instance of a small model, and the ways to make its worker die. */
interface Subject {
  readonly instance: ModelInstance;
  readonly outputs: readonly string[];
  /** `rows` rows of inputs from `seed` (the data a view into a larger buffer, as a request body gives) and the first output they must give. */
  batch(seed: number, rows?: number): { inputs: Tensor[]; want: Float32Array };
  /** Starts a run whose worker dies before answering; returns the run's promise. */
  runThenDie(): Promise<ExecuteResult>;
  /** Ends the worker while no run is in flight, without asking the instance; resolves once the worker has ended. */
  dieIdle(): Promise<void>;
  remove(): Promise<void>;
}

interface Kind {
  readonly name: string;
  load(): Promise<Subject>;
}

const ROWS = 3;
const DIM = 4;

/** FP32 [rows, DIM] whose data is a view at an offset into a larger ArrayBuffer. */
function viewInput(name: string, seed: number, rows: number, first?: number): Tensor {
  const outer = new ArrayBuffer(16 + rows * DIM * 4 + 16);
  const data = new Float32Array(outer, 16, rows * DIM);
  data.set(seededFloats(rows * DIM, seed, 1));
  if (first !== undefined) data[0] = first;
  return { name, datatype: 'FP32', shape: [rows, DIM], data };
}

const onnx: Kind = {
  name: 'onnx',
  async load() {
    const { bytes, reference } = mlpModel(DIM, 8, 2, 5);
    const m = tempModel('mlp', bytes);
    const instance = await new OnnxBackend().createInstance(m.spec({ config: { max_batch_size: 8 } }));
    const workerOf = () => (instance as unknown as { worker: Worker }).worker;
    const batch = (seed: number, rows = ROWS) => {
      const input = viewInput('input', seed, rows);
      return { inputs: [input], want: reference(new Float32Array(input.data as Float32Array), rows) };
    };
    return {
      instance,
      outputs: ['output'],
      batch,
      runThenDie() {
        // Ending an ONNX worker inside session.run aborts the whole process (OnnxInstance.shutDown), so the worker
        // ends right after the run is handed to it, before it reads it: a death with a run in flight.
        const worker = workerOf();
        const post = worker.postMessage.bind(worker);
        worker.postMessage = ((msg: { kind?: string }, transfer?: readonly ArrayBuffer[]) => {
          worker.postMessage = post;
          if (msg.kind !== 'run') return post(msg, transfer);
          void worker.terminate();
        }) as typeof worker.postMessage;
        return instance.execute(batch(99).inputs, ['output']);
      },
      async dieIdle() {
        const worker = workerOf();
        await new Promise((resolve) => { worker.once('exit', resolve); void worker.terminate(); });
      },
      async remove() {
        await instance.unload();
        m.remove();
      },
    };
  },
};

/** y = 2x + 1; x[0] = DIE ends the worker mid-run (process.exit), DIE_AFTER ends it just after answering. */
const DIE = 1000;
const DIE_AFTER = 2000;
const JS_MODEL = `
export function execute(inputs) {
  const x = inputs.find((t) => t.name === 'x');
  if (x.data[0] === ${DIE}) process.exit(7);
  if (x.data[0] === ${DIE_AFTER}) setTimeout(() => process.exit(8), 0);
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => 2 * v + 1) }];
}`;

const js: Kind = {
  name: 'js',
  async load() {
    const repo = tmpRepo('autoglm-conformance-');
    const config = modelConfig({ name: 'twice', max_batch_size: 8, input: [tensorConfig('x', 'TYPE_FP32', [DIM])], output: [tensorConfig('y', 'TYPE_FP32', [DIM])] });
    const instance = await new JsBackend().createInstance(writeJsModel(repo, config, JS_MODEL));
    const batch = (seed: number, rows = ROWS, first?: number) => {
      const input = viewInput('x', seed, rows, first);
      return { inputs: [input], want: (input.data as Float32Array).map((v) => Math.fround(2 * v + 1)) };
    };
    return {
      instance,
      outputs: ['y'],
      batch,
      // A real death: the model calls process.exit in its worker.
      runThenDie: () => instance.execute(batch(99, ROWS, DIE).inputs, ['y']),
      async dieIdle() {
        const { inputs, want } = batch(98, ROWS, DIE_AFTER);
        const log = healthLog(instance);
        close((await instance.execute(inputs, ['y'])).outputs[0].data as Float32Array, want);
        await log.until('RESTARTING');
        log.stop();
      },
      async remove() {
        await instance.unload();
        rmSync(repo, { recursive: true, force: true });
      },
    };
  },
};

const KINDS: readonly Kind[] = [onnx, js];

function close(got: Float32Array, want: Float32Array): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `element ${i}: ${got[i]} ≠ ${want[i]}`);
}

/** Every health change of `inst` from now on, and a way to wait for the next time it becomes `h`. */
function healthLog(inst: ModelInstance) {
  const seen: InstanceHealth[] = [];
  let waiting: { h: InstanceHealth; resolve: () => void } | undefined;
  const stop = inst.onHealthChange!((h) => {
    seen.push(h);
    if (waiting?.h === h) {
      waiting.resolve();
      waiting = undefined;
    }
  });
  return {
    seen,
    stop,
    until: (h: InstanceHealth) => new Promise<void>((resolve) => { waiting = { h, resolve }; }),
  };
}

function isCode(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof InferenceError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** Loads a subject for one test and removes it after, whatever happens. */
async function withSubject(kind: Kind, body: (s: Subject) => Promise<void>): Promise<void> {
  const s = await kind.load();
  try {
    await body(s);
  } finally {
    await s.remove();
  }
}

for (const kind of KINDS) {
  describe(`${kind.name} instance`, () => {
    test('execute answers with fresh outputs in the order asked, and its timing', () => withSubject(kind, async (s) => {
      assert.equal(s.instance.health, 'READY');
      assert.equal(s.instance.healthReason, '');
      for (const rows of [1, ROWS, 8]) {
        const { inputs, want } = s.batch(rows, rows);
        const r = await s.instance.execute(inputs, s.outputs);
        assert.deepEqual(r.outputs.map((t) => t.name), s.outputs);
        assert.equal(r.outputs[0].datatype, 'FP32');
        assert.equal(r.outputs[0].shape[0], rows);
        close(r.outputs[0].data as Float32Array, want);
        assert.notEqual((r.outputs[0].data as Float32Array).buffer, (inputs[0].data as Float32Array).buffer);
        for (const us of [r.timing.inputUs, r.timing.inferUs, r.timing.outputUs]) assert.ok(Number.isFinite(us) && us >= 0);
      }
    }));

    test('a second execute before the first settles is refused; the first still answers', () => withSubject(kind, async (s) => {
      const a = s.batch(1);
      const first = s.instance.execute(a.inputs, s.outputs);
      await assert.rejects(s.instance.execute(s.batch(2).inputs, s.outputs), isCode('INTERNAL', /execute called while/));
      close((await first).outputs[0].data as Float32Array, a.want);
    }));

    test('the caller\'s input buffers are neither kept, changed nor detached', () => withSubject(kind, async (s) => {
      const { inputs, want } = s.batch(3);
      const data = inputs[0].data as Float32Array;
      const outer = data.buffer.byteLength;
      const run = s.instance.execute(inputs, s.outputs);
      // The caller reuses its buffer as soon as execute has returned: the run must not see it.
      assert.equal(data.buffer.byteLength, outer, 'not detached');
      data.fill(-7);
      close((await run).outputs[0].data as Float32Array, want);
      assert.equal(data.buffer.byteLength, outer);
      assert.ok(data.every((v) => v === -7), 'not changed by the instance');
    }));

    test('unload rejects the pending call with UNAVAILABLE; later calls are refused; health UNLOADED', () => withSubject(kind, async (s) => {
      const log = healthLog(s.instance);
      const run = s.instance.execute(s.batch(4).inputs, s.outputs);
      const unloading = s.instance.unload();
      await assert.rejects(run, isCode('UNAVAILABLE', /unloaded/));
      await unloading;
      await assert.rejects(s.instance.execute(s.batch(5).inputs, s.outputs), isCode('UNAVAILABLE', /unavailable: unloaded/));
      assert.equal(s.instance.health, 'UNLOADED');
      assert.deepEqual(log.seen, ['UNLOADED']);
      await s.instance.unload(); // idempotent
    }));

    test('a worker that dies mid-run: the run rejects with InstanceDiedError, a new worker serves the next call', () => withSubject(kind, async (s) => {
      const log = healthLog(s.instance);
      await assert.rejects(s.runThenDie(), (err: unknown) => {
        assert.ok(err instanceof InstanceDiedError, String(err));
        assert.equal(err.code, 'UNAVAILABLE');
        assert.match(err.message, /instance '\w+_0_0'.*a new worker is starting/);
        return true;
      });
      assert.equal(s.instance.health, 'RESTARTING', 'the replacement is already starting');
      assert.match(s.instance.healthReason!, /worker/);
      // Called at once, while the new worker loads: it waits for it, then answers.
      const { inputs, want } = s.batch(6);
      close((await s.instance.execute(inputs, s.outputs)).outputs[0].data as Float32Array, want);
      assert.equal(s.instance.health, 'READY');
      assert.deepEqual(log.seen, ['RESTARTING', 'READY']);
    }));

    test('a worker that dies while idle is replaced at once, before any call asks for it', () => withSubject(kind, async (s) => {
      const log = healthLog(s.instance);
      const back = log.until('READY');
      await s.dieIdle();
      await back;
      assert.deepEqual(log.seen, ['RESTARTING', 'READY']);
      const { inputs, want } = s.batch(7);
      close((await s.instance.execute(inputs, s.outputs)).outputs[0].data as Float32Array, want);
    }));

    test(`past ${MAX_RESTARTS} restarts within the window: UNAVAILABLE with the reason, health FAILED, no call hangs`, () => withSubject(kind, async (s) => {
      const log = healthLog(s.instance);
      for (let death = 1; death <= MAX_RESTARTS; death++) {
        await assert.rejects(s.runThenDie(), (err: unknown) => err instanceof InstanceDiedError);
        const { inputs, want } = s.batch(death);
        close((await s.instance.execute(inputs, s.outputs)).outputs[0].data as Float32Array, want);
      }
      await assert.rejects(s.runThenDie(), (err: unknown) => {
        assert.ok(!(err instanceof InstanceDiedError), 'not retryable');
        return isCode('UNAVAILABLE', new RegExp(`not restarted: it died ${MAX_RESTARTS + 1} times within 60 s`))(err);
      });
      assert.equal(s.instance.health, 'FAILED');
      assert.match(s.instance.healthReason!, /worker.*not restarted.*next try at/);
      await assert.rejects(s.instance.execute(s.batch(9).inputs, s.outputs), isCode('UNAVAILABLE', /is unavailable: .*not restarted/));
      assert.deepEqual(log.seen, [...Array.from({ length: MAX_RESTARTS }, () => ['RESTARTING', 'READY'] as const).flat(), 'FAILED']);
    }));
  });
}
