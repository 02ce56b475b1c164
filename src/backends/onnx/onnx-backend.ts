import type { Backend, InstanceSpec, ModelInstance } from '../backend.js';
import { OnnxInstance } from './onnx-instance.js';

/** The `onnxruntime` backend: each instance is an onnxruntime-node session in its own worker thread. */
export class OnnxBackend implements Backend {
  readonly name = 'onnxruntime';

  createInstance(spec: InstanceSpec): Promise<ModelInstance> {
    return OnnxInstance.create(spec);
  }
}
