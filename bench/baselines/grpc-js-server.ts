/**
 * The rejected stack, kept so the choice stays reproducible (docs/grpc.md, "The stack, and why"): the same
 * InferenceServer and HttpFrontend as `autoglm serve`, with ModelInfer served by @grpc/grpc-js's server instead of
 * the node:http2 frontend — the same hand-written codec, admission and error mapping, only the transport differs.
 * Serves ModelInfer alone (what the benchmark calls).
 *
 *   node --import tsx bench/baselines/grpc-js-server.ts --model-repository DIR
 * prints `listening http://127.0.0.1:PORT grpc://127.0.0.1:PORT`.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { CancelSource, InferenceError, toInferenceError } from '../../src/core/index.js';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { inferHeader, inferRequestOf } from '../../src/frontends/grpc/infer-request.js';
import { encodeInferResponseParts } from '../../src/frontends/grpc/infer-response.js';
import { type ScannedInfer, scanInferRequest } from '../../src/frontends/grpc/scan-infer-request.js';

const { values: a } = parseArgs({ options: { 'model-repository': { type: 'string' } } });
const server = await InferenceServer.create({ modelRepositories: [a['model-repository']!] });
const http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });

type Msg = ScannedInfer | InferenceError;
const g = new grpc.Server({ 'grpc.max_receive_message_length': server.limits.maxBodyBytes, 'grpc.max_send_message_length': -1 });
g.addService({
  ModelInfer: {
    path: '/inference.GRPCInferenceService/ModelInfer', requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer): Msg => {
      try {
        return scanInferRequest(b, performance.now() * 1000);
      } catch (err) {
        return new InferenceError('INVALID_ARGUMENT', `malformed request message: ${(err as Error).message}`);
      }
    },
    // grpc-js frames the reply itself: the message without our 5-byte prefix.
    responseSerialize: (parts: Uint8Array[]) => Buffer.concat(parts).subarray(5),
    responseDeserialize: (b: Buffer) => b,
  },
} as grpc.ServiceDefinition, {
  ModelInfer: (call: grpc.ServerUnaryCall<Msg, Uint8Array[]>, callback: grpc.sendUnaryData<Uint8Array[]>) => {
    const scan = call.request;
    const fail = (err: unknown) => {
      const e = toInferenceError(err);
      callback({ code: e.grpcStatus, details: e.message });
    };
    if (scan instanceof InferenceError) return fail(scan);
    const gone = new CancelSource();
    call.once('cancelled', () => gone.abort());
    void (async () => {
      try {
        const header = inferHeader(scan);
        const refusal = server.admit({ model: header.model, version: header.version, priority: header.priority, timeoutUs: header.timeoutUs, receivedUs: scan.receivedUs });
        if (refusal) throw refusal;
        callback(null, encodeInferResponseParts(await server.infer(inferRequestOf(scan, header, server.limits, gone))));
      } catch (err) {
        fail(err);
      }
    })();
  },
});
const port = await new Promise<number>((resolve, reject) => g.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
console.log(`listening http://127.0.0.1:${http.port} grpc://127.0.0.1:${port}`);
process.on('SIGTERM', () => {
  g.forceShutdown();
  void http.close().then(() => server.close()).then(() => process.exit(0));
});
