/**
 * Bad input over gRPC: each case gets the catalog's status and a message that says what is wrong, and the server
 * keeps serving. Malformed protobuf, wrong counts of raw contents, sizes that disagree with shapes, typed contents
 * of the wrong field or range, limits (message size from its 5-byte prefix — a 2 GiB declared length included —
 * elements, rank), framing (truncated, compressed without an encoding, a zip bomb), deadlines, and admission before
 * decode.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { identityAllTypesModel, mlpModel, seededFloats, slowModel, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { type Client, type GrpcRunning, expectFailure, expectOk, grpcClient, rawGrpcCall, startGrpcServer } from './helpers.js';
import { packageDefinition } from '../../src/frontends/grpc/service-definition.js';

const LIMIT = 256 * 1024;
const MLP = mlpModel(8, 4, 2, 3);
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const encodeRequest = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelInfer.requestSerialize as (v: unknown) => Buffer;

let srv: GrpcRunning;
let c: Client;
const repo = tempRepo('autoglm-grpc-bad-');

before(async () => {
  writeModel(repo.dir, 'mlp', MLP.bytes);
  writeModel(repo.dir, 'ids', identityAllTypesModel(['INT8', 'UINT16', 'FP16', 'BYTES']));
  srv = await startGrpcServer({ modelRepositories: [repo.dir], limits: { maxBodyBytes: LIMIT, maxTensorElements: 1 << 16, maxRank: 4 } });
  c = grpcClient(srv.target);
});
after(async () => {
  c.close();
  await srv.close();
  repo.remove();
});

const x = seededFloats(8, 1, 1);
const raw = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const good = { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8] }], raw_input_contents: [raw(x)] };

/** The server still answers: liveness and a correct inference. */
async function stillServing(): Promise<void> {
  assert.deepEqual(expectOk(await c.call('ServerLive', {})), { live: true });
  const v = expectOk(await c.call('ModelInfer', good));
  const y = new Float32Array(Uint8Array.from(v.raw_output_contents[0]).buffer);
  const want = MLP.reference(x, 1);
  assert.ok(want.every((w, i) => Math.abs(y[i] - w) <= 1e-4 * (1 + Math.abs(w))));
}

async function refused(request: Record<string, unknown>, code: grpc.status, message: RegExp): Promise<void> {
  const e = expectFailure(await c.call('ModelInfer', request));
  assert.equal(e.code, code, `${grpc.status[e.code]}: ${e.details}`);
  assert.match(e.details, message);
}

/** One call with raw bytes as the request message (grpc-js frames them). */
function rawCall(message: Buffer): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(srv.target, grpc.credentials.createInsecure());
  return new Promise((resolve) => client.makeUnaryRequest(INFER, (b: Buffer) => b, (b: Buffer) => b, message, (err) => {
    client.close();
    resolve(err);
  }));
}

/** A hand-made HTTP/2 gRPC request on a session of its own (rawGrpcCall). */
async function h2Request(data: Buffer, headers: Record<string, string> = {}, opts: { open?: boolean } = {}): Promise<{ status: number; grpcStatus?: number; grpcMessage: string; body: Buffer }> {
  const session = connect(`http://${srv.target}`);
  session.on('error', () => {});
  try {
    const a = await rawGrpcCall(session, data, { headers, open: opts.open });
    return { status: a.httpStatus, grpcStatus: a.grpcStatus, grpcMessage: a.grpcMessage, body: a.body };
  } finally {
    session.close();
  }
}

const prefix = (flag: number, len: number) => {
  const b = Buffer.alloc(5);
  b[0] = flag;
  b.writeUInt32BE(len, 1);
  return b;
};

test('malformed protobuf: INVALID_ARGUMENT naming what is wrong; the server keeps serving', async () => {
  for (const bytes of [
    Buffer.from([0x0a, 0x40, 0x61]), // model_name claims 64 bytes, has 1
    Buffer.from([0x0b, 0x01]), // wire type 3 (group)
    Buffer.from([0x2a, 0x05, 0x0a, 0x10]), // an input whose name runs past the input
    Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // an 11-byte varint
    encodeRequest(good).subarray(0, 20), // cut short
  ]) {
    const err = await rawCall(bytes);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, bytes.toString('hex'));
    assert.match(err!.details, /malformed request message \(not valid protobuf\)/);
  }
  await stillServing();
});

test('random bytes and random protobufjs-encoded requests never crash the server', async () => {
  const samples = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 200 }), { numRuns: 40, seed: 11 });
  for (const bytes of samples) {
    const err = await rawCall(Buffer.from(bytes));
    // Anything but INTERNAL: each answer is a refusal the catalog names (or, rarely, a valid request).
    if (err) assert.notEqual(err.code, grpc.status.INTERNAL, `${Buffer.from(bytes).toString('hex')}: ${err.details}`);
  }
  await stillServing();
});

test('raw_input_contents: wrong count, size ≠ shape, both raw and typed contents, BYTES framing past its end', async () => {
  await refused({ ...good, raw_input_contents: [raw(x), raw(x)] }, grpc.status.INVALID_ARGUMENT, /2 raw_input_contents for 1 inputs/);
  await refused({ ...good, raw_input_contents: [] }, grpc.status.INVALID_ARGUMENT, /input 'input' has no data/);
  await refused({ ...good, raw_input_contents: [raw(x).subarray(0, 28)] }, grpc.status.INVALID_ARGUMENT, /raw_input_contents\[0\] size 28 does not match 8 FP32 elements \(32 bytes\)/);
  await refused({ ...good, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], contents: { fp32_contents: Array.from(x) } }] },
    grpc.status.INVALID_ARGUMENT, /contents field must not be specified when using raw_input_contents/);
  const ids = (bytes: Buffer) => ({
    model_name: 'ids',
    inputs: [{ name: 'in_INT8', datatype: 'INT8', shape: [1, 3] }, { name: 'in_UINT16', datatype: 'UINT16', shape: [1, 3] },
      { name: 'in_FP16', datatype: 'FP16', shape: [1, 3] }, { name: 'in_BYTES', datatype: 'BYTES', shape: [1, 3] }],
    raw_input_contents: [Buffer.alloc(3), Buffer.alloc(6), Buffer.alloc(6), bytes],
  });
  const len = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  expectOk(await c.call('ModelInfer', ids(Buffer.concat([len(1), Buffer.from('a'), len(0), len(2), Buffer.from('bc')]))));
  await refused(ids(Buffer.concat([len(1), Buffer.from('a'), len(99), Buffer.from('bc')])), grpc.status.INVALID_ARGUMENT, /BYTES element 1 \(length 99\) runs past raw_input_contents\[3\] size/);
  await refused(ids(Buffer.concat([len(1), Buffer.from('a')])), grpc.status.INVALID_ARGUMENT, /ends inside element 1 of 3/);
  await stillServing();
});

test('typed contents: count ≠ shape, the wrong field, values out of range, FP16 (no field)', async () => {
  const typed = (contents: Record<string, unknown>, datatype = 'FP32', shape = [1, 8]) => ({ model_name: 'mlp', inputs: [{ name: 'input', datatype, shape, contents }] });
  await refused(typed({ fp32_contents: [1, 2, 3] }), grpc.status.INVALID_ARGUMENT, /3 elements given in fp32_contents, shape needs 8/);
  await refused(typed({ int_contents: [1, 2, 3, 4, 5, 6, 7, 8] }), grpc.status.INVALID_ARGUMENT, /FP32 data goes in fp32_contents, not int_contents/);
  const ids = (name: string, datatype: string, contents: Record<string, unknown>) => ({ model_name: 'ids', inputs: [{ name, datatype, shape: [1, 3], contents }] });
  await refused(ids('in_INT8', 'INT8', { int_contents: [1, 300, 2] }), grpc.status.INVALID_ARGUMENT, /element 1 \(300\) is not a valid INT8 value/);
  await refused(ids('in_UINT16', 'UINT16', { uint_contents: [1, 70000, 2] }), grpc.status.INVALID_ARGUMENT, /element 1 \(70000\) is not a valid UINT16 value/);
  await refused(ids('in_FP16', 'FP16', { fp32_contents: [1, 2, 3] }), grpc.status.INVALID_ARGUMENT, /FP16 has no typed contents field; send it in raw_input_contents/);
  await stillServing();
});

test('shapes, datatypes and names: negative dims, rank and element limits, unknown datatype, unknown model, bad names and versions', async () => {
  await refused({ ...good, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, -8] }] }, grpc.status.INVALID_ARGUMENT, /invalid dimension -8/);
  await refused({ ...good, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 1, 1, 8] }] }, grpc.status.INVALID_ARGUMENT, /rank 5 exceeds the limit of 4/);
  await refused({ ...good, inputs: [{ name: 'input', datatype: 'FP32', shape: [1 << 10, 1 << 10] }] }, grpc.status.RESOURCE_EXHAUSTED, /1048576 elements exceed the limit of 65536/);
  await refused({ ...good, inputs: [{ name: 'input', datatype: 'FP8', shape: [1, 8] }] }, grpc.status.INVALID_ARGUMENT, /unknown datatype "FP8"/);
  await refused({ ...good, model_name: 'nope' }, grpc.status.NOT_FOUND, /unknown model 'nope'/);
  await refused({ ...good, model_name: '../mlp' }, grpc.status.INVALID_ARGUMENT, /not a plain model name/);
  await refused({ ...good, model_name: '' }, grpc.status.INVALID_ARGUMENT, /names no model/);
  await refused({ ...good, model_version: 'latest' }, grpc.status.INVALID_ARGUMENT, /'latest' is not a model version number/);
  await refused({ ...good, model_version: '3' }, grpc.status.NOT_FOUND, /version/);
  await refused({ ...good, inputs: [], raw_input_contents: [] }, grpc.status.INVALID_ARGUMENT, /no inputs/);
  await stillServing();
});

test('message size: over the body limit is RESOURCE_EXHAUSTED (a 2 GiB declared length too, refused from its prefix)', async () => {
  const big = { ...good, id: 'x'.repeat(LIMIT) };
  const e = expectFailure(await c.call('ModelInfer', big));
  assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(e.details, /request message of \d+ bytes exceeds the limit of 262144 bytes/);
  // 2 GiB declared, 16 bytes sent, the stream left open: the answer comes from the prefix alone.
  const r = await h2Request(Buffer.concat([prefix(0, 2 ** 31), Buffer.alloc(16)]), {}, { open: true });
  assert.equal(r.status, 200);
  assert.equal(r.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(r.grpcMessage, /request message of 2147483648 bytes exceeds the limit of 262144 bytes/);
  const max = await h2Request(prefix(0, 0xffffffff), {}, { open: true });
  assert.equal(max.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
  await stillServing();
});

test('framing: a message cut short, a second message on a unary call, non-gRPC content-type, compression', async () => {
  const msg = encodeRequest(good);
  const cut = await h2Request(Buffer.concat([prefix(0, msg.length), msg.subarray(0, 10)]));
  assert.equal(cut.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.match(cut.grpcMessage, /ended inside a message/);
  const two = await h2Request(Buffer.concat([prefix(0, msg.length), msg, prefix(0, msg.length), msg]));
  assert.equal(two.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.match(two.grpcMessage, /takes one request message/);
  const none = await h2Request(Buffer.alloc(0));
  assert.equal(none.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.equal((await h2Request(msg, { 'content-type': 'application/json' })).status, 415);
  // gzip, as a client with compression on sends it: answered as the plain request is.
  const gz = gzipSync(msg);
  const zipped = await h2Request(Buffer.concat([prefix(1, gz.length), gz]), { 'grpc-encoding': 'gzip' });
  assert.equal(zipped.grpcStatus, grpc.status.OK, zipped.grpcMessage);
  assert.ok(zipped.body.length > 5);
  const corrupt = await h2Request(Buffer.concat([prefix(1, 10), Buffer.from('not gzip!!')]), { 'grpc-encoding': 'gzip' });
  assert.equal(corrupt.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.match(corrupt.grpcMessage, /could not be inflated \(gzip\)/);
  const bomb = gzipSync(Buffer.alloc(LIMIT * 8));
  const b = await h2Request(Buffer.concat([prefix(1, bomb.length), bomb]), { 'grpc-encoding': 'gzip' });
  assert.equal(b.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(b.grpcMessage, /inflates past the limit of 262144 bytes/);
  const noEnc = await h2Request(Buffer.concat([prefix(1, gz.length), gz]));
  assert.equal(noEnc.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.match(noEnc.grpcMessage, /compressed but the call has no grpc-encoding/);
  const snappy = await h2Request(Buffer.concat([prefix(1, gz.length), gz]), { 'grpc-encoding': 'snappy' });
  assert.equal(snappy.grpcStatus, grpc.status.UNIMPLEMENTED);
  const badTimeout = await h2Request(Buffer.concat([prefix(0, msg.length), msg]), { 'grpc-timeout': 'soon' });
  assert.equal(badTimeout.grpcStatus, grpc.status.INVALID_ARGUMENT);
  assert.match(badTimeout.grpcMessage, /malformed grpc-timeout 'soon'/);
  await stillServing();
});

test('admission comes before decoding: with the server full, a request with broken tensors is refused as UNAVAILABLE, with retry-after', async () => {
  const slowRepo = tempRepo('autoglm-grpc-admission-');
  writeModel(slowRepo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
` });
  const s = await startGrpcServer({ modelRepositories: [slowRepo.dir], limits: { maxInflightRequests: 1 } });
  const sc = grpcClient(s.target);
  try {
    const big = seededFloats(256 * 512, 2, 1);
    const first = sc.call('ModelInfer', { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512] }], raw_input_contents: [raw(big)] });
    // Wait until the server holds the first request (its in-progress count is what admission reads).
    for (let i = 0; i < 2000 && s.server.admit({ model: 'slow', receivedUs: performance.now() * 1000 }) === undefined; i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(s.server.admit({ model: 'slow', receivedUs: performance.now() * 1000 }), 'the first request is in progress');
    const e = expectFailure(await sc.call('ModelInfer', { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512] }], raw_input_contents: [Buffer.alloc(3)] }));
    assert.equal(e.code, grpc.status.UNAVAILABLE, e.details);
    assert.match(e.details, /requests in progress/);
    assert.deepEqual(e.metadata.get('retry-after'), ['1']);
    expectOk(await first);
  } finally {
    sc.close();
    await s.close();
    slowRepo.remove();
  }
});

test('a deadline that passes while the request waits: DEADLINE_EXCEEDED, and the server goes on', async () => {
  const slowRepo = tempRepo('autoglm-grpc-deadline-');
  writeModel(slowRepo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
` });
  const s = await startGrpcServer({ modelRepositories: [slowRepo.dir] });
  const sc = grpcClient(s.target);
  try {
    const big = seededFloats(256 * 512, 2, 1);
    const req = { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512] }], raw_input_contents: [raw(big)] };
    const e = expectFailure(await sc.call('ModelInfer', req, { deadlineMs: 5 }));
    assert.equal(e.code, grpc.status.DEADLINE_EXCEEDED);
    expectOk(await sc.call('ModelInfer', req));
  } finally {
    sc.close();
    await s.close();
    slowRepo.remove();
  }
});
