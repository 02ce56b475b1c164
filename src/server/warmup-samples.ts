/**
 * Triton's `model_warmup` (model_config.proto ModelWarmup) → the requests each instance runs before its version is
 * READY. Compiled once per load; any problem is an Error naming the sample, which fails the load.
 */
import { readFileSync } from 'node:fs';
import { join, normalize, sep } from 'node:path';
import {
  type DataType, type ModelConfig, type NumericArray, type Tensor, type WarmupInput,
  allocate, dataTypeInfo, elementCount, fromConfigName, viewOf,
} from '../core/index.js';
import type { WarmupSample } from '../scheduler/warm-up.js';

/** Files of `input_data_file` live here, inside the model folder (Triton's layout). */
export const WARMUP_DIR = 'warmup';

/** The config's warm-up samples, ready to run; [] when it has none. Throws `warm-up sample 'NAME': …`. */
export function compileWarmup(config: Readonly<ModelConfig>, modelDir: string): WarmupSample[] {
  return (config.model_warmup ?? []).map((w) => {
    try {
      if (config.platform === 'ensemble') throw new Error('an ensemble warms up through its steps\' models: give them the model_warmup');
      // The sequence batcher runs requests of live sequences only (its control and state tensors come from them).
      if (config.sequence_batching) throw new Error('model_warmup is not supported for a model with sequence_batching');
      const batched = config.max_batch_size > 0;
      const rows = batched ? w.batch_size : 1;
      if (rows < 1) throw new Error('batch_size must be at least 1');
      if (!batched && w.batch_size > 1) throw new Error(`batch_size ${w.batch_size}: the model does not batch (max_batch_size 0), so it must be 1`);
      if (rows > config.max_batch_size && batched) throw new Error(`batch_size ${rows} is over max_batch_size ${config.max_batch_size}`);
      const inputs: Tensor[] = [];
      for (const [name, spec] of Object.entries(w.inputs)) {
        const declared = config.input.find((t) => t.name === name);
        if (!declared) throw new Error(`input '${name}' is not an input of the model (${config.input.map((t) => t.name).join(', ')})`);
        if (spec.data_type !== declared.data_type) throw new Error(`input '${name}' is ${declared.data_type}, the sample says ${spec.data_type}`);
        if (spec.dims.length !== declared.dims.length || spec.dims.some((d, i) => d < 1 || (declared.dims[i] >= 0 && declared.dims[i] !== d))) {
          throw new Error(`input '${name}': dims [${spec.dims}] do not fit the model's [${declared.dims}] (every dim fixed and ≥ 1)`);
        }
        inputs.push(sampleTensor(name, spec, rows, batched, modelDir));
      }
      const missing = config.input.filter((t) => !t.optional && !(t.name in w.inputs)).map((t) => t.name);
      if (missing.length > 0) throw new Error(`no value for input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}`);
      return { name: w.name, rows, count: Math.max(1, w.count), inputs };
    } catch (err) {
      throw new Error(`warm-up sample '${w.name}': ${(err as Error).message}`, { cause: err });
    }
  });
}

function sampleTensor(name: string, spec: WarmupInput, rows: number, batched: boolean, modelDir: string): Tensor {
  const dt = fromConfigName(spec.data_type);
  if (!dt) throw new Error(`input '${name}': datatype ${spec.data_type} is not supported`);
  const perRow = elementCount(spec.dims);
  const shape = batched ? [rows, ...spec.dims] : [...spec.dims];
  const n = perRow * rows;
  if ('input_data_file' in spec) return { name, datatype: dt, shape, data: fromFile(name, dt, spec.input_data_file, perRow, rows, modelDir) };
  if ('random_data' in spec) return { name, datatype: dt, shape, data: randomData(dt, n) };
  if ('zero_data' in spec) {
    return { name, datatype: dt, shape, data: dt === 'BYTES' ? Array.from({ length: n }, () => new Uint8Array(0)) : allocate(dt, n) };
  }
  throw new Error(`input '${name}' sets none of zero_data, random_data, input_data_file`);
}

/** Random values of the datatype: floats in [0, 1), integers and bytes in 0..127, booleans 0/1, BYTES 8 random bytes. */
function randomData(dt: DataType, n: number): NumericArray | Uint8Array[] {
  if (dt === 'BYTES') return Array.from({ length: n }, () => Uint8Array.from({ length: 8 }, () => Math.floor(Math.random() * 256)));
  const a = allocate(dt, n);
  for (let i = 0; i < n; i++) {
    if (dt === 'FP32' || dt === 'FP64') a[i] = Math.random();
    else if (dt === 'FP16') a[i] = Math.floor(Math.random() * 0x3c00); // halves in [0, 1)
    else if (dt === 'BOOL') a[i] = Math.random() < 0.5 ? 0 : 1;
    else if (a instanceof BigInt64Array || a instanceof BigUint64Array) a[i] = BigInt(Math.floor(Math.random() * 128));
    else a[i] = Math.floor(Math.random() * 128);
  }
  return a;
}

/** One sample's elements from `<model>/warmup/<file>`, repeated for each row. */
function fromFile(name: string, dt: DataType, file: string, perRow: number, rows: number, modelDir: string): NumericArray | Uint8Array[] {
  const dir = join(modelDir, WARMUP_DIR);
  const path = normalize(join(dir, file));
  if (!path.startsWith(dir + sep)) throw new Error(`input '${name}': input_data_file '${file}' is outside ${WARMUP_DIR}/`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`input '${name}': cannot read ${WARMUP_DIR}/${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const size = dataTypeInfo(dt).byteSize;
  if (size === 0) {
    const one = bytesElements(bytes, name, file);
    if (one.length !== perRow) throw new Error(`input '${name}': ${WARMUP_DIR}/${file} holds ${one.length} BYTES elements, the dims need ${perRow}`);
    return Array.from({ length: rows }, () => one).flat();
  }
  if (bytes.byteLength !== perRow * size) {
    throw new Error(`input '${name}': ${WARMUP_DIR}/${file} is ${bytes.byteLength} bytes, the dims need ${perRow} × ${size} = ${perRow * size}`);
  }
  const out = allocate(dt, perRow * rows);
  const aligned = new Uint8Array(bytes); // a copy at offset 0, aligned for the typed view
  const one = viewOf(dt, aligned.buffer, 0, perRow);
  for (let r = 0; r < rows; r++) out.set(one as never, r * perRow);
  return out;
}

/** BYTES elements as the v2 binary form writes them: a 4-byte little-endian length, then the bytes. */
function bytesElements(b: Buffer, name: string, file: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < b.byteLength) {
    if (at + 4 > b.byteLength) throw new Error(`input '${name}': ${WARMUP_DIR}/${file} ends inside a length prefix`);
    const len = b.readUInt32LE(at);
    at += 4;
    if (at + len > b.byteLength) throw new Error(`input '${name}': ${WARMUP_DIR}/${file} ends inside an element (length ${len})`);
    out.push(new Uint8Array(b.subarray(at, at + len)));
    at += len;
  }
  return out;
}
