import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelSource, DEFAULT_LIMITS, type InferenceRequest } from '../../src/core/index.js';
import { decodeInferRequest } from '../../src/frontends/http/decode-request.js';

const utf8 = new TextEncoder();

function decode(body: Uint8Array | string, headerLength?: number): InferenceRequest {
  const bytes = typeof body === 'string' ? utf8.encode(body) : body;
  return decodeInferRequest(bytes, headerLength, 'm', undefined, DEFAULT_LIMITS, new CancelSource(), 0).request;
}

const concat = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...utf8.encode(p)] : p)));

const fp32 = (data: string, shape = '[1,3]') => `{"inputs":[{"name":"x","datatype":"FP32","shape":${shape},"data":${data}}]}`;

test('JSON data decodes into the tensor, nested or flat, with the values JSON.parse gives', () => {
  const r = decode(fp32('[[0.123456,-0.5,1e-7]]'));
  assert.deepStrictEqual(r.inputs[0].data, Float32Array.of(0.123456, -0.5, 1e-7));
  const f64 = decode('{"inputs":[{"name":"y","datatype":"FP64","shape":[3],"data":[0.1,-0,5e-324]}],"id":"a"}');
  assert.deepStrictEqual(Array.from(f64.inputs[0].data as Float64Array), [0.1, -0, 5e-324]);
  assert.ok(Object.is((f64.inputs[0].data as Float64Array)[1], -0));
  assert.equal(f64.id, 'a');
});

test('a syntax error is malformed request JSON with what and where', () => {
  assert.throws(() => decode('{"inputs": ['), { code: 'INVALID_ARGUMENT', message: 'malformed request JSON: unexpected end of input at byte 12' });
  assert.throws(() => decode(fp32('[1,2,]')), { message: /^malformed request JSON: unexpected '\]' at byte 67$/ });
  assert.throws(() => decode(''), { message: 'malformed request JSON: unexpected end of input at byte 0' });
});

test('invalid UTF-8 anywhere in the JSON is reported as such, even after a syntax error, as before', () => {
  const notUtf8 = { code: 'INVALID_ARGUMENT', message: 'request JSON is not valid UTF-8' };
  assert.throws(() => decode(Uint8Array.of(0x7b, 0xff, 0x7d)), notUtf8);
  assert.throws(() => decode(concat('{"inputs":[{"name":"', [0xc3, 0x28], '"}]}')), notUtf8);
  assert.throws(() => decode(concat('{"inputs": x "', [0xe2, 0x82], '"}')), notUtf8);
  assert.throws(() => decode(concat(fp32('[1,2,3]'), ' ', [0x80])), notUtf8);
  // Valid UTF-8 outside a string is a syntax error.
  assert.throws(() => decode(`${fp32('[1,2,3]')}\u00a0`), { message: /^malformed request JSON: unexpected byte 0xc2 at byte \d+$/ });
});

test('a leading byte order mark is accepted, as TextDecoder dropped it', () => {
  assert.deepStrictEqual(decode(`\ufeff${fp32('[1,2,3]')}`).inputs[0].data, Float32Array.of(1, 2, 3));
});

test('nesting past the byte parser\'s limit, in a field the server ignores, is accepted as before', () => {
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const r = decode(`{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2],"extra":${deep}}],"note":${deep}}`);
  assert.deepStrictEqual(r.inputs[0].data, Float32Array.of(1, 2));
  assert.throws(() => decode(`{"note":${deep.slice(0, -1)}}`), { message: /^malformed request JSON: / });
  const deepData = `${'['.repeat(300)}1${']'.repeat(300)}`;
  assert.throws(() => decode(`{"inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":[${deepData},true]}],"n":${deep}}`), {
    message: "input 'x': data is nested too deeply",
  });
});

test('element errors are the same whether the data is all numbers or not', () => {
  const input = (dt: string, data: string) => `{"inputs":[{"name":"x","datatype":"${dt}","shape":[2],"data":${data}}]}`;
  assert.throws(() => decode(input('BOOL', '[1,0]')), { message: "input 'x': element 0 (1) is not a valid BOOL value" });
  assert.throws(() => decode(input('BYTES', '[1,2]')), { message: "input 'x': element 0 (1) is not a valid BYTES value" });
  assert.throws(() => decode(input('UINT8', '[1,256]')), { message: "input 'x': element 1 (256) is not a valid UINT8 value" });
  assert.throws(() => decode(input('FP32', '[1,"2"]')), { message: "input 'x': element 1 (\"2\") is not a valid FP32 value" });
  assert.throws(() => decode(input('FP32', '[1,2,3]')), { message: "input 'x': 3 elements given, shape needs 2" });
  assert.deepStrictEqual(decode(input('BOOL', '[true,false]')).inputs[0].data, Uint8Array.of(1, 0));
  assert.deepStrictEqual(decode(input('BYTES', '["a","é"]')).inputs[0].data, [utf8.encode('a'), utf8.encode('é')]);
  assert.deepStrictEqual(decode(input('INT64', '[-9007199254740991,3]')).inputs[0].data, BigInt64Array.of(-9007199254740991n, 3n));
});

test('data under other keys stays as written: parameters still refuse it', () => {
  assert.throws(() => decode(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"parameters":{"data":[1]}}`), {
    message: "request: parameter 'data' must be a string, number or boolean",
  });
});

test('with the binary extension only the header is parsed as JSON', () => {
  const header = '{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}';
  const body = concat(header, [...new Uint8Array(Float32Array.of(1.5, -2).buffer)]);
  assert.deepStrictEqual(decode(body, header.length).inputs[0].data, Float32Array.of(1.5, -2));
  assert.throws(() => decode(body, 10), { message: /^malformed request JSON: unexpected end of input at byte 10$/ });
  // Raw tensor bytes after the header may be anything, UTF-8 or not.
  const odd = concat(header, [0xff, 0xfe, 0x80, 0x00, 0xc3, 0x28, 0x00, 0x00]);
  assert.equal(decode(odd, header.length).inputs[0].data.length, 2);
});
