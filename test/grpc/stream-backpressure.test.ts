/**
 * ModelStreamInfer backpressure: a client that sends many requests on one stream and does not read the replies makes
 * the server stop reading that stream (MAX_STREAM_PENDING replies outstanding, or its write buffer full), so what the
 * server runs and holds for it stays bounded; once the client reads, every reply comes, in request order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { startGrpcServer } from './helpers.js';
import { packageDefinition } from '../../src/frontends/grpc/service-definition.js';

const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';
const service = packageDefinition()['inference.GRPCInferenceService'] as any;
const encode = service.ModelStreamInfer.requestSerialize as (v: unknown) => Buffer;
const decode = service.ModelStreamInfer.responseDeserialize as (b: Buffer) => { error_message: string; infer_response: { id: string } };

function framed(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

test('a stream whose client does not read: the server stops reading it; reading again brings every reply in order', { timeout: 60_000 }, async () => {
  const repo = tempRepo('autoglm-grpc-bp-');
  writeModel(repo.dir, 'mlp', mlpModel(8, 4, 2, 3).bytes);
  const srv = await startGrpcServer({ modelRepositories: [repo.dir] });
  const session = connect(`http://${srv.target}`);
  try {
    const N = 5000;
    const x = seededFloats(8, 1, 1);
    const raw = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const req = session.request({ ':method': 'POST', ':path': STREAM, 'content-type': 'application/grpc', te: 'trailers' });
    req.pause(); // the client reads nothing for now
    for (let i = 0; i < N; i++) {
      req.write(framed(encode({ model_name: 'mlp', id: String(i), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8] }], raw_input_contents: [raw] })));
    }
    req.end();
    const successes = () => srv.server.modelStatistics('mlp').model_stats[0].inference_stats.success.count;
    // Wait until the server has stopped making progress on the stream.
    let last = -1;
    for (let i = 0; i < 100 && successes() !== last; i++) {
      last = successes();
      await new Promise((r) => setTimeout(r, 200));
    }
    const ranWhileUnread = successes();
    assert.ok(ranWhileUnread < N / 2, `the server ran ${ranWhileUnread} of ${N} requests for a client reading nothing`);

    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.resume();
    await new Promise<void>((resolve, reject) => { req.on('end', resolve); req.on('error', reject); });
    const body = Buffer.concat(chunks);
    const ids: string[] = [];
    for (let off = 0; off < body.length;) {
      const len = body.readUInt32BE(off + 1);
      const r = decode(body.subarray(off + 5, off + 5 + len));
      assert.equal(r.error_message, '');
      ids.push(r.infer_response.id);
      off += 5 + len;
    }
    assert.equal(ids.length, N);
    assert.ok(ids.every((id, i) => id === String(i)), 'replies in request order');
  } finally {
    session.close();
    await srv.close();
    repo.remove();
  }
});
