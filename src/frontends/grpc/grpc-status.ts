/** What the gRPC frontend calls, and how its failures are logged. */
import type { Logger } from 'pino';
import { InferenceError, toInferenceError } from '../../core/index.js';
import type { InferenceService } from '../../server/service.js';

/**
 * What the gRPC frontend calls: the InferenceService, and — when the server has it — the statistics extension
 * (Triton's JSON form: `{ model_stats: [...] }`, the same fields as ModelStatisticsResponse).
 */
export type GrpcService = Pick<InferenceService, 'limits' | 'infer' | 'inferStream' | 'admit' | 'isLive' | 'isReady' | 'serverMetadata' | 'modelMetadata'
  | 'modelConfig' | 'isModelReady' | 'repositoryIndex' | 'loadModel' | 'unloadModel'> & {
  modelStatistics?(name?: string, version?: string): unknown;
};

/** Any thrown value as an InferenceError, logged as the HTTP frontend logs: INTERNAL as an error, the rest at debug. */
export function failure(log: Logger, rpc: string, err: unknown): InferenceError {
  const e = toInferenceError(err);
  if (e.code === 'INTERNAL') log.error({ err: e, rpc }, 'gRPC call failed');
  else if (log.isLevelEnabled('debug')) log.debug({ code: e.code, msg: e.message, rpc }, 'gRPC call refused');
  return e;
}
