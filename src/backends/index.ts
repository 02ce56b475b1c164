import type { Backend } from './backend.js';
import { OnnxBackend } from './onnx/onnx-backend.js';
import { JsBackend } from './js/js-backend.js';

export type { Backend, ModelInstance, InstanceHealth, InstanceSpec, ExecuteResult, ExecuteTiming, ModelSignature, SignatureTensor } from './backend.js';
export { OnnxBackend } from './onnx/onnx-backend.js';
export { JsBackend } from './js/js-backend.js';
export type { JsModel, JsModelContext, JsTensor } from './js/js-model.js';

/** The backends a server offers, by the name configs use (`backend` / `platform`). One line per backend. */
export function createBackends(): Map<string, Backend> {
  const backends: Backend[] = [
    new OnnxBackend(),
    new JsBackend(),
  ];
  return new Map(backends.map((b) => [b.name, b]));
}
