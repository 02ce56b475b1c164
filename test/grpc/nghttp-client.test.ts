/**
 * nghttp (nghttp2's C client, Debian package nghttp2-client) against the gRPC frontend: a second, independent
 * HTTP/2 implementation talking to our transport (src/frontends/grpc/http2/) — its HPACK encoder, its SETTINGS,
 * its flow control — with gRPC framing done by hand in a file. Each request runs twice: once with -v (the frames it
 * received, so the response HEADERS and the trailers), once plain (the DATA bytes on stdout). Skipped, and says so,
 * where nghttp is not installed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { decodeGrpcInferResponse, encodeGrpcInferRequest, frameGrpcMessage } from '../../src/bench/grpc-messages.js';
import { type GrpcRunning, startGrpcServer } from './helpers.js';

const probe = spawnSync('nghttp', ['--version'], { encoding: 'utf8' });
const skip = probe.status === 0 ? false : 'nghttp not installed (apt-get install nghttp2-client)';

const MLP = mlpModel(16, 8, 4, 31);
let srv: GrpcRunning;
const repo = tempRepo('autoglm-grpc-nghttp-');
const work = mkdtempSync(join(tmpdir(), 'autoglm-nghttp-'));

before(async () => {
  if (skip) return;
  writeModel(repo.dir, 'mlp', MLP.bytes);
  srv = await startGrpcServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv?.close();
  repo.remove();
  rmSync(work, { recursive: true, force: true });
});

/** nghttp posting `bodyFile` as a gRPC call; asynchronous, since the server answers on this process's event loop. */
function nghttp(bodyFile: string, verbose: boolean): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  const args = [...(verbose ? ['-v'] : []), '-t', '10', '-d', bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    `http://${srv.target}/inference.GRPCInferenceService/ModelInfer`];
  return new Promise((resolve) => {
    const child = spawn('nghttp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('close', (status: number | null) => resolve({ status, stdout: Buffer.concat(out), stderr }));
  });
}

interface ReceivedHeaders { readonly fields: Map<string, string>; readonly endStream: boolean }

/**
 * The HEADERS frames nghttp -v reports receiving on request streams, in order: each frame's fields and whether it
 * ended the stream. nghttp prints a block's fields ("recv (stream_id=13) grpc-status: 0") before the line of the
 * frame that carried them ("recv HEADERS frame <length=15, flags=0x05, stream_id=13>").
 */
function receivedHeaders(log: string): ReceivedHeaders[] {
  const frames: ReceivedHeaders[] = [];
  let pending = new Map<string, string>();
  for (const line of log.split('\n')) {
    const field = /recv \(stream_id=\d+\) (:?[^:]+): (.*)$/.exec(line);
    if (field) pending.set(field[1], field[2]);
    const frame = /recv HEADERS frame <length=\d+, flags=0x([0-9a-f]+), stream_id=(\d+)>/.exec(line);
    if (frame && frame[2] !== '0') {
      frames.push({ fields: pending, endStream: (parseInt(frame[1], 16) & 0x1) !== 0 });
      pending = new Map();
    }
  }
  return frames;
}

/** One gRPC message out of a gRPC-framed body (flag byte, 4-byte length, message). */
function unframe(body: Buffer): Buffer {
  assert.ok(body.length >= 5, `reply body of ${body.length} bytes`);
  assert.equal(body[0], 0, 'uncompressed message');
  const n = body.readUInt32BE(1);
  assert.equal(body.length, 5 + n, 'exactly one message in the reply');
  return body.subarray(5);
}

test('nghttp (nghttp2) posts a gRPC ModelInfer: :status 200, grpc-status 0 in the trailers, the model\'s answer', { skip }, async () => {
  const x = seededFloats(2 * 16, 77, 1);
  const request = encodeGrpcInferRequest('mlp', '', [{ name: 'input', datatype: 'FP32', shape: [2, 16], data: x }]);
  const file = join(work, 'infer.grpc');
  writeFileSync(file, frameGrpcMessage(request));

  const v = await nghttp(file, true);
  assert.equal(v.status, 0, v.stderr);
  const headers = receivedHeaders(v.stdout.toString('latin1'));
  assert.equal(headers.length, 2, `response HEADERS and trailers, got ${JSON.stringify(headers.map((h) => [...h.fields]))}`);
  const [head, trailers] = headers;
  assert.equal(head.fields.get(':status'), '200');
  assert.equal(head.fields.get('content-type'), 'application/grpc');
  assert.equal(head.endStream, false);
  assert.equal(trailers.endStream, true, 'the trailers end the stream');
  assert.equal(trailers.fields.get('grpc-status'), '0');

  const plain = await nghttp(file, false);
  assert.equal(plain.status, 0, plain.stderr);
  const reply = decodeGrpcInferResponse(unframe(plain.stdout));
  const out = reply.get('output');
  assert.ok(out, 'an output named output');
  assert.deepEqual(out.shape, [2, 4]);
  const want = MLP.reference(x, 2);
  assert.equal(out.values.length, want.length);
  (out.values as number[]).forEach((got, i) => assert.ok(Math.abs(got - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `output[${i}] ${got} vs ${want[i]}`));
});

test('nghttp: ModelInfer on an unknown model ends with grpc-status 5 (NOT_FOUND) in the trailers', { skip }, async () => {
  const request = encodeGrpcInferRequest('nope', '', [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: new Float32Array(16) }]);
  const file = join(work, 'unknown.grpc');
  writeFileSync(file, frameGrpcMessage(request));
  const v = await nghttp(file, true);
  assert.equal(v.status, 0, v.stderr);
  const headers = receivedHeaders(v.stdout.toString('latin1'));
  // gRPC errors come as trailers-only (one HEADERS frame with END_STREAM) or headers + trailers; both are valid.
  const last = headers.at(-1)!;
  assert.equal(headers[0].fields.get(':status'), '200');
  assert.equal(last.endStream, true);
  assert.equal(last.fields.get('grpc-status'), '5');
  assert.match(decodeURIComponent(last.fields.get('grpc-message') ?? ''), /nope/);
});
