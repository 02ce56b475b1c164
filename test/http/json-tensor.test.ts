import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DATATYPES, type DataType, type TensorData } from '../../src/core/index.js';
import { NumericLeaves, parseJsonBytes } from '../../src/frontends/http/json-body-parser.js';
import { decodeJsonData } from '../../src/frontends/http/json-tensor.js';

const utf8 = new TextEncoder();

type Outcome = { tensor: TensorData } | { error: string };

function outcome(dt: DataType, data: unknown, expected: number): Outcome {
  try {
    return { tensor: decodeJsonData('x', dt, data, expected) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** `data` decoded from the byte parser's NumericLeaves and from JSON.parse's arrays: the same tensor or the same error. */
function assertSameDecode(dt: DataType, dataText: string, expected: number): void {
  const leaves = (parseJsonBytes(utf8.encode(`{"data":${dataText}}`)) as { data: unknown }).data;
  assert.ok(leaves instanceof NumericLeaves, dataText);
  const fromLeaves = outcome(dt, leaves, expected);
  const fromArrays = outcome(dt, JSON.parse(dataText), expected);
  const where = `${dt} ${dataText.slice(0, 60)}`;
  if ('error' in fromArrays) {
    assert.deepStrictEqual(fromLeaves, fromArrays, where);
    return;
  }
  assert.ok('tensor' in fromLeaves, `${where}: ${'error' in fromLeaves ? fromLeaves.error : ''}`);
  const [a, b] = [fromLeaves.tensor, fromArrays.tensor];
  assert.equal(a.constructor, b.constructor, where);
  assert.equal(a.length, b.length, where);
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (x instanceof Uint8Array) assert.deepStrictEqual(x, y, where);
    else assert.ok(Object.is(x, y), `${where}: element ${i}: ${String(x)} ≠ ${String(y)}`);
  }
  if (!Array.isArray(a)) assert.equal((a as Float64Array).buffer.byteLength, (a as Float64Array).byteLength, `${where}: own buffer`);
}

const CASES: [string, number][] = [
  ['[1,2,3]', 3],
  ['[[1,2],[3]]', 3],
  ['[[],[1,[2,[3]]]]', 3],
  ['[0,-0,1.5,-1.5,0.1,-7]', 6],
  ['[255,256,-1,127,-128,-129]', 6],
  ['[65535,65536,32767,-32768,-32769,1e-8]', 6],
  ['[65504,65520,5.960464477539063e-8,2.9802322387695312e-8,1e-320,-0]', 6],
  ['[4294967295,4294967296,2147483647,2147483648,-2147483648,-2147483649]', 6],
  ['[9007199254740991,9007199254740993,-9007199254740993,1e19,18446744073709551615,18446744073709551616]', 6],
  ['[9223372036854775807,-9223372036854775808,-9223372036854777856,9223372036854775808,1,2]', 6],
  ['[3.4028234663852886e38,3.4028235677973366e38,1e39,1.401298464324817e-45,7e-46,1e-320]', 6],
  ['[1e400,-1e400,1,2,3,4]', 6],
  ['[2.5,1,2,3,4,5]', 6],
  ['[1,2,3,4,5,2.5]', 6],
  ['[]', 0],
  ['[[],[]]', 0],
  ['[1,2]', 3],
  ['[]', 1],
];

test('numeric data decodes from NumericLeaves exactly as from JS arrays, for every datatype', () => {
  for (const dt of DATATYPES) for (const [text, expected] of CASES) assertSameDecode(dt, text, expected);
});

test('nesting of data: 64 levels below the top are accepted, 65 refused, as before', () => {
  const nested = (levels: number) => '['.repeat(levels + 1) + '1' + ']'.repeat(levels + 1);
  for (const dt of ['FP32', 'BOOL'] as const) {
    assertSameDecode(dt, nested(64), 1);
    assertSameDecode(dt, nested(65), 1);
    assertSameDecode(dt, `[${nested(64)},[${'['.repeat(64)}${']'.repeat(64)}]]`, 1); // an empty array at depth 65
  }
  const deep = (parseJsonBytes(utf8.encode(`{"data":${nested(65)}}`)) as { data: unknown }).data;
  assert.deepStrictEqual(outcome('FP32', deep, 1), {
    error: "input 'x': data is nested too deeply",
  });
});

test('the errors name the element and datatype as before', () => {
  const leaves = (text: string) => (parseJsonBytes(utf8.encode(`{"data":${text}}`)) as { data: unknown }).data;
  const cases: [DataType, string, number, string][] = [
    ['BOOL', '[1,0]', 2, "input 'x': element 0 (1) is not a valid BOOL value"],
    ['BYTES', '[[7]]', 1, "input 'x': element 0 (7) is not a valid BYTES value"],
    ['INT8', '[1,2,3,128]', 4, "input 'x': element 3 (128) is not a valid INT8 value"],
    ['UINT64', '[-1]', 1, "input 'x': element 0 (-1) is not a valid UINT64 value"],
    ['INT32', '[1e400]', 1, "input 'x': element 0 (null) is not a valid INT32 value"],
    ['FP32', '[1,2]', 3, "input 'x': 2 elements given, shape needs 3"],
    ['FP32', '[1,2,true]', 3, "input 'x': element 2 (true) is not a valid FP32 value"],
  ];
  for (const [dt, text, expected, message] of cases) assert.deepStrictEqual(outcome(dt, leaves(text), expected), { error: message });
});

test('any numbers, flat or nested, decode the same both ways for every datatype', () => {
  const number = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
    fc.integer({ min: -300, max: 300 }),
    fc.constantFrom(-0, 2 ** 53, -(2 ** 63), 2 ** 64, 65504, 65520),
  );
  const data = fc.letrec((tie) => ({
    array: fc.array(fc.oneof({ weight: 5, arbitrary: number }, { weight: 1, arbitrary: tie('array') }), { maxLength: 6 }),
  })).array;
  fc.assert(fc.property(fc.constantFrom(...DATATYPES), data, fc.integer({ min: -1, max: 1 }), (dt, arr, off) => {
    const text = JSON.stringify(arr);
    const count = (text.match(/[-0-9.e+]+/g) ?? []).length;
    assertSameDecode(dt, text, Math.max(0, count + off));
  }), { numRuns: 2000 });
});
