/**
 * Every RPC of `inference.GRPCInferenceService` but the two infer ones, and `grpc.health.v1.Health/Check`: protocol
 * only, over the InferenceService. Messages are proto-loader objects (field names as in grpc_service.proto).
 *
 * Shared memory, trace and log settings are not implemented: each answers UNIMPLEMENTED and says so — except
 * SystemSharedMemoryUnregister and CudaSharedMemoryUnregister, which succeed: nothing can have been registered, so
 * "unregister all" (what perf_analyzer and Triton's client examples call before they start) is already true.
 */
import { InferenceError, invalidArgument } from '../../core/index.js';
import type { GrpcService } from './grpc-status.js';
import { INFERENCE_SERVICE } from './service-definition.js';

type Obj = Record<string, unknown>;

/** What a unary handler may read of its call besides the message. */
export interface CallInfo {
  readonly authorization: string | undefined;
}

/** A unary RPC: the decoded request in, the reply object (or a promise of it) out; throws the error to answer. */
export type UnaryHandler = (request: Obj, call: CallInfo) => unknown;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const versionOf = (v: unknown): string | undefined => (str(v) === '' ? undefined : str(v));

function unimplemented(what: string): () => never {
  return () => {
    throw new InferenceError('UNIMPLEMENTED', what);
  };
}

function noRepositoryName(req: Obj): void {
  if (str(req.repository_name) !== '') {
    throw new InferenceError('UNIMPLEMENTED', `repository_name '${str(req.repository_name)}': choosing a repository is not supported (every repository is served)`);
  }
}

const SHM = 'shared-memory tensors are not supported: send tensor data in the request (raw_input_contents)';

/** Every RPC of the inference service but ModelInfer and ModelStreamInfer (infer-handlers.ts). */
export function inferenceHandlers(service: GrpcService): Record<string, UnaryHandler> {
  const s = service;
  // Chosen once: the statistics extension is the server's, when it has one.
  const stats = typeof s.modelStatistics === 'function'
    ? (req: Obj) => s.modelStatistics!(str(req.name) === '' ? undefined : str(req.name), versionOf(req.version))
    : unimplemented('the statistics extension is not available in this server (ModelStatistics)');
  return {
    ServerLive: () => ({ live: s.isLive() }),
    ServerReady: () => ({ ready: s.isReady() }),
    // Triton answers ready: false (not NOT_FOUND) for a model it does not know.
    ModelReady: (req) => ({ ready: s.isModelReady(str(req.name), versionOf(req.version)) }),
    ServerMetadata: () => s.serverMetadata(),
    ModelMetadata: (req) => s.modelMetadata(str(req.name), versionOf(req.version)),
    ModelConfig: (req) => ({ config: s.modelConfig(str(req.name), versionOf(req.version)) }),
    ModelStatistics: stats,
    RepositoryIndex: (req) => {
      noRepositoryName(req);
      return { models: s.repositoryIndex({ readyOnly: req.ready === true }).map((e) => ({ ...e, version: e.version ?? '' })) };
    },
    RepositoryModelLoad: async (req, call) => {
      noRepositoryName(req);
      const params = Object.keys((req.parameters ?? {}) as Obj);
      if (params.length > 0) {
        throw new InferenceError('UNIMPLEMENTED', `load parameters (${params.join(', ')}) are not supported: the model is loaded from its folder`);
      }
      if (str(req.model_name) === '') throw invalidArgument('model_name is empty');
      await s.loadModel(str(req.model_name), call.authorization);
      return {};
    },
    RepositoryModelUnload: async (req, call) => {
      noRepositoryName(req);
      // unload_dependents: accepted and ignored — an ensemble's steps stay loaded, as without it.
      const params = Object.keys((req.parameters ?? {}) as Obj).filter((k) => k !== 'unload_dependents');
      if (params.length > 0) throw new InferenceError('UNIMPLEMENTED', `unload parameters (${params.join(', ')}) are not supported`);
      if (str(req.model_name) === '') throw invalidArgument('model_name is empty');
      await s.unloadModel(str(req.model_name), call.authorization);
      return {};
    },
    SystemSharedMemoryStatus: unimplemented(`SystemSharedMemoryStatus: ${SHM}`),
    SystemSharedMemoryRegister: unimplemented(`SystemSharedMemoryRegister: ${SHM}`),
    SystemSharedMemoryUnregister: () => ({}),
    CudaSharedMemoryStatus: unimplemented(`CudaSharedMemoryStatus: ${SHM}`),
    CudaSharedMemoryRegister: unimplemented(`CudaSharedMemoryRegister: ${SHM}`),
    CudaSharedMemoryUnregister: () => ({}),
    TraceSetting: unimplemented('TraceSetting: tracing is not supported'),
    LogSettings: unimplemented('LogSettings: log settings are set at start-up (--log-verbose, --log-format)'),
  };
}

/** grpc.health.v1.Health/Check: SERVING when the server is ready (every model that should be is), else NOT_SERVING. */
export function healthHandlers(service: GrpcService): Record<string, UnaryHandler> {
  return {
    Check: (req: Obj) => {
      const name = str(req.service);
      if (name !== '' && name !== INFERENCE_SERVICE) throw new InferenceError('NOT_FOUND', `unknown service '${name}'`);
      return { status: service.isReady() ? 'SERVING' : 'NOT_SERVING' };
    },
  };
}
