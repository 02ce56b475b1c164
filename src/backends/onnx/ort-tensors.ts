/**
 * Worker side of the tensor transfer: packed inputs → ORT tensors (views over the transfer buffer, no copy;
 * BYTES decoded as UTF-8 into ORT 'string' tensors), ORT outputs → transferable buffers.
 * FP16 stays raw half bits in a Uint16Array (ORT 'float16'), BOOL a Uint8Array (ORT 'bool').
 */
import * as ort from 'onnxruntime-node';
import { type DataType, InferenceError, dataTypeInfo, elementCount, fromOrtType, invalidArgument, viewOf } from '../../core/index.js';
import { bytesElements } from './tensor-transfer.js';
import type { WireInput, WireOutput } from './worker-protocol.js';

// fatal: ORT string tensors hold text, so bytes that are not UTF-8 are refused rather than silently replaced.
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

export function toOrtTensor(buffer: ArrayBuffer, w: WireInput): ort.Tensor {
  const info = dataTypeInfo(w.datatype);
  const count = elementCount(w.shape);
  if (info.byteSize === 0) {
    const strings = bytesElements(buffer, w.byteOffset, count).map((el, i) => {
      try {
        return utf8.decode(el);
      } catch {
        throw invalidArgument(`input '${w.name}': BYTES element ${i} is not valid UTF-8 (ONNX string tensors hold text)`);
      }
    });
    return new ort.Tensor('string', strings, w.shape);
  }
  // The ORT tensor types and typed arrays line up by the datatype table (core/datatype.ts).
  const data = viewOf(w.datatype, buffer, w.byteOffset, count);
  return new ort.Tensor(info.ortType as 'float32', data as Float32Array, w.shape);
}

/** One ORT output as a wire output plus the buffer to transfer. */
export function fromOrtTensor(name: string, value: ort.OnnxValue): WireOutput {
  const t = value as ort.Tensor;
  const datatype: DataType | undefined = fromOrtType(t.type);
  if (datatype === undefined) {
    throw new InferenceError('INTERNAL', `output '${name}' has ORT type '${t.type}', which no v2 datatype represents`);
  }
  const shape = [...t.dims];
  if (datatype === 'BYTES') return { name, datatype, shape, buffer: encodeStrings(t.data as string[]) };
  const data = t.data as Exclude<ort.Tensor['data'], string[]>;
  // ORT allocates each output's buffer for this run, exactly its size; slice only if that ever changes.
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  const buffer = whole ? (data.buffer as ArrayBuffer) : (data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
  return { name, datatype, shape, buffer };
}

/** Strings as UTF-8 in the BYTES layout: (n + 1) Uint32 end offsets, then the bytes. */
function encodeStrings(strings: readonly string[]): ArrayBuffer {
  const encoded = strings.map((s) => encoder.encode(s));
  let total = 4 * (encoded.length + 1);
  for (const e of encoded) total += e.byteLength;
  const buffer = new ArrayBuffer(total);
  const ends = new Uint32Array(buffer, 0, encoded.length + 1);
  const bytes = new Uint8Array(buffer);
  let pos = 0;
  encoded.forEach((e, i) => {
    bytes.set(e, ends.byteLength + pos);
    pos += e.byteLength;
    ends[i + 1] = pos;
  });
  return buffer;
}

/** Which ORT complaints are about the caller's inputs (INVALID_ARGUMENT) rather than the runtime (INTERNAL). */
const INPUT_COMPLAINTS = [
  /invalid dimensions for input/i,
  /Unexpected input data type/i,
  /is missing in 'feeds'/i,
  /invalid (input|output) name/i,
  /Invalid rank for input/i,
  /Tensor's data length|size of data|does not match (tensor|data) (size|length)/i,
];

export function classifyRunError(err: unknown): InferenceError {
  if (err instanceof InferenceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = INPUT_COMPLAINTS.some((re) => re.test(message)) ? 'INVALID_ARGUMENT' : 'INTERNAL';
  return new InferenceError(code, `onnxruntime: ${message.trim()}`);
}
