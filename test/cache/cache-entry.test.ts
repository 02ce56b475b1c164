import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATATYPES, type Tensor, allocate, dataTypeInfo } from '../../src/core/index.js';
import { CorruptEntryError, decodeEntry, encodeEntry } from '../../src/cache/cache-entry.js';
import { cacheKey } from '../../src/cache/cache-key.js';

function sample(dt: (typeof DATATYPES)[number], i: number): Tensor {
  const shape = [2, 3];
  if (dataTypeInfo(dt).byteSize === 0) {
    return { name: `o${i}`, datatype: dt, shape, data: Array.from({ length: 6 }, (_, k) => new TextEncoder().encode(k === 2 ? '' : `é${k}${'x'.repeat(k)}`)) };
  }
  const data = allocate(dt, 6);
  for (let k = 0; k < 6; k++) (data as unknown as { [k: number]: number | bigint })[k] = typeof data[0] === 'bigint' ? BigInt(k * 3 + i) : (k * 3 + i) % 2;
  return { name: `o${i}`, datatype: dt, shape, data };
}

const bytesOf = (t: Tensor): unknown => dataTypeInfo(t.datatype).byteSize > 0
  ? Buffer.from((t.data as ArrayBufferView).buffer, (t.data as ArrayBufferView).byteOffset, (t.data as ArrayBufferView).byteLength).toString('hex')
  : (t.data as Uint8Array[]).map((b) => Buffer.from(b).toString('hex'));

test('every datatype round-trips through an entry: names, datatypes, shapes and bytes', () => {
  const outputs = DATATYPES.map(sample);
  const back = decodeEntry(encodeEntry(outputs));
  assert.equal(back.length, outputs.length);
  back.forEach((t, i) => {
    assert.equal(t.name, outputs[i].name);
    assert.equal(t.datatype, outputs[i].datatype);
    assert.deepEqual(t.shape, outputs[i].shape);
    assert.deepEqual(bytesOf(t), bytesOf(outputs[i]), t.datatype);
  });
});

test('an entry read from a misaligned buffer (as from Redis or LMDB) decodes by copying', () => {
  const entry = encodeEntry([sample('FP64', 0), sample('INT32', 1)]);
  const shifted = new Uint8Array(entry.byteLength + 3).subarray(3);
  shifted.set(entry);
  const back = decodeEntry(shifted);
  assert.deepEqual(bytesOf(back[0]), bytesOf(sample('FP64', 0)));
  assert.deepEqual(bytesOf(back[1]), bytesOf(sample('INT32', 1)));
});

test('a changed byte, a truncated entry or foreign bytes are CorruptEntryError', () => {
  const entry = encodeEntry([sample('FP32', 0), sample('BYTES', 1)]);
  for (let at = 0; at < entry.byteLength; at += 7) {
    const bad = entry.slice();
    bad[at] ^= 0x40;
    assert.throws(() => decodeEntry(bad), CorruptEntryError, `byte ${at}`);
  }
  assert.throws(() => decodeEntry(entry.subarray(0, entry.byteLength - 1)), CorruptEntryError);
  assert.throws(() => decodeEntry(new Uint8Array(3)), CorruptEntryError);
  assert.throws(() => decodeEntry(new TextEncoder().encode('{"outputs":[]} is not an entry')), CorruptEntryError);
});

test('the key: input order does not matter; model, version, names, datatype, shape, bytes and outputs do', () => {
  const x: Tensor = { name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([1, 2]) };
  const y: Tensor = { name: 'y', datatype: 'INT64', shape: [1], data: new BigInt64Array([7n]) };
  const base = cacheKey('m', '1', { inputs: [x, y] });
  assert.equal(cacheKey('m', '1', { inputs: [y, x] }), base);
  assert.match(base, /^[A-Za-z0-9_-]{43}$/);
  const differ = [
    cacheKey('n', '1', { inputs: [x, y] }),
    cacheKey('m', '2', { inputs: [x, y] }),
    cacheKey('m', '1', { inputs: [{ ...x, name: 'z' }, y] }),
    cacheKey('m', '1', { inputs: [{ ...x, datatype: 'INT32', data: new Int32Array(new Float32Array([1, 2]).buffer) }, y] }),
    cacheKey('m', '1', { inputs: [{ ...x, shape: [2, 1] }, y] }),
    cacheKey('m', '1', { inputs: [{ ...x, data: new Float32Array([1, 3]) }, y] }),
    cacheKey('m', '1', { inputs: [x] }),
    cacheKey('m', '1', { inputs: [x, y], outputs: [{ name: 'a' }] }),
    cacheKey('m', '1', { inputs: [x, y], outputs: [{ name: 'a', parameters: { classification: 2 } }] }),
  ];
  assert.equal(new Set([base, ...differ]).size, differ.length + 1);
  // Asking for all outputs explicitly in another order, or for the binary encoding, is the same answer.
  assert.equal(cacheKey('m', '1', { inputs: [x], outputs: [{ name: 'a' }, { name: 'b' }] }),
    cacheKey('m', '1', { inputs: [x], outputs: [{ name: 'b', parameters: { binary_data: true } }, { name: 'a' }] }));
  // BYTES elements are length-prefixed: ["ab", ""] and ["a", "b"] differ.
  const s = (els: string[]): Tensor => ({ name: 's', datatype: 'BYTES', shape: [els.length], data: els.map((e) => new TextEncoder().encode(e)) });
  assert.notEqual(cacheKey('m', '1', { inputs: [s(['ab', ''])] }), cacheKey('m', '1', { inputs: [s(['a', 'b'])] }));
});
