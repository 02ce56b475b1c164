import {
  type DataType, type TensorData, type NumericArray, allocate, dataTypeInfo, invalidArgument,
} from '../../core/index.js';
import { fromHalfBits, toHalfBits } from '../codec/float16.js';
import { NumericLeaves } from './json-body-parser.js';

/** Integer ranges of the JSON-number datatypes, for element validation. */
const INT_RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  UINT8: [0, 0xff], UINT16: [0, 0xffff], UINT32: [0, 0xffffffff],
  INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], INT32: [-0x80000000, 0x7fffffff],
};

/** How deeply `data` arrays may nest (0: flat). */
const MAX_DATA_DEPTH = 64;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Counts leaf elements of flat or nested `data`, refusing anything but arrays of leaves. */
function flatten(data: unknown, out: unknown[], name: string, depth: number): void {
  if (!Array.isArray(data)) {
    out.push(data);
    return;
  }
  if (depth > MAX_DATA_DEPTH) throw nestedTooDeeply(name);
  for (const el of data) {
    if (Array.isArray(el)) flatten(el, out, name, depth + 1);
    else out.push(el);
  }
}

function nestedTooDeeply(name: string): Error {
  return invalidArgument(`input '${name}': data is nested too deeply`);
}

function bad(name: string, dt: DataType, i: number, v: unknown): never {
  const shown = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : String(JSON.stringify(v) ?? v).slice(0, 40);
  throw invalidArgument(`input '${name}': element ${i} (${shown}) is not a valid ${dt} value`);
}

/**
 * Decodes JSON `data` (flat or nested, or its numbers as NumericLeaves from the body parser) into the datatype's
 * storage, checking every element: integers in range for integer types, true/false for BOOL, strings for BYTES.
 * The caller has checked the element count against the limits; the count against the shape is checked here.
 */
export function decodeJsonData(name: string, dt: DataType, data: unknown, expected: number): TensorData {
  if (data instanceof NumericLeaves) {
    if (data.depth > MAX_DATA_DEPTH) throw nestedTooDeeply(name);
    checkCount(name, data.values.length, expected);
    if (data.source === undefined) return fromNumbers(name, dt, data.values);
    // Some values approximate long numbers: exact enough for float32 unless one lies at a rounding midpoint.
    return (dt === 'FP32' ? roundedToFloat32(data.values) : undefined) ?? fromNumbers(name, dt, data.exact());
  }
  const leaves: unknown[] = [];
  flatten(data, leaves, name, 0);
  checkCount(name, leaves.length, expected);
  return fromLeaves(name, dt, leaves);
}

/** Relative error bound of NumericLeaves' approximations (2^-51), doubled. */
const APPROX_MARGIN = 2 ** -50;

/**
 * Math.fround of the exact doubles, from approximations within 2^-51 of them: each value is float32's rounding of
 * every double within APPROX_MARGIN of its approximation, or undefined when an interval straddles a float32 rounding
 * boundary (then the exact doubles decide). Float32 values printed as doubles sit 2^-25 from any boundary.
 */
function roundedToFloat32(approx: Float64Array): Float32Array | undefined {
  const out = new Float32Array(approx.length);
  for (let i = 0; i < approx.length; i++) {
    const v = approx[i];
    const r = Math.fround(v);
    if (Math.fround(v * (1 - APPROX_MARGIN)) !== r || Math.fround(v * (1 + APPROX_MARGIN)) !== r) return undefined;
    out[i] = r;
  }
  return out;
}

function checkCount(name: string, given: number, expected: number): void {
  if (given !== expected) throw invalidArgument(`input '${name}': ${given} elements given, shape needs ${expected}`);
}

/** Numbers already parsed into doubles: floats are converted in one pass, other types checked as JSON values. */
function fromNumbers(name: string, dt: DataType, values: Float64Array): TensorData {
  // `values` is the parser's scratch: each branch makes the tensor's own storage from it.
  if (dt === 'FP64') return new Float64Array(values);
  if (dt !== 'FP32') return fromLeaves(name, dt, values);
  return new Float32Array(values);
}

function fromLeaves(name: string, dt: DataType, leaves: ArrayLike<unknown>): TensorData {
  const n = leaves.length;
  if (dt === 'BYTES') {
    const out: Uint8Array[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (typeof v !== 'string') bad(name, dt, i, v);
      out[i] = utf8.encode(v);
    }
    return out;
  }
  const arr = allocate(dt, n);
  if (dt === 'BOOL') {
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (v !== true && v !== false) bad(name, dt, i, v);
      arr[i] = v ? 1 : 0;
    }
  } else if (dt === 'FP32' || dt === 'FP64') {
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (typeof v !== 'number') bad(name, dt, i, v);
      arr[i] = v;
    }
  } else if (dt === 'FP16') {
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (typeof v !== 'number') bad(name, dt, i, v);
      arr[i] = toHalfBits(v);
    }
  } else if (dt === 'INT64' || dt === 'UINT64') {
    const big = arr as BigInt64Array | BigUint64Array;
    const min = dt === 'UINT64' ? 0n : -(2n ** 63n);
    const max = dt === 'UINT64' ? 2n ** 64n - 1n : 2n ** 63n - 1n;
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) bad(name, dt, i, v);
      const b = BigInt(v);
      if (b < min || b > max) bad(name, dt, i, v);
      big[i] = b;
    }
  } else {
    const [lo, hi] = INT_RANGE[dt]!;
    for (let i = 0; i < n; i++) {
      const v = leaves[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(name, dt, i, v);
      arr[i] = v;
    }
  }
  return arr;
}

/** A tensor's data as JSON-ready values: numbers (64-bit integers as numbers), booleans, or UTF-8 strings. */
export function encodeJsonData(dt: DataType, data: TensorData): unknown[] {
  const info = dataTypeInfo(dt);
  if (info.json === 'string') return (data as Uint8Array[]).map((b) => utf8Decoder.decode(b));
  const arr = data as NumericArray;
  const n = arr.length;
  const out: unknown[] = new Array(n);
  if (dt === 'BOOL') for (let i = 0; i < n; i++) out[i] = arr[i] !== 0;
  else if (dt === 'FP16') for (let i = 0; i < n; i++) out[i] = nonFinite(fromHalfBits(arr[i] as number));
  else if (info.json === 'bigint') for (let i = 0; i < n; i++) out[i] = Number(arr[i]);
  else for (let i = 0; i < n; i++) out[i] = nonFinite(arr[i] as number);
  return out;
}

/** JSON has no NaN/Infinity and JSON.stringify would turn them into null; send "NaN", "Infinity", "-Infinity". */
function nonFinite(v: number): unknown {
  return Number.isFinite(v) ? v : String(v);
}
