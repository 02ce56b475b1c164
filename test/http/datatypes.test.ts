import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DATATYPES, type DataType } from '../../src/core/index.js';
import { identityAllTypesModel, writeModel } from '../fixtures/models.js';
import {
  type Running, binaryBody, binaryOutputs, bytesOf, call, encodeBytesElements, postJson, startServer, tempRepo,
} from './helpers.js';

/** Two rows of three per datatype, with each type's extremes where JSON can carry them exactly. */
const JSON_VALUES: Record<DataType, unknown[]> = {
  BOOL: [true, false, true, false, false, true],
  UINT8: [0, 1, 255, 7, 128, 3],
  UINT16: [0, 65535, 2, 300, 4, 5],
  UINT32: [0, 4294967295, 2, 70000, 4, 5],
  UINT64: [0, 2 ** 53 - 1, 2, 3, 4, 5],
  INT8: [-128, 127, 0, -1, 5, 6],
  INT16: [-32768, 32767, 0, -1, 5, 6],
  INT32: [-2147483648, 2147483647, 0, -1, 5, 6],
  INT64: [-(2 ** 53 - 1), 2 ** 53 - 1, 0, -1, 5, 6],
  FP16: [0.5, -2, 65504, 0, 1.5, -0.25],
  FP32: [1.5, -2.25, 0, 3.5e10, -1e-3, 0.1],
  FP64: [0.1, 1e300, -5e-324, 0, 2.5, -7],
  BYTES: ['hello', 'wörld', '', 'a b', '🙂', 'x'],
};

/** The same values in their binary encoding. */
function binaryOf(dt: DataType): Uint8Array {
  const v = JSON_VALUES[dt];
  switch (dt) {
    case 'BOOL': return Uint8Array.from(v as boolean[], (b) => (b ? 1 : 0));
    case 'UINT8': return Uint8Array.from(v as number[]);
    case 'UINT16': return bytesOf(Uint16Array.from(v as number[]));
    case 'UINT32': return bytesOf(Uint32Array.from(v as number[]));
    case 'UINT64': return bytesOf(BigUint64Array.from(v as number[], BigInt));
    case 'INT8': return bytesOf(Int8Array.from(v as number[]));
    case 'INT16': return bytesOf(Int16Array.from(v as number[]));
    case 'INT32': return bytesOf(Int32Array.from(v as number[]));
    case 'INT64': return bytesOf(BigInt64Array.from(v as number[], BigInt));
    case 'FP16': return bytesOf(Uint16Array.from([0x3800, 0xc000, 0x7bff, 0x0000, 0x3e00, 0xb400]));
    case 'FP32': return bytesOf(Float32Array.from(v as number[]));
    case 'FP64': return bytesOf(Float64Array.from(v as number[]));
    case 'BYTES': return encodeBytesElements(v as string[]);
  }
}

/** What JSON output should hold: FP32 values pass through float32. */
function expectedJson(dt: DataType): unknown[] {
  return dt === 'FP32' ? (JSON_VALUES[dt] as number[]).map(Math.fround) : JSON_VALUES[dt];
}

let srv: Running;
const repo = tempRepo();

before(async () => {
  writeModel(repo.dir, 'identity', identityAllTypesModel());
  srv = await startServer({ modelRepositories: [repo.dir] });
});
after(async () => {
  await srv.close();
  repo.remove();
});

const jsonInputs = DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], data: JSON_VALUES[dt] }));

test('every datatype round-trips in JSON (flat data), id echoed', async () => {
  const r = await postJson(srv.base, '/v2/models/identity/infer', { id: 'all-json', inputs: jsonInputs });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.id, 'all-json');
  assert.equal(r.json.model_name, 'identity');
  assert.equal(r.json.model_version, '1');
  assert.equal(r.json.outputs.length, DATATYPES.length);
  for (const dt of DATATYPES) {
    const o = r.json.outputs.find((x: { name: string }) => x.name === `out_${dt}`);
    assert.equal(o.datatype, dt);
    assert.deepEqual(o.shape, [2, 3]);
    assert.deepEqual(o.data, expectedJson(dt), dt);
  }
});

test('nested JSON data is accepted like flat data', async () => {
  const nested = (v: unknown[]) => [v.slice(0, 3), v.slice(3)];
  const r = await postJson(srv.base, '/v2/models/identity/infer', {
    inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], data: nested(JSON_VALUES[dt]) })),
    outputs: [{ name: 'out_INT32' }],
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.outputs.map((o: { name: string }) => o.name), ['out_INT32']);
  assert.deepEqual(r.json.outputs[0].data, JSON_VALUES.INT32);
});

test('every datatype round-trips in binary, both directions, byte for byte', async () => {
  const header = {
    id: 'all-binary',
    inputs: DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], parameters: { binary_data_size: binaryOf(dt).byteLength } })),
    parameters: { binary_data_output: true },
  };
  const { body, headers } = binaryBody(header, DATATYPES.map(binaryOf));
  const r = await call(srv.base, '/v2/models/identity/infer', { body, headers });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.equal(r.json.id, 'all-binary');
  const outs = binaryOutputs(r);
  for (const dt of DATATYPES) {
    assert.deepEqual(outs.get(`out_${dt}`), binaryOf(dt), dt);
    const o = r.json.outputs.find((x: { name: string }) => x.name === `out_${dt}`);
    assert.equal(o.data, undefined);
    assert.deepEqual(o.shape, [2, 3]);
  }
});

test('binary input at unaligned offsets is read correctly (copied), aligned ones in place', async () => {
  // A 1-byte UINT8 tensor first pushes every following tensor off alignment, whatever the header length.
  const dts: DataType[] = ['UINT8', 'FP64', 'INT32', 'FP16', 'INT64'];
  const u8 = Uint8Array.from([9, 8, 7]);
  const header = {
    inputs: dts.map((dt) => ({
      name: `in_${dt}`, datatype: dt, shape: dt === 'UINT8' ? [1, 3] : [1, 3],
      parameters: { binary_data_size: dt === 'UINT8' ? 3 : binaryOf(dt).byteLength / 2 },
    })).concat(DATATYPES.filter((d) => !dts.includes(d)).map((dt) => ({
      name: `in_${dt}`, datatype: dt, shape: [1, 3], data: JSON_VALUES[dt].slice(0, 3),
    })) as never[]),
    outputs: dts.map((dt) => ({ name: `out_${dt}`, parameters: { binary_data: true } })),
  };
  const parts = dts.map((dt) => (dt === 'UINT8' ? u8 : binaryOf(dt).slice(0, binaryOf(dt).byteLength / 2)));
  const { body, headers } = binaryBody(header, parts);
  const r = await call(srv.base, '/v2/models/identity/infer', { body, headers });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const outs = binaryOutputs(r);
  dts.forEach((dt, i) => assert.deepEqual(outs.get(`out_${dt}`), parts[i], dt));
});

test('JSON inputs with binary outputs for some outputs only (per-output binary_data)', async () => {
  const r = await postJson(srv.base, '/v2/models/identity/infer', {
    inputs: jsonInputs,
    outputs: [
      { name: 'out_FP32', parameters: { binary_data: true } },
      { name: 'out_BYTES', parameters: { binary_data: true } },
      { name: 'out_INT64', parameters: { binary_data: false } },
    ],
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(Number(r.headers.get('inference-header-content-length')) + r.binary.length, Number(r.headers.get('content-length')));
  const outs = binaryOutputs(r);
  assert.deepEqual([...outs.keys()].sort(), ['out_BYTES', 'out_FP32']);
  assert.deepEqual(outs.get('out_FP32'), binaryOf('FP32'));
  assert.deepEqual(outs.get('out_BYTES'), binaryOf('BYTES'));
  const int64 = r.json.outputs.find((o: { name: string }) => o.name === 'out_INT64');
  assert.deepEqual(int64.data, JSON_VALUES.INT64);
});

test('binary_data_output with a per-output override back to JSON', async () => {
  const r = await postJson(srv.base, '/v2/models/identity/infer', {
    inputs: jsonInputs,
    parameters: { binary_data_output: true },
    outputs: [{ name: 'out_BOOL', parameters: { binary_data: false } }, { name: 'out_UINT16' }],
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const outs = binaryOutputs(r);
  assert.deepEqual([...outs.keys()], ['out_UINT16']);
  assert.deepEqual(outs.get('out_UINT16'), binaryOf('UINT16'));
  assert.deepEqual(r.json.outputs.find((o: { name: string }) => o.name === 'out_BOOL').data, JSON_VALUES.BOOL);
});
