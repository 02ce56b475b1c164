/**
 * The KServe v2 datatypes and everything derived from them, in one table.
 * Copies of these facts elsewhere (ONNX element types, Triton TYPE_* names) are tied to this table:
 * add a datatype here and every lookup follows.
 */

export type DataType =
  | 'BOOL'
  | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64'
  | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64'
  | 'BYTES';

/** A numeric tensor's storage. FP16 is raw IEEE half bits in a Uint16Array; BOOL is one byte per element. */
export type NumericArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

/** BYTES tensors hold one Uint8Array per element (arbitrary bytes, often UTF-8 text). */
export type BytesArray = Uint8Array[];

export type TensorData = NumericArray | BytesArray;

type TypedArrayConstructor =
  | Uint8ArrayConstructor | Uint16ArrayConstructor | Uint32ArrayConstructor | BigUint64ArrayConstructor
  | Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor
  | Float32ArrayConstructor | Float64ArrayConstructor;

export interface DataTypeInfo {
  readonly name: DataType;
  /** Bytes per element in binary tensor data; 0 for BYTES (variable, 4-byte length prefixed). */
  readonly byteSize: number;
  /** Typed array that stores it; undefined for BYTES. */
  readonly array: TypedArrayConstructor | undefined;
  /** onnxruntime-common's tensor type string. */
  readonly ortType: string;
  /** ONNX TensorProto.DataType enum value. */
  readonly onnxElemType: number;
  /** Triton config.pbtxt name. */
  readonly configName: string;
  /** JSON representation of elements: number, bigint-as-number, boolean, or string. */
  readonly json: 'number' | 'bigint' | 'boolean' | 'string';
}

const table: readonly DataTypeInfo[] = [
  { name: 'BOOL', byteSize: 1, array: Uint8Array, ortType: 'bool', onnxElemType: 9, configName: 'TYPE_BOOL', json: 'boolean' },
  { name: 'UINT8', byteSize: 1, array: Uint8Array, ortType: 'uint8', onnxElemType: 2, configName: 'TYPE_UINT8', json: 'number' },
  { name: 'UINT16', byteSize: 2, array: Uint16Array, ortType: 'uint16', onnxElemType: 4, configName: 'TYPE_UINT16', json: 'number' },
  { name: 'UINT32', byteSize: 4, array: Uint32Array, ortType: 'uint32', onnxElemType: 12, configName: 'TYPE_UINT32', json: 'number' },
  { name: 'UINT64', byteSize: 8, array: BigUint64Array, ortType: 'uint64', onnxElemType: 13, configName: 'TYPE_UINT64', json: 'bigint' },
  { name: 'INT8', byteSize: 1, array: Int8Array, ortType: 'int8', onnxElemType: 3, configName: 'TYPE_INT8', json: 'number' },
  { name: 'INT16', byteSize: 2, array: Int16Array, ortType: 'int16', onnxElemType: 5, configName: 'TYPE_INT16', json: 'number' },
  { name: 'INT32', byteSize: 4, array: Int32Array, ortType: 'int32', onnxElemType: 6, configName: 'TYPE_INT32', json: 'number' },
  { name: 'INT64', byteSize: 8, array: BigInt64Array, ortType: 'int64', onnxElemType: 7, configName: 'TYPE_INT64', json: 'bigint' },
  { name: 'FP16', byteSize: 2, array: Uint16Array, ortType: 'float16', onnxElemType: 10, configName: 'TYPE_FP16', json: 'number' },
  { name: 'FP32', byteSize: 4, array: Float32Array, ortType: 'float32', onnxElemType: 1, configName: 'TYPE_FP32', json: 'number' },
  { name: 'FP64', byteSize: 8, array: Float64Array, ortType: 'float64', onnxElemType: 11, configName: 'TYPE_FP64', json: 'number' },
  { name: 'BYTES', byteSize: 0, array: undefined, ortType: 'string', onnxElemType: 8, configName: 'TYPE_STRING', json: 'string' },
];

const byName = new Map<string, DataTypeInfo>(table.map((t) => [t.name, t]));
const byConfigName = new Map<string, DataTypeInfo>(table.map((t) => [t.configName, t]));
const byOnnx = new Map<number, DataTypeInfo>(table.map((t) => [t.onnxElemType, t]));
const byOrt = new Map<string, DataTypeInfo>(table.map((t) => [t.ortType, t]));

export const DATATYPES: readonly DataType[] = table.map((t) => t.name);

export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && byName.has(s);
}

export function dataTypeInfo(dt: DataType): DataTypeInfo {
  const info = byName.get(dt);
  if (!info) throw new TypeError(`unknown datatype ${dt}`);
  return info;
}

/** TYPE_FP32 → FP32. TYPE_STRING → BYTES, as Triton does. */
export function fromConfigName(name: string): DataType | undefined {
  return byConfigName.get(name)?.name;
}

export function fromOnnxElemType(elemType: number): DataType | undefined {
  return byOnnx.get(elemType)?.name;
}

export function fromOrtType(t: string): DataType | undefined {
  return byOrt.get(t)?.name;
}

/** Allocate a zeroed array for n elements of a numeric datatype. */
export function allocate(dt: DataType, n: number): NumericArray {
  const ctor = dataTypeInfo(dt).array;
  if (!ctor) throw new TypeError(`${dt} is not a numeric datatype`);
  return new ctor(n);
}

/** View existing bytes as a datatype's typed array (no copy; offset must be aligned, see alignedView). */
export function viewOf(dt: DataType, buffer: ArrayBufferLike, byteOffset: number, count: number): NumericArray {
  const ctor = dataTypeInfo(dt).array;
  if (!ctor) throw new TypeError(`${dt} is not a numeric datatype`);
  return new ctor(buffer as ArrayBuffer, byteOffset, count);
}
