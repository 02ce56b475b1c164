/**
 * A gRPC server that answers every call with one fixed reply (a framed 4 KiB message, the MLP's reply size), on one of
 * two HTTP/2 stacks — the ceiling of each transport with no model and no codec behind it (bench/grpc-h2-transport.ts):
 *
 *   --stack node-http2   node:http2 as the gRPC frontend used it: respond (waitForTrailers), end(data), sendTrailers
 *   --stack h2           src/frontends/grpc/http2: HEADERS + DATA + trailers in one write
 *
 * Prints `listening grpc://127.0.0.1:PORT`.
 */
import { constants, createServer as createH2Server } from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { H2Connection } from '../../src/frontends/grpc/http2/connection.js';
import { encodeHeaders } from '../../src/frontends/grpc/http2/hpack.js';

const { values: a } = parseArgs({ options: { stack: { type: 'string', default: 'h2' }, 'reply-bytes': { type: 'string', default: '4160' } } });
const reply = Buffer.alloc(5 + Number(a['reply-bytes']));
reply.writeUInt32BE(Number(a['reply-bytes']), 1);

function listening(port: number): void {
  process.stdout.write(`listening grpc://127.0.0.1:${port}\n`);
}

if (a.stack === 'node-http2') {
  const okHeaders = { [constants.HTTP2_HEADER_STATUS]: 200, [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
  const trailers = { 'grpc-status': '0' };
  const server = createH2Server({ settings: { maxConcurrentStreams: 1024, initialWindowSize: 1 << 20 }, maxSessionMemory: Number.MAX_SAFE_INTEGER });
  server.on('connection', (s: import('node:net').Socket) => s.setNoDelay(true));
  server.on('session', (s) => s.setLocalWindowSize(16 << 20));
  server.on('stream', (stream) => {
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('end', () => {
      stream.respond(okHeaders, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(reply);
    });
  });
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
} else {
  const okHeaders = encodeHeaders([[':status', '200'], ['content-type', 'application/grpc']]);
  const okTrailers = encodeHeaders([['grpc-status', '0']]);
  const limits = { maxConcurrentStreams: 1024, streamWindow: 1 << 20, connectionWindow: 16 << 20, maxHeaderListSize: 16 << 10, maxQueuedBytes: 16 << 20 };
  const server = createServer((socket) => {
    new H2Connection(socket, limits, (stream) => {
      stream.sink = { data() {}, end: () => stream.answer(okHeaders, [reply], okTrailers), closed() {}, drained() {} };
    });
  });
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
}
