export { GrpcFrontend, type GrpcFrontendOptions } from './grpc-server.js';
export type { GrpcService } from './grpc-status.js';
