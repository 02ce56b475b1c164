/**
 * The hand-written ModelInfer codec against protobufjs (proto-loader's codec for the same vendored proto), with
 * randomized messages (fast-check): what protobufjs encodes, the scan and decoder read the same; what the encoder
 * writes, protobufjs decodes to the same response.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CancelSource, DATATYPES, DEFAULT_LIMITS, type DataType, type InferenceResponse, type Tensor, allocate } from '../../src/core/index.js';
import { encodeBinaryData } from '../../src/frontends/codec/binary-tensor.js';
import { inferHeader, inferRequestOf } from '../../src/frontends/grpc/infer-request.js';
import { encodeInferResponseParts, encodeStreamError, encodeStreamResponse } from '../../src/frontends/grpc/infer-response.js';
import { WireReader, varintSize, writeVarint } from '../../src/frontends/grpc/protobuf-wire.js';
import { scanInferRequest } from '../../src/frontends/grpc/scan-infer-request.js';
import { packageDefinition } from '../../src/frontends/grpc/service-definition.js';
import { typedContents } from '../frontends/transports.js';

const method = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelInfer;
const stream = (packageDefinition()['inference.GRPCInferenceService'] as any).ModelStreamInfer;

/** A random tensor of a datatype: shape of rank 1–3, up to 12 elements. */
function tensorArb(name: string): fc.Arbitrary<Tensor> {
  return fc.tuple(fc.constantFrom(...DATATYPES), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
    .map(([dt, shape, seed]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      let s = seed;
      const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
      if (dt === 'BYTES') return { name, datatype: dt, shape, data: Array.from({ length: n }, () => Uint8Array.from({ length: next() % 5 }, () => next() & 0xff)) };
      const data = allocate(dt, n);
      const bytes = new Uint8Array(data.buffer);
      for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
      if (dt === 'BOOL') for (let i = 0; i < n; i++) (data as Uint8Array)[i] &= 1;
      // Floats: no NaN (its payload need not survive protobufjs' typed round trip).
      if (dt === 'FP32' || dt === 'FP64') for (let i = 0; i < n; i++) if (Number.isNaN((data as Float32Array)[i])) (data as Float32Array)[i] = i;
      return { name, datatype: dt as DataType, shape, data };
    });
}

const bytesOf = (t: Tensor) => Buffer.from(encodeBinaryData(t));

test('protobufjs-encoded requests (raw or typed contents, parameters, outputs) decode to the same tensors', () => {
  fc.assert(fc.property(
    fc.array(tensorArb('t'), { minLength: 1, maxLength: 4 }), fc.boolean(), fc.string({ maxLength: 8 }), fc.integer({ min: 0, max: 5 }),
    fc.option(fc.integer({ min: 0, max: 10_000_000 })), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }),
    (tensors, typed, id, priority, timeout, outputs) => {
      const inputs = tensors.map((t, i) => ({ ...t, name: `in${i}` }));
      const useTyped = typed && inputs.every((t) => t.datatype !== 'FP16');
      const parameters: Record<string, unknown> = { priority: { uint64_param: priority }, note: { string_param: id } };
      if (timeout !== null) parameters.timeout = { int64_param: timeout };
      const bytes = method.requestSerialize({
        model_name: 'm', model_version: '2', id, parameters,
        inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, ...(useTyped ? { contents: typedContents(t) } : {}) })),
        outputs: outputs.map((name) => ({ name })),
        raw_input_contents: useTyped ? [] : inputs.map(bytesOf),
      }) as Buffer;
      const scan = scanInferRequest(bytes, 123);
      const header = inferHeader(scan);
      assert.deepEqual([header.model, header.version, header.priority, header.timeoutUs], ['m', '2', priority, timeout ?? undefined]);
      assert.equal(header.parameters?.note, id);
      const req = inferRequestOf(scan, header, DEFAULT_LIMITS, new CancelSource());
      assert.equal(req.id, id === '' ? undefined : id);
      assert.equal(req.receivedUs, 123);
      assert.deepEqual(req.outputs?.map((o) => o.name), outputs.length ? outputs : undefined);
      assert.equal(req.inputs.length, inputs.length);
      req.inputs.forEach((t, i) => {
        assert.equal(t.name, inputs[i].name);
        assert.equal(t.datatype, inputs[i].datatype);
        assert.deepEqual([...t.shape], inputs[i].shape);
        assert.deepEqual(bytesOf(t), bytesOf(inputs[i]), `${t.datatype} ${useTyped ? 'typed' : 'raw'}`);
        if (t.datatype !== 'BYTES') assert.ok(t.data instanceof (allocate(t.datatype, 0).constructor as Function));
      });
    }), { numRuns: 300, seed: 7 });
});

test('arbitrary bytes: the scan and the decoder throw only their own errors (malformed message, invalid argument)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
    try {
      const scan = scanInferRequest(Buffer.from(b), 0);
      inferRequestOf(scan, inferHeader(scan), DEFAULT_LIMITS, new CancelSource());
    } catch (err) {
      const name = (err as Error).name;
      const ok = err instanceof Error && ((err as Error).constructor.name === 'WireError' || name === 'InferenceError');
      assert.ok(ok, `unexpected ${name}: ${(err as Error).message}`);
    }
  }), { numRuns: 2000, seed: 3 });
});

test('encoded responses decode with protobufjs to the same outputs; raw_output_contents one per output, in order', () => {
  fc.assert(fc.property(fc.array(tensorArb('o'), { minLength: 0, maxLength: 4 }), fc.option(fc.string({ maxLength: 6 })),
    fc.dictionary(fc.constantFrom('k1', 'k2', 'k3'), fc.oneof(fc.boolean(), fc.integer(), fc.double({ noNaN: true }), fc.string({ maxLength: 5 }))),
    (tensors, id, params) => {
      const outputs = tensors.map((t, i) => ({ ...t, name: `out${i}` }));
      const res: InferenceResponse = { model: 'mlp', version: '3', outputs, ...(id !== null ? { id } : {}), parameters: params };
      const decoded = method.responseDeserialize(Buffer.concat(encodeInferResponseParts(res)).subarray(5)) as Record<string, any>;
      assert.equal(decoded.model_name, 'mlp');
      assert.equal(decoded.model_version, '3');
      assert.equal(decoded.id, id ?? '');
      assert.equal(decoded.outputs.length, outputs.length);
      assert.equal(decoded.raw_output_contents.length, outputs.length);
      outputs.forEach((t, i) => {
        assert.equal(decoded.outputs[i].name, t.name);
        assert.equal(decoded.outputs[i].datatype, t.datatype);
        assert.deepEqual(decoded.outputs[i].shape.map(Number), t.shape);
        assert.deepEqual(Buffer.from(decoded.raw_output_contents[i]), bytesOf(t));
      });
      for (const [k, v] of Object.entries(params)) {
        const p = decoded.parameters[k];
        const got = p[p.parameter_choice];
        // Integral numbers go as int64_param (-0 as 0), others as double_param.
        assert.equal(typeof v === 'number' && Number.isSafeInteger(v) ? Number(got) : got, Object.is(v, -0) ? 0 : v, k);
      }
      const s = stream.responseDeserialize(encodeStreamResponse(res, true).subarray(5)) as Record<string, any>;
      assert.equal(s.error_message, '');
      assert.equal(s.infer_response.raw_output_contents.length, outputs.length);
      assert.deepEqual(s.infer_response.parameters.triton_final_response.bool_param, true);
    }), { numRuns: 300, seed: 5 });
  const e = stream.responseDeserialize(encodeStreamError('model \'x\' is not ready — ünïcode', 'req-7').subarray(5)) as Record<string, any>;
  assert.equal(e.error_message, 'model \'x\' is not ready — ünïcode');
  assert.equal(e.infer_response.id, 'req-7');
});

test('varints: written and read back for every size up to 2^53', () => {
  fc.assert(fc.property(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.maxSafeNat()), (v) => {
    const buf = Buffer.alloc(10);
    const end = writeVarint(buf, 0, v);
    assert.equal(end, varintSize(v));
    const r = new WireReader(buf, 0, end);
    r.varint64();
    assert.equal(r.hi * 2 ** 32 + r.lo, v);
    assert.equal(r.pos, end);
  }), { numRuns: 1000, seed: 9 });
});
