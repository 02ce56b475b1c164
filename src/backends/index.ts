import type { Backend } from './backend.js';
import { OnnxBackend } from './onnx/onnx-backend.js';

export type { Backend, ModelInstance, InstanceSpec, ExecuteResult, ExecuteTiming, ModelSignature, SignatureTensor } from './backend.js';
export { OnnxBackend } from './onnx/onnx-backend.js';

/** The backends a server offers, by the name configs use (`backend` / `platform`). One line per backend. */
export function createBackends(): Map<string, Backend> {
  const backends: Backend[] = [
    new OnnxBackend(),
  ];
  return new Map(backends.map((b) => [b.name, b]));
}
