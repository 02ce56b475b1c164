/**
 * Triton's sequence batcher on a real server (onnxruntime instances): implicit state per sequence, control inputs,
 * both strategies, idle expiry, the backlog, and the request parameters over HTTP and gRPC.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { InferenceServer } from '../../src/server/inference-server.js';
import { type InferenceRequest, type InferenceResponse, type Parameters, CancelSource, InferenceError } from '../../src/core/index.js';
import { writeModel } from '../fixtures/models.js';
import { accumulatorConfig, accumulatorModel } from '../fixtures/sequence-models.js';
import { tempRepo, postJson } from '../http/helpers.js';
import { startGrpcServer, grpcClient, expectOk, expectFailure } from '../grpc/helpers.js';

const repo = tempRepo('autoglm-seq-');
const MODEL = accumulatorModel();
writeModel(repo.dir, 'acc_direct', MODEL, { config: accumulatorConfig('acc_direct', { instances: 2, maxBatchSize: 4 }) });
writeModel(repo.dir, 'acc_oldest', MODEL, {
  config: accumulatorConfig('acc_oldest', { instances: 2, maxBatchSize: 4, strategy: 'oldest { max_candidate_sequences: 6 max_queue_delay_microseconds: 2000 preferred_batch_size: [4] }' }),
});
writeModel(repo.dir, 'acc_idle', MODEL, { config: accumulatorConfig('acc_idle', { idleUs: 100_000, maxBatchSize: 1 }) });
writeModel(repo.dir, 'acc_small', MODEL, { config: accumulatorConfig('acc_small', { maxBatchSize: 2 }) });
const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
after(async () => {
  await server.close();
  repo.remove();
});

function req(model: string, id: number | string, x: number, flags: { start?: boolean; end?: boolean } = {}): InferenceRequest {
  const parameters: Parameters = { sequence_id: id };
  if (flags.start) parameters.sequence_start = true;
  if (flags.end) parameters.sequence_end = true;
  return { model, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 1], data: Float32Array.of(x) }], parameters };
}

const out = (r: InferenceResponse, name: string) => r.outputs.find((t) => t.name === name)!.data[0];

interface Row { sum: number; start: number; end: number; ready: number; corrid: bigint }
const row = (r: InferenceResponse): Row => ({
  sum: out(r, 'OUTPUT') as number, start: out(r, 'START_OUT') as number, end: out(r, 'END_OUT') as number,
  ready: out(r, 'READY_OUT') as number, corrid: out(r, 'CORRID_OUT') as bigint,
});

/** Sends every request of `seqs` in `order` (indices of sequences) without waiting, then awaits all. */
async function interleaved(model: string, seqs: readonly (readonly number[])[], order: readonly number[], ids: readonly number[]): Promise<Row[][]> {
  const next = seqs.map(() => 0);
  const pending: Promise<Row>[][] = seqs.map(() => []);
  for (const s of order) {
    const k = next[s]++;
    pending[s].push(server.infer(req(model, ids[s], seqs[s][k], { start: k === 0, end: k === seqs[s].length - 1 })).then(row));
  }
  return Promise.all(pending.map((p) => Promise.all(p)));
}

for (const model of ['acc_direct', 'acc_oldest']) {
  test(`${model}: interleaved sequences never see each other's state (each checked against running it alone)`, async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 9 })
        .chain((seqs) => fc.shuffledSubarray(seqs.flatMap((s, i) => s.map(() => i)), { minLength: seqs.reduce((a, s) => a + s.length, 0) })
          .map((order) => ({ seqs, order }))),
      async ({ seqs, order }) => {
        const ids = seqs.map((_, i) => 1000 + i);
        const together = await interleaved(model, seqs, order, ids);
        for (let s = 0; s < seqs.length; s++) {
          const alone = (await interleaved(model, [seqs[s]], seqs[s].map(() => 0), [ids[s]]))[0];
          assert.deepEqual(together[s], alone);
          let sum = 0;
          seqs[s].forEach((x, k) => {
            sum += x;
            assert.deepEqual(alone[k], { sum, start: k === 0 ? 1 : 0, end: k === seqs[s].length - 1 ? 1 : 0, ready: 1, corrid: BigInt(ids[s]) });
          });
        }
      },
    ), { numRuns: 15 });
  });
}

test('a sequence request out of its life is refused with INVALID_ARGUMENT saying why', async () => {
  const refused = async (r: InferenceRequest, msg: RegExp) => {
    const err = await server.infer(r).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InferenceError, `expected a refusal matching ${msg}`);
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, msg);
  };
  await refused({ model: 'acc_direct', inputs: req('acc_direct', 1, 1).inputs }, /must specify a non-zero or non-empty sequence_id/);
  await refused(req('acc_direct', 0, 1, { start: true }), /non-zero/);
  await refused(req('acc_direct', 77, 1), /sequence 77 of model 'acc_direct' is not active: its first request must set sequence_start/);
  await refused(req('acc_direct', 'abc', 1, { start: true }), /takes numeric sequence ids/);
  await refused({ ...req('acc_direct', 5, 1, { start: true }), parameters: { sequence_id: 5, sequence_start: 'yes' } }, /'sequence_start' must be a boolean/);
  await server.infer(req('acc_direct', 78, 1, { start: true, end: true }));
  await refused(req('acc_direct', 78, 1), /not active/);
  const first = server.infer(req('acc_direct', 79, 2, { start: true }));
  const ending = server.infer(req('acc_direct', 79, 3, { end: true }));
  await refused(req('acc_direct', 79, 1), /has ended/);
  assert.equal(row(await first).sum, 2);
  assert.equal(row(await ending).sum, 5);
});

test('an idle sequence expires: its slot frees, and its next request says it expired', async () => {
  // acc_idle: one instance, one slot, max_sequence_idle_microseconds 100 ms.
  assert.equal(row(await server.infer(req('acc_idle', 1, 4, { start: true }))).sum, 4);
  // A second sequence waits for the slot, and gets it when the first expires.
  const second = server.infer(req('acc_idle', 2, 10, { start: true }));
  assert.equal(row(await second).sum, 10);
  await new Promise((r) => setTimeout(r, 250));
  const err = await server.infer(req('acc_idle', 1, 1)).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof InferenceError);
  assert.match(err.message, /sequence 1 of model 'acc_idle' expired: it had no request for 100 ms \(max_sequence_idle_microseconds\); start it again with sequence_start/);
  // Started again, it begins from the initial state.
  assert.equal(row(await server.infer(req('acc_idle', 1, 6, { start: true }))).sum, 6);
});

test('sequences beyond the free slots wait in the backlog and run when a slot frees', async () => {
  // acc_small: one instance, two slots.
  const a = await server.infer(req('acc_small', 1, 1, { start: true }));
  await server.infer(req('acc_small', 2, 1, { start: true }));
  const third = server.infer(req('acc_small', 3, 5, { start: true }));
  let done = false;
  void third.then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false, 'the third sequence waits while both slots are held');
  assert.equal(row(a).sum, 1);
  assert.equal(row(await server.infer(req('acc_small', 1, 2, { end: true }))).sum, 3);
  assert.equal(row(await third).sum, 5);
  await server.infer(req('acc_small', 2, 0, { end: true }));
  await server.infer(req('acc_small', 3, 0, { end: true }));
});

test('a model without sequence_batching refuses a request that names a sequence', async () => {
  const r = await server.infer(req('acc_direct', 9, 1, { start: true, end: true }));
  assert.equal(row(r).sum, 1);
  const { dir, remove } = tempRepo('autoglm-seq-plain-');
  writeModel(dir, 'plain', (await import('../fixtures/models.js')).mlpModel(4, 4, 2).bytes);
  const plain = await InferenceServer.create({ modelRepositories: [dir] });
  try {
    const err = await plain.infer({ model: 'plain', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) }], parameters: { sequence_id: 3 } })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InferenceError);
    assert.match(err.message, /must not specify a non-zero or non-empty sequence_id: the model has no sequence_batching/);
  } finally {
    await plain.close();
    remove();
  }
});

test('sequence parameters over HTTP (JSON parameters) and gRPC (typed InferParameters)', async () => {
  const running = await startGrpcServer({ modelRepositories: [repo.dir] });
  const client = grpcClient(running.target);
  try {
    const body = (x: number, parameters: Record<string, unknown>) => ({ parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 1], data: [x] }], outputs: [{ name: 'OUTPUT' }] });
    let r = await postJson(running.base, '/v2/models/acc_direct/infer', body(3, { sequence_id: 42, sequence_start: true }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.outputs[0].data, [3]);
    r = await postJson(running.base, '/v2/models/acc_direct/infer', body(4, { sequence_id: 42 }));
    assert.deepEqual(r.json.outputs[0].data, [7]);
    // The same sequence continued over gRPC: the state is the server's, whatever the transport.
    const g = (x: number, parameters: Record<string, unknown>) => ({
      model_name: 'acc_direct', parameters, inputs: [{ name: 'INPUT', datatype: 'FP32', shape: [1, 1], contents: { fp32_contents: [x] } }],
      outputs: [{ name: 'OUTPUT' }],
    });
    const v = expectOk(await client.call('ModelInfer', g(5, { sequence_id: { uint64_param: 42 }, sequence_end: { bool_param: true } })));
    assert.deepEqual([...new Float32Array(new Uint8Array(v.raw_output_contents[0]).slice().buffer)], [12]);
    const e = expectFailure(await client.call('ModelInfer', g(1, { sequence_id: { int64_param: 42 } })));
    assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e.details, /not active/);
    r = await postJson(running.base, '/v2/models/acc_direct/infer', body(1, { sequence_id: 42 }));
    assert.equal(r.status, 400);
    assert.match(r.json.error, /not active/);
  } finally {
    client.close();
    await running.close();
  }
});

test('a queued sequence request whose client goes away is answered CANCELLED but still runs, so the state stays whole', async () => {
  const first = server.infer(req('acc_small', 50, 1, { start: true }));
  const gone = new CancelSource();
  const cancelled = server.infer({ ...req('acc_small', 50, 2), signal: gone });
  gone.abort();
  const err = await cancelled.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof InferenceError && err.code === 'CANCELLED', String(err));
  assert.equal(row(await first).sum, 1);
  assert.equal(row(await server.infer(req('acc_small', 50, 4, { end: true }))).sum, 7, 'the cancelled request (2) ran in its turn');
  // Gone before it was sent: it never joins the sequence.
  const before = new CancelSource();
  before.abort();
  await server.infer(req('acc_small', 51, 1, { start: true }));
  const never = await server.infer({ ...req('acc_small', 51, 100), signal: before }).then(() => undefined, (e: unknown) => e);
  assert.ok(never instanceof InferenceError && never.code === 'CANCELLED');
  assert.equal(row(await server.infer(req('acc_small', 51, 1, { end: true }))).sum, 2);
});
