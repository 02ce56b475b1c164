/**
 * `parameters { key: "execute_timeout_ms" value: { string_value: "N" } }`: how long one batch may run on an instance
 * before it is given up (JS and ONNX instances; what "given up" means differs, see each instance). 0 = no limit.
 */
import type { InstanceSpec } from './backend.js';

/** The config's execute_timeout_ms, 0 when absent; throws naming the parameter when it is not a whole number ≥ 0. */
export function executeTimeoutMs(spec: InstanceSpec): number {
  const t = spec.config.parameters?.execute_timeout_ms?.string_value;
  const ms = t === undefined ? 0 : Number(t);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`parameter execute_timeout_ms must be a whole number of milliseconds ≥ 0, got '${t}'`);
  return ms;
}
