/**
 * Decoupled models over gRPC ModelStreamInfer (docs/streaming.md): many responses per request with Triton's
 * triton_final_response flag, the empty final response on request, interleaved requests on one stream, the client
 * cancelling (the generator's finally runs, the instance takes the next request), errors and a worker dying mid-stream,
 * ModelInfer refusing a decoupled model.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { encodeGrpcInferRequest, frameGrpcMessage } from '../../src/bench/grpc-messages.js';
import { tempRepo } from '../http/helpers.js';
import { markerWritten, writeStreamModels } from '../fixtures/stream-models.js';
import { type Client, type GrpcRunning, expectFailure, expectOk, grpcClient, startGrpcServer } from './helpers.js';

type Obj = Record<string, any>;

let srv: GrpcRunning;
let c: Client;
let markers: string;
const repo = tempRepo('autoglm-grpc-stream-');

before(async () => {
  markers = writeStreamModels(repo.dir);
  srv = await startGrpcServer({ modelRepositories: [repo.dir] });
  c = grpcClient(srv.target);
});
after(async () => {
  c.close();
  await srv.close();
  repo.remove();
});

const int32s = (b: Buffer | Uint8Array) => Array.from(new Int32Array(Uint8Array.from(b).buffer));
const final = (r: Obj) => r.infer_response.parameters?.triton_final_response?.bool_param;
const emptyFinal = { triton_enable_empty_final_response: { bool_param: true } };

const repeat = (id: string, values: number[], extra: Obj = {}) => ({
  model_name: 'repeat_int32', id,
  inputs: [{ name: 'IN', datatype: 'INT32', shape: [values.length], contents: { int_contents: values } }],
  ...extra,
});
const probe = (id: string, n: number, mode = '', extra: Obj = {}) => ({
  model_name: 'stream_probe', id,
  inputs: [
    { name: 'N', datatype: 'INT32', shape: [1], contents: { int_contents: [n] } },
    ...(mode ? [{ name: 'MODE', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(mode)] } }] : []),
  ],
  ...extra,
});

/** OUT and IDX of a repeat_int32 response. */
const outIdx = (r: Obj): [number, number] => {
  const names = r.infer_response.outputs.map((o: Obj) => o.name);
  const raw = r.infer_response.raw_output_contents;
  return [int32s(raw[names.indexOf('OUT')])[0], int32s(raw[names.indexOf('IDX')])[0]];
};

test('one response per element, in order, each with triton_final_response false; no empty final unless asked', async () => {
  const { responses, status } = await c.stream([repeat('r1', [4, 2, 0, 1])]);
  assert.equal(status.code, grpc.status.OK);
  assert.equal(responses.length, 4);
  assert.deepEqual(responses.map(outIdx), [[4, 0], [2, 1], [0, 2], [1, 3]]);
  for (const r of responses) {
    assert.equal(r.error_message, '');
    assert.equal(r.infer_response.id, 'r1');
    assert.equal(r.infer_response.model_name, 'repeat_int32');
    assert.equal(final(r), false);
  }
});

test('triton_enable_empty_final_response: an empty response with triton_final_response true ends each request', async () => {
  const { responses, status } = await c.stream([repeat('r2', [7, 8, 9], { parameters: emptyFinal })]);
  assert.equal(status.code, grpc.status.OK);
  assert.equal(responses.length, 4);
  assert.deepEqual(responses.slice(0, 3).map(outIdx), [[7, 0], [8, 1], [9, 2]]);
  const last = responses[3];
  assert.equal(final(last), true);
  assert.equal(last.infer_response.id, 'r2');
  assert.equal(last.infer_response.outputs.length, 0);
  // Zero responses: only the final flag.
  const none = await c.stream([repeat('r0', [], { parameters: emptyFinal })]);
  assert.equal(none.responses.length, 1);
  assert.equal(final(none.responses[0]), true);
});

test('requests on one stream run concurrently; each request\'s responses stay in order, each ends with its final', async () => {
  const reqs = [
    repeat('a', [1, 2, 3, 4, 5], { parameters: emptyFinal }),
    probe('b', 6, '', { parameters: emptyFinal }),
    repeat('c', [10, 20, 30], { parameters: emptyFinal }),
    { model_name: 'plain_echo', id: 'd', inputs: [{ name: 'X', datatype: 'INT32', shape: [2], contents: { int_contents: [3, 4] } }] },
  ];
  const { responses, status } = await c.stream(reqs);
  assert.equal(status.code, grpc.status.OK);
  const of = (id: string) => responses.filter((r) => r.infer_response.id === id);
  assert.deepEqual(of('a').slice(0, -1).map((r) => outIdx(r)[0]), [1, 2, 3, 4, 5]);
  assert.deepEqual(of('b').slice(0, -1).map((r) => int32s(r.infer_response.raw_output_contents[0])[0]), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(of('c').slice(0, -1).map((r) => outIdx(r)[0]), [10, 20, 30]);
  for (const id of ['a', 'b', 'c']) {
    const list = of(id);
    assert.equal(final(list[list.length - 1]), true, `${id} ends with its final response`);
    assert.ok(list.slice(0, -1).every((r) => final(r) === false));
  }
  // The ordinary model's one answer (the empty final response was not asked for it).
  assert.deepEqual(of('d').map((r) => int32s(r.infer_response.raw_output_contents[0])), [[6, 8]]);
});

test('an error mid-stream: the responses before it, then error_message with the final flag; the stream goes on', async () => {
  const { responses, status } = await c.stream([probe('e', 10, 'fail=3'), repeat('after', [5])]);
  assert.equal(status.code, grpc.status.OK);
  const e = responses.filter((r) => r.infer_response?.id === 'e');
  assert.equal(e.length, 4);
  assert.deepEqual(e.slice(0, 3).map((r) => int32s(r.infer_response.raw_output_contents[0])[0]), [0, 1, 2]);
  assert.match(e[3].error_message, /failed before response 3/);
  assert.equal(final(e[3]), true);
  assert.deepEqual(responses.filter((r) => r.infer_response?.id === 'after').map(outIdx), [[5, 0]]);
});

test('the worker dies mid-stream: the responses sent stay sent, the request fails UNAVAILABLE, the next one runs', async () => {
  const { responses } = await c.stream([probe('k', 10, 'crash=2')]);
  assert.equal(responses.length, 3);
  assert.deepEqual(responses.slice(0, 2).map((r) => int32s(r.infer_response.raw_output_contents[0])[0]), [0, 1]);
  assert.match(responses[2].error_message, /worker exited/);
  const next = await c.stream([probe('k2', 2)]);
  assert.deepEqual(next.responses.map((r) => r.error_message), ['', '']);
});

test('the client cancels the call: the generator is stopped (its finally runs) and the one instance takes the next request', async () => {
  const call = (c.raw as any).ModelStreamInfer() as grpc.ClientDuplexStream<Obj, Obj>;
  let got = 0;
  const ended = new Promise<void>((resolve) => {
    call.on('data', () => {
      if (++got === 3) call.cancel();
    });
    call.on('error', () => resolve());
    call.on('status', () => resolve());
  });
  call.write(probe('forever', -1, 'tag=cancelled'));
  await ended;
  assert.ok(got >= 3);
  await markerWritten(markers, 'cancelled');
  // stream_probe has one instance: this runs only if the cancelled stream gave it back.
  const { responses, status } = await c.stream([probe('next', 3, 'tag=next')]);
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(responses.map((r) => int32s(r.infer_response.raw_output_contents[0])[0]), [0, 1, 2]);
  await markerWritten(markers, 'next');
});

test('ModelInfer refuses a decoupled model (UNIMPLEMENTED, as Triton); ModelConfig says decoupled', async () => {
  const f = expectFailure(await c.call('ModelInfer', repeat('u', [1])));
  assert.equal(f.code, grpc.status.UNIMPLEMENTED);
  assert.match(f.details, /decoupled/);
  const cfg = expectOk(await c.call('ModelConfig', { name: 'repeat_int32' }));
  assert.equal(cfg.config.model_transaction_policy.decoupled, true);
});

test('bad input to a decoupled model fails before any response (INVALID_ARGUMENT message), unknown model too', async () => {
  const bad = repeat('bad', [1, 2], {});
  bad.inputs.push({ name: 'DELAY', datatype: 'UINT32', shape: [1], contents: { uint_contents: [1] } } as any);
  const { responses } = await c.stream([bad, { ...repeat('nf', [1]), model_name: 'nope' }]);
  assert.equal(responses.length, 2);
  const byId = new Map(responses.map((r) => [r.infer_response.id, r]));
  assert.match(byId.get('bad')!.error_message, /DELAY has 1 elements, IN has 2/);
  assert.match(byId.get('nf')!.error_message, /unknown model 'nope'/);
});

test('ModelStatistics response_stats counts each response index: successes, the empty end, a failure', async () => {
  const stats = async () => {
    const s = expectOk(await c.call('ModelStatistics', { name: 'stream_probe' })).model_stats[0].response_stats as Record<string, Obj>;
    const n = (k: string, f: string) => Number(s[k]?.[f]?.count ?? 0);
    return { s0: n('0', 'success'), s1: n('1', 'success'), e2: n('2', 'empty_response'), f2: n('2', 'fail'), i0: n('0', 'compute_infer') };
  };
  const before = await stats();
  await c.stream([probe('st1', 2)]);
  await c.stream([probe('st2', 5, 'fail=2')]);
  const after = await stats();
  assert.deepEqual({ s0: after.s0 - before.s0, s1: after.s1 - before.s1, e2: after.e2 - before.e2, f2: after.f2 - before.f2, i0: after.i0 - before.i0 },
    { s0: 2, s1: 2, e2: 1, f2: 1, i0: 2 });
});

test('flow control: a client that does not read pauses the model (it makes a bounded number of responses, not all it can)', async () => {
  // A raw HTTP/2 call whose responses are never read: HTTP/2 flow control then fills the server's write buffer.
  const session = connect(`http://${srv.target}`);
  try {
    const call = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelStreamInfer', 'content-type': 'application/grpc', te: 'trailers' });
    call.pause();
    call.on('error', () => {});
    // stream_probe: N = -1 (endless), MODE = "fast,tag=unread".
    const mode = Buffer.from('fast,tag=unread');
    call.write(frameGrpcMessage(encodeGrpcInferRequest('stream_probe', '', [
      { name: 'N', datatype: 'INT32', shape: [1], data: Int32Array.of(-1) },
      { name: 'MODE', datatype: 'BYTES', shape: [1], data: [mode] },
    ])));
    // Unpaused, the endless generator makes tens of thousands of responses a second here (bench/streaming.ts).
    await new Promise((r) => setTimeout(r, 1000));
    call.close();
  } finally {
    session.destroy();
  }
  const made = await markerWritten(markers, 'unread');
  assert.ok(made > 0 && made < 20_000, `the model made ${made} responses for a client that read none`);
  // And the one instance is free again.
  const { responses } = await c.stream([probe('after-unread', 2)]);
  assert.equal(responses.length, 2);
});
