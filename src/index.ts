/**
 * open-autoglm's public API: the in-process server, the HTTP and gRPC frontends, and the types of requests, responses,
 * tensors and errors. Everything else is internal and may change.
 */
export { InferenceServer, type InferenceServerOptions } from './server/inference-server.js';
export type {
  InferenceService, ModelMetadata, ModelState, RepositoryIndexEntry, ServerMetadata, TensorMetadata,
} from './server/service.js';
export { HttpFrontend, type HttpFrontendOptions } from './frontends/http/index.js';
export { GrpcFrontend, type GrpcFrontendOptions, type GrpcService } from './frontends/grpc/index.js';

export {
  InferenceError, ERROR_CODES, DEFAULT_LIMITS, DATATYPES, isDataType, dataTypeInfo, elementCount,
} from './core/index.js';
export type {
  ErrorCode, DataType, TensorData, NumericArray, BytesArray, Tensor, InferenceRequest, InferenceResponse,
  RequestedOutput, Parameters, ParameterValue, RequestLimits, ModelConfig,
} from './core/index.js';
export type { Backend, ModelInstance, InstanceSpec, ExecuteResult } from './backends/backend.js';
/** For TypeScript models (`backend: "js"`): the shape of model.js / model.mjs. See docs/pipelines.md. */
export type { JsModel, JsModelContext, JsTensor } from './backends/js/js-model.js';
