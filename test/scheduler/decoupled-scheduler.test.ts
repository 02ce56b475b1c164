/**
 * DecoupledScheduler on a real JS instance (one worker): the queue bound, a deadline that passes while waiting, a
 * waiting request cancelled, a running stream cancelled (the instance then takes the next), one-answer enqueue, drain.
 * The running request streams until cancelled, so every waiting request's fate does not depend on timing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { JsBackend } from '../../src/backends/js/js-backend.js';
import { CancelSource, InferenceError, type InferenceRequest, type InferenceResponse } from '../../src/core/index.js';
import { DecoupledScheduler } from '../../src/scheduler/decoupled-scheduler.js';
import { modelConfig, tensorConfig, tmpRepo, writeJsModel } from '../pipeline/helpers.js';

const repo = tmpRepo('autoglm-decoupled-');
after(() => rmSync(repo, { recursive: true, force: true }));

const SOURCE = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function* execute(inputs) {
  const n = inputs[0].data[0];
  for (let i = 0; n < 0 || i < n; i++) {
    yield [{ name: 'I', datatype: 'INT32', shape: [1], data: Int32Array.of(i) }];
    if (n < 0) await sleep(2);
  }
}
`;

const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof InferenceError ? e.code : String(e)));
const req = (n: number, extra: Partial<InferenceRequest> = {}): InferenceRequest =>
  ({ model: 'p', inputs: [{ name: 'N', datatype: 'INT32', shape: [1], data: Int32Array.of(n) }], ...extra });

test('queue bound, deadline while waiting, cancel while waiting and while running, one-answer enqueue, drain', async () => {
  const config = modelConfig({
    name: 'p', input: [tensorConfig('N', 'TYPE_INT32', [1])], output: [tensorConfig('I', 'TYPE_INT32', [1])],
    model_transaction_policy: { decoupled: true },
  });
  const instance = await new JsBackend().createInstance(writeJsModel(repo, config, SOURCE));
  try {
    const s = new DecoupledScheduler({ model: 'p', version: '1', config, instances: [instance] }, { maxQueueSize: 1 });
    const running = new CancelSource();
    const seen: InferenceResponse[] = [];
    let third!: () => void;
    const gotThree = new Promise<void>((r) => { third = r; });
    const first = code(s.enqueueStream(req(-1, { signal: running }), (r, final) => {
      assert.equal(final, false);
      if (seen.push(r) === 3) third();
    }));
    await gotThree;
    // Waiting behind the endless stream: this one's deadline passes before it can start.
    const late = code(s.enqueueStream(req(1, { timeoutUs: 20_000 }), () => assert.fail('it never ran')));
    assert.equal(s.pendingCount, 1);
    assert.equal(await code(s.enqueueStream(req(1), () => {})), 'QUEUE_FULL');
    assert.equal(s.probe({})?.code, 'QUEUE_FULL');
    assert.equal(await late, 'DEADLINE_EXCEEDED');
    const gone = new CancelSource();
    const waiting = code(s.enqueueStream(req(1, { signal: gone }), () => assert.fail('it never ran')));
    gone.abort();
    assert.equal(await waiting, 'CANCELLED');
    assert.equal(s.pendingCount, 0);
    // The next request waits for the instance, which the cancelled stream gives back.
    const got: number[] = [];
    const next = s.enqueueStream(req(3), (r) => { got.push((r.outputs[0].data as Int32Array)[0]); });
    running.abort();
    assert.equal(await first, 'CANCELLED');
    await next;
    assert.deepEqual(got, [0, 1, 2]);
    assert.deepEqual(seen.slice(0, 3).map((r) => [r.model, r.version, (r.outputs[0].data as Int32Array)[0]]), [['p', '1', 0], ['p', '1', 1], ['p', '1', 2]]);
    // One answer: a request that gets exactly one response; two are refused.
    assert.equal(((await s.enqueue(req(1))).outputs[0].data as Int32Array)[0], 0);
    assert.equal(await code(s.enqueue(req(2))), 'UNIMPLEMENTED');
    await s.drain();
    assert.equal(await code(s.enqueueStream(req(1), () => {})), 'UNAVAILABLE');
  } finally {
    await instance.unload();
  }
});

test('a consumer that resumes after its stream ended does not re-arm execute_timeout_ms (the worker lives on)', async () => {
  const config = modelConfig({
    name: 'p', input: [tensorConfig('N', 'TYPE_INT32', [1])], output: [tensorConfig('I', 'TYPE_INT32', [1])],
    model_transaction_policy: { decoupled: true }, parameters: { execute_timeout_ms: { string_value: '100' } },
  });
  const instance = await new JsBackend().createInstance(writeJsModel(repo, config, SOURCE));
  try {
    // The consumer is full from the first response on and frees up only after the stream (3 items, within the
    // worker's window) has ended; before the fix, that late resume armed a timer nobody cleared.
    let release!: () => void;
    const full = new Promise<void>((r) => { release = r; });
    let items = 0;
    await instance.executeStream!([{ name: 'N', datatype: 'INT32', shape: [1], data: Int32Array.of(3) }], ['I'], () => {
      items++;
      return full;
    });
    assert.equal(items, 3);
    const changes: string[] = [];
    instance.onHealthChange!((h) => changes.push(h));
    release();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(changes, [], 'the worker was not ended and replaced');
    let after = 0;
    await instance.executeStream!([{ name: 'N', datatype: 'INT32', shape: [1], data: Int32Array.of(2) }], ['I'], () => { after++; });
    assert.equal(after, 2);
  } finally {
    await instance.unload();
  }
});
