/** OnnxInstance.execute against real onnxruntime sessions in worker threads. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { DATATYPES, InferenceError, type DataType, type Tensor, type TensorData } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/backends/onnx/onnx-backend.js';
import type { ModelInstance } from '../../src/backends/backend.js';
import { identityAllTypesModel, mlpModel, seededFloats } from '../fixtures/models.js';
import { tempModel, type TempModel } from './onnx-helpers.js';

const backend = new OnnxBackend();
const utf8 = new TextEncoder();

/** Six elements ([2, 3]) of each datatype, including values at the edges of its range. */
function sample(dt: DataType): TensorData {
  switch (dt) {
    case 'BOOL': return new Uint8Array([1, 0, 1, 1, 0, 0]);
    case 'UINT8': return new Uint8Array([0, 1, 127, 128, 254, 255]);
    case 'UINT16': return new Uint16Array([0, 1, 300, 32768, 65534, 65535]);
    case 'UINT32': return new Uint32Array([0, 1, 70000, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]);
    case 'UINT64': return new BigUint64Array([0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n]);
    case 'INT8': return new Int8Array([-128, -1, 0, 1, 100, 127]);
    case 'INT16': return new Int16Array([-32768, -1, 0, 1, 1000, 32767]);
    case 'INT32': return new Int32Array([-(2 ** 31), -1, 0, 1, 123456, 2 ** 31 - 1]);
    case 'INT64': return new BigInt64Array([-(2n ** 63n), -(2n ** 53n) - 1n, -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]);
    // raw half bits: 1.0, -2.0, 65504 (max), smallest subnormal, +inf, a NaN payload
    case 'FP16': return new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e01]);
    case 'FP32': return new Float32Array([1.5, -0, 3.4e38, 1e-45, Infinity, -Infinity]);
    case 'FP64': return new Float64Array([Math.PI, -0, Number.MAX_VALUE, Number.MIN_VALUE, -1e308, 42]);
    case 'BYTES': return ['', 'a', 'héllo wörld', '漢字', 'line\nbreak', 'x'.repeat(1000)].map((s) => utf8.encode(s));
  }
}

let identity: TempModel;
let mlpFile: TempModel;
let all: ModelInstance;
let mlp: ModelInstance;
const { bytes: mlpBytes, reference } = mlpModel(16, 32, 4, 5);

before(async () => {
  identity = tempModel('identity_all', identityAllTypesModel());
  mlpFile = tempModel('mlp', mlpBytes);
  [all, mlp] = await Promise.all([backend.createInstance(identity.spec()), backend.createInstance(mlpFile.spec())]);
});

after(async () => {
  await Promise.all([all?.unload(), mlp?.unload()]);
  identity?.remove();
  mlpFile?.remove();
});

/** The identity model needs every input on every call (ORT refuses missing feeds). */
const allInputs = (): Tensor[] => DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], data: sample(dt) }));

test('every v2 datatype round-trips through an Identity model, in one call', async () => {
  const inputs = allInputs();
  const names = DATATYPES.map((dt) => `out_${dt}`);
  const { outputs, timing } = await all.execute(inputs, names);
  assert.deepEqual(outputs.map((o) => o.name), names);
  for (const [i, dt] of DATATYPES.entries()) {
    const out = outputs[i];
    assert.equal(out.datatype, dt, `datatype of ${out.name}`);
    assert.deepEqual(out.shape, [2, 3]);
    if (dt === 'BYTES') {
      assert.deepEqual((out.data as Uint8Array[]).map((b) => Buffer.from(b).toString()), (sample(dt) as Uint8Array[]).map((b) => Buffer.from(b).toString()));
    } else if (dt === 'FP32' || dt === 'FP64') {
      assert.deepEqual(Array.from(out.data as Float32Array, (x) => Object.is(x, -0) ? '-0' : x), Array.from(sample(dt) as Float32Array, (x) => Object.is(x, -0) ? '-0' : x), dt);
    } else {
      assert.deepEqual(out.data, sample(dt), dt);
    }
  }
  for (const v of [timing.inputUs, timing.inferUs, timing.outputUs]) assert.ok(Number.isFinite(v) && v >= 0);
});

test('the caller keeps its input buffers: execute neither detaches nor changes them', async () => {
  const data = new Int32Array([1, 2, 3, 4, 5, 6]);
  const inputs = allInputs().map((t) => (t.datatype === 'INT32' ? { ...t, data } : t));
  const { outputs } = await all.execute(inputs, ['out_INT32']);
  assert.equal(data.byteLength, 24);
  assert.deepEqual(data, new Int32Array([1, 2, 3, 4, 5, 6]));
  data[0] = 99; // the output is a fresh buffer, not a view of the input
  assert.equal((outputs[0].data as Int32Array)[0], 1);
});

test('MLP output equals the reference forward pass, batch 1 and batched; the transfer buffer grows', async () => {
  for (const batch of [1, 7, 300, 2]) {
    const x = seededFloats(batch * 16, 100 + batch, 1);
    const { outputs } = await mlp.execute([{ name: 'input', datatype: 'FP32', shape: [batch, 16], data: x }], ['output']);
    assert.deepEqual(outputs[0].shape, [batch, 4]);
    const want = reference(x, batch);
    const got = outputs[0].data as Float32Array;
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-4, `batch ${batch} element ${i}: ${got[i]} vs ${want[i]}`);
  }
});

test('outputs come back as the subset asked for, in the order asked for', async () => {
  const { outputs } = await all.execute(allInputs(), ['out_FP64', 'out_INT8']);
  assert.deepEqual(outputs.map((o) => o.name), ['out_FP64', 'out_INT8']);
  assert.deepEqual(outputs[0].data, sample('FP64'));
  assert.deepEqual(outputs[1].data, sample('INT8'));
});

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InferenceError, `not an InferenceError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test('bad inputs reject with INVALID_ARGUMENT and the instance keeps working', async () => {
  const x = (n: number) => new Float32Array(n);
  await rejectsWith(mlp.execute([{ name: 'input', datatype: 'FP32', shape: [2, 15], data: x(30) }], ['output']), 'INVALID_ARGUMENT', /invalid dimensions/i);
  await rejectsWith(mlp.execute([{ name: 'input', datatype: 'INT32', shape: [2, 16], data: new Int32Array(32) }], ['output']), 'INVALID_ARGUMENT', /data type/i);
  await rejectsWith(mlp.execute([{ name: 'input', datatype: 'FP32', shape: [2, 16], data: x(31) }], ['output']), 'INVALID_ARGUMENT', /32 elements/);
  await rejectsWith(mlp.execute([{ name: 'input', datatype: 'FP32', shape: [2, 16], data: new Float64Array(32) }], ['output']), 'INVALID_ARGUMENT', /Float32Array/);
  await rejectsWith(mlp.execute([{ name: 'input', datatype: 'FP32', shape: [1, 16], data: x(16) }], ['nope']), 'INVALID_ARGUMENT', /no output 'nope'.*'output'/);
  await rejectsWith(mlp.execute([{ name: 'bogus', datatype: 'FP32', shape: [1, 16], data: x(16) }], ['output']), 'INVALID_ARGUMENT', /no input 'bogus'/);
  await rejectsWith(mlp.execute([], ['output']), 'INVALID_ARGUMENT', /missing/);
  const notUtf8 = [new Uint8Array([0xff, 0xfe]), ...Array.from({ length: 5 }, () => new Uint8Array(0))];
  const badBytes = allInputs().map((t) => (t.datatype === 'BYTES' ? { ...t, data: notUtf8 } : t));
  await rejectsWith(all.execute(badBytes, ['out_BYTES']), 'INVALID_ARGUMENT', /BYTES element 0 is not valid UTF-8/);
  assert.equal((await all.execute(allInputs(), ['out_BYTES'])).outputs[0].data.length, 6);

  const data = seededFloats(16, 3, 1);
  const { outputs } = await mlp.execute([{ name: 'input', datatype: 'FP32', shape: [1, 16], data }], ['output']);
  assert.ok(Math.abs((outputs[0].data as Float32Array)[0] - reference(data, 1)[0]) < 1e-4);
});

test('a second execute while one is in flight rejects; the first still completes', async () => {
  const input: Tensor = { name: 'input', datatype: 'FP32', shape: [1, 16], data: new Float32Array(16) };
  const first = mlp.execute([input], ['output']);
  await rejectsWith(mlp.execute([input], ['output']), 'INTERNAL', /in flight/);
  assert.deepEqual((await first).outputs[0].shape, [1, 4]);
});
