/**
 * One suite, every transport (HTTP JSON, HTTP binary, gRPC raw contents, gRPC typed contents), as hono runs one
 * router suite over every router: the same infer cases against one server, answers checked against a reference —
 * the identity of every datatype, and an MLP computed in plain JS — and the same errors with the same catalog codes.
 * A case a transport cannot carry is skipped with the reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DATATYPES, type DataType, type ErrorCode, type TensorData } from '../../src/core/index.js';
import { encodeBinaryData } from '../../src/frontends/codec/binary-tensor.js';
import { identityAllTypesModel, mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { type Client, type GrpcRunning, grpcClient, startGrpcServer } from '../grpc/helpers.js';
import { type Answer, type InferCall, type TensorIn, type Transport, grpcRaw, grpcTyped, httpBinary, httpJson } from './transports.js';

/** Two rows of three per datatype, each type's extremes where every transport carries them exactly. */
const VALUES: Record<DataType, TensorData> = {
  BOOL: Uint8Array.from([1, 0, 1, 0, 0, 1]),
  UINT8: Uint8Array.from([0, 1, 255, 7, 128, 3]),
  UINT16: Uint16Array.from([0, 65535, 2, 300, 4, 5]),
  UINT32: Uint32Array.from([0, 4294967295, 2, 70000, 4, 5]),
  UINT64: BigUint64Array.from([0n, 2n ** 53n - 1n, 2n, 3n, 4n, 5n]),
  INT8: Int8Array.from([-128, 127, 0, -1, 5, 6]),
  INT16: Int16Array.from([-32768, 32767, 0, -1, 5, 6]),
  INT32: Int32Array.from([-2147483648, 2147483647, 0, -1, 5, 6]),
  INT64: BigInt64Array.from([-(2n ** 53n - 1n), 2n ** 53n - 1n, 0n, -1n, 5n, 6n]),
  FP16: Uint16Array.from([0x3800, 0xc000, 0x7bff, 0x0000, 0x3e00, 0xb400]),
  FP32: Float32Array.from([1.5, -2.25, 0, 3.5e10, -1e-3, 0.1]),
  FP64: Float64Array.from([0.1, 1e300, -5e-324, 0, 2.5, -7]),
  BYTES: ['hello', 'wörld', '', 'a b', '🙂', 'x'].map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
};

const input = (dt: DataType): TensorIn => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3], data: VALUES[dt] });
const bytes = (t: TensorIn): Uint8Array => encodeBinaryData(t);

const MLP = mlpModel(16, 8, 4, 5);

let srv: GrpcRunning;
let client: Client;
const repo = tempRepo('autoglm-conformance-');

before(async () => {
  writeModel(repo.dir, 'identity', identityAllTypesModel());
  // For transports that cannot carry every datatype: the identity of the ones they can.
  writeModel(repo.dir, 'identity_no_fp16', identityAllTypesModel(DATATYPES.filter((d) => d !== 'FP16')));
  writeModel(repo.dir, 'mlp', MLP.bytes);
  srv = await startGrpcServer({ modelRepositories: [repo.dir] });
  client = grpcClient(srv.target);
});
after(async () => {
  client.close();
  await srv.close();
  repo.remove();
});

const transports: Transport[] = [httpJson(() => srv.base), httpBinary(() => srv.base), grpcRaw(() => client), grpcTyped(() => client)];

function ok(a: Answer): Extract<Answer, { ok: true }> {
  if (!a.ok) throw new Error(`expected an answer, got ${a.codes.join('/')}: ${a.message}`);
  return a;
}

function failsWith(a: Answer, code: ErrorCode, message: RegExp): void {
  if (a.ok) throw new Error(`expected ${code}, got an answer`);
  assert.ok(a.codes.includes(code), `expected ${code}, got ${a.codes.join('/')}: ${a.message}`);
  assert.match(a.message, message);
}

for (const t of transports) {
  describe(t.name, () => {
    const carried = DATATYPES.filter((dt) => !(dt in t.cannot));
    const missing = Object.keys(t.cannot);
    if (missing.length > 1 || (missing.length === 1 && missing[0] !== 'FP16')) throw new Error(`${t.name}: no identity model for its datatypes`);
    const identity = missing.length === 0 ? 'identity' : 'identity_no_fp16';

    test('every datatype round-trips through the identity model, byte for byte; id, model and version echoed', async (ctx) => {
      for (const [dt, why] of Object.entries(t.cannot)) ctx.diagnostic(`${dt} skipped: ${why}`);
      const a = ok(await t.infer({ model: identity, id: 'conf-1', inputs: carried.map(input) }));
      assert.equal(a.id, 'conf-1');
      assert.equal(a.model, identity);
      assert.equal(a.version, '1');
      assert.equal(a.outputs.size, carried.length);
      for (const dt of carried) {
        const o = a.outputs.get(`out_${dt}`);
        assert.ok(o, `out_${dt} missing`);
        assert.equal(o.datatype, dt);
        assert.deepEqual(o.shape, [2, 3]);
        assert.deepEqual(Buffer.from(o.bytes), Buffer.from(bytes(input(dt))), dt);
      }
    });

    for (const dt of DATATYPES) {
      test(`${dt} alone, one row`, { skip: t.cannot[dt] }, async () => {
        const one: TensorIn = { ...input(dt), shape: [1, 3], data: dt === 'BYTES' ? (VALUES.BYTES as Uint8Array[]).slice(3) : (VALUES[dt] as Uint8Array).slice(3) };
        // The identity model needs every input: the others ride along with zeros.
        const others = DATATYPES.filter((d) => d !== dt && !(d in t.cannot)).map((d): TensorIn => ({
          name: `in_${d}`, datatype: d, shape: [1, 3],
          data: d === 'BYTES' ? [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)] : (VALUES[d] as Uint8Array).slice(0, 3),
        }));
        const a = ok(await t.infer({ model: identity, inputs: [one, ...others], outputs: [`out_${dt}`] }));
        assert.deepEqual([...a.outputs.keys()], [`out_${dt}`]);
        assert.deepEqual(Buffer.from(a.outputs.get(`out_${dt}`)!.bytes), Buffer.from(bytes(one)));
      });
    }

    test('the MLP answers as the reference computation does (3 rows)', async () => {
      const x = seededFloats(3 * 16, 77, 1);
      const a = ok(await t.infer({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [3, 16], data: x }] }));
      const o = a.outputs.get('output')!;
      assert.deepEqual(o.shape, [3, 4]);
      const got = new Float32Array(Uint8Array.from(o.bytes).buffer);
      const want = MLP.reference(x, 3);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `output[${i}] = ${got[i]}, want ${want[i]}`);
    });

    test('an explicit version is served; an unknown one is NOT_FOUND', async () => {
      const x = seededFloats(16, 3, 1);
      const call: InferCall = { model: 'mlp', version: '1', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: x }] };
      assert.equal(ok(await t.infer(call)).version, '1');
      failsWith(await t.infer({ ...call, version: '7' }), 'NOT_FOUND', /version/);
    });

    test('errors carry the catalog code: unknown model, unknown input, wrong shape, wrong datatype, count ≠ shape', async () => {
      const x: TensorIn = { name: 'input', datatype: 'FP32', shape: [1, 16], data: seededFloats(16, 4, 1) };
      failsWith(await t.infer({ model: 'nope', inputs: [x] }), 'NOT_FOUND', /nope/);
      failsWith(await t.infer({ model: 'mlp', inputs: [{ ...x, name: 'other' }] }), 'INVALID_ARGUMENT', /other/);
      failsWith(await t.infer({ model: 'mlp', inputs: [{ ...x, shape: [2, 8] }] }), 'INVALID_ARGUMENT', /shape/);
      failsWith(await t.infer({ model: 'mlp', inputs: [{ ...x, datatype: 'FP64', data: new Float64Array(16) }] }), 'INVALID_ARGUMENT', /FP64|datatype/);
      failsWith(await t.infer({ model: 'mlp', inputs: [{ ...x, shape: [1, 17] }] }), 'INVALID_ARGUMENT', /17|elements|size|shape/);
    });
  });
}
