/**
 * The gRPC services' methods from the vendored protos (proto/, Triton's own files): `inference.GRPCInferenceService`
 * and `grpc.health.v1.Health`. Every method but two (de)serializes with @grpc/proto-loader (protobufjs); ModelInfer
 * and ModelStreamInfer use the hand-written codec (scan-infer-request.ts, infer-response.ts): decode + encode of a
 * ModelInfer measured 1.4–2.0× faster than protobufjs with raw tensors, 2.7× with BYTES, 6.9× with typed contents
 * (bench/grpc-codec.ts, figures in bench/README.md).
 */
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

/** Where the vendored .proto files are (copied next to the compiled module by `npm run build`). */
export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** proto-loader's options: field names as in the .proto (Triton's JSON names), enums as their names, 64-bit as strings. */
export const PROTO_OPTIONS: protoLoader.Options = {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR],
};

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

let loaded: protoLoader.PackageDefinition | undefined;

/** The package definition of grpc_service.proto and health.proto (parsed once per process, ~tens of ms). */
export function packageDefinition(): protoLoader.PackageDefinition {
  loaded ??= protoLoader.loadSync(['grpc_service.proto', 'health.proto'], PROTO_OPTIONS);
  return loaded;
}

/** One method: its name, whether it streams, and proto-loader's codec for its messages. */
export interface MethodCodec {
  readonly name: string;
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  /** Throws on bytes that are not a valid request message. */
  deserialize(bytes: Buffer): Record<string, unknown>;
  /** The reply object as a length-prefixed message (5-byte gRPC prefix included). */
  serializeFramed(reply: unknown): Buffer;
}

/** gRPC's length prefix: a 0 byte (not compressed) and the message's length, big-endian. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

interface LoaderMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: unknown): Buffer;
}

let table: Map<string, MethodCodec> | undefined;

/** Every method of both services, by path (`/inference.GRPCInferenceService/ModelInfer`). */
export function methodTable(): ReadonlyMap<string, MethodCodec> {
  if (table) return table;
  const t = new Map<string, MethodCodec>();
  for (const service of [INFERENCE_SERVICE, HEALTH_SERVICE]) {
    for (const [name, m] of Object.entries(packageDefinition()[service] as unknown as Record<string, LoaderMethod>)) {
      t.set(m.path, {
        name, path: m.path, requestStream: m.requestStream, responseStream: m.responseStream,
        deserialize: (b) => m.requestDeserialize(b) as Record<string, unknown>,
        serializeFramed: (v) => frame(m.responseSerialize(v)),
      });
    }
  }
  table = t;
  return t;
}
