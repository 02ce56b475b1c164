import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  JsonParseError, MAX_JSON_DEPTH, NumericLeaves, parseJsonBytes, peekLeadingParameters,
} from '../../src/frontends/http/json-body-parser.js';
import { decodeJsonData } from '../../src/frontends/http/json-tensor.js';

const utf8 = new TextEncoder();
const parse = (text: string): unknown => parseJsonBytes(utf8.encode(text));

/** NumericLeaves as a plain record, for deep comparisons. */
function plain(v: unknown): unknown {
  if (v instanceof NumericLeaves) return { leaves: Array.from(v.exact()), depth: v.depth };
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Reference model: JSON.parse, with every `data` value made of arrays of numbers only flattened as the parser does. */
function reference(v: unknown, key?: string): unknown {
  if (key === 'data' && Array.isArray(v)) {
    const leaves: number[] = [];
    let depth = 0;
    const walk = (a: unknown[], d: number): boolean => {
      depth = Math.max(depth, d);
      return a.every((x) => (Array.isArray(x) ? walk(x, d + 1) : typeof x === 'number' && leaves.push(x) > 0));
    };
    if (walk(v, 0)) return { leaves, depth };
  }
  if (Array.isArray(v)) return v.map((x) => reference(x));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reference(x, k)]));
  return v;
}

function assertSameAsJsonParse(text: string): void {
  assert.deepStrictEqual(plain(parse(text)), reference(JSON.parse(text)), text);
}

function parseError(bytes: Uint8Array | string): JsonParseError {
  try {
    parseJsonBytes(typeof bytes === 'string' ? utf8.encode(bytes) : bytes);
  } catch (err) {
    assert.ok(err instanceof JsonParseError, String(err));
    return err;
  }
  assert.fail(`no error for ${String(bytes)}`);
}

test('values, escapes and whitespace as JSON.parse gives them', () => {
  const cases = [
    'true', 'false', 'null', '0', '"x"', '[]', '{}', ' \t\r\n[ 1 , { "a" : [ ] } ]\n',
    '{"a":{"b":{"c":[1,[2,[3,"x",null,true,false]]]}},"d":-1.5}',
    String.raw`"\" \\ \/ \b \f \n \r \t"`,
    String.raw`"\u0041\u00e9\u00E9\u20ac\uFFFF\u0000"`,
    String.raw`"\uD83D\uDE00 and \ud83d\ude00"`, // a surrogate pair, escaped in either case
    String.raw`"lone \uDE00 and \uD83D."`, // lone surrogates pass through, as JSON.parse keeps them
    '"é € 😀 ÿ \u007f"', // raw UTF-8 of 2, 3 and 4 bytes, and DEL, which needs no escape
    '"\ufeff inside a string is kept"',
    String.raw`"mixed é\n😀\u0041 and ascii"`,
    `"${'a'.repeat(100)}"`, `"${'é'.repeat(100)}"`, // beyond the short-string paths
    '{"a":1,"a":2}', // duplicate keys: the last wins
    '{"2":"b","1":"a","x":0}', // integer-like keys ordered as JSON.parse orders them
  ];
  for (const text of cases) assertSameAsJsonParse(text);
});

test('numbers are the doubles JSON.parse gives, -0 included', () => {
  const numbers = [
    '0', '-0', '0.0', '-0.0', '-0e5', '1', '-1', '0.1', '0.2', '0.3', '0.123456', '-0.5', '1E+2', '1e2', '1e-2', '-1.5e-7',
    '1e22', '1e23', '1e-22', '1e-23', '123.456e-2', '0.1e1', '1e308', '1.7976931348623157e308', '1.7976931348623159e308',
    '1e309', '-1e400', '2.2250738585072014e-308', '2.2250738585072011e-308', '4.9406564584124654e-324', '5e-324',
    '2e-324', '3e-324', '1e-320', '1e-400', '9007199254740991', '9007199254740992', '9007199254740993',
    '123456789012345678901234567890', '0.1000000000000000055511151231257827021181583404541015625',
    '1.00000000000000011102230246251565404236316680908203125', // exactly halfway between two doubles
    '1.00000000000000011102230246251565404236316680908203126', '8.98846567431158e307',
    '0.000001', '0.0000000000000000000001', '0.00000000000000000000001', '1.23456789012345678e-7', '12345678901234567e5',
    '1e0000000000000000000001', '1e-99999999999999', '1e99999999999999', '4e-0',
  ];
  for (const text of numbers) {
    const want = JSON.parse(text) as number;
    assert.ok(Object.is(parse(text), want), `${text}: ${String(parse(text))} ≠ ${want}`);
    const leaves = parse(`{"data":[${text}]}`) as { data: NumericLeaves };
    assert.ok(Object.is(leaves.data.exact()[0], want), `data [${text}]: ${leaves.data.exact()[0]} ≠ ${want}`);
  }
});

test('a `data` value of arrays of numbers comes back as NumericLeaves; anything else as JS values', () => {
  const cases: [string, unknown][] = [
    ['{"data":[1,2,3]}', { leaves: [1, 2, 3], depth: 0 }],
    ['{"data":[[1,2],[3,4]]}', { leaves: [1, 2, 3, 4], depth: 1 }],
    ['{"data":[[[1]],[],[2,[3]]]}', { leaves: [1, 2, 3], depth: 2 }],
    ['{"data":[]}', { leaves: [], depth: 0 }],
    ['{"data":[[],[[]]]}', { leaves: [], depth: 2 }],
    ['{"data" : [ 1 , [ -0 ] ] }', { leaves: [1, -0], depth: 1 }],
    ['{"data":[1,"2"]}', [1, '2']],
    ['{"data":[[1,2],[3,true]]}', [[1, 2], [3, true]]],
    ['{"data":[1,null]}', [1, null]],
    ['{"data":[{"data":[1]}]}', [{ data: { leaves: [1], depth: 0 } }]],
    ['{"data":5}', 5],
    ['{"data":"x"}', 'x'],
  ];
  for (const [text, want] of cases) assert.deepStrictEqual((plain(parse(text)) as { data: unknown }).data, want, text);
  assert.deepStrictEqual(plain(parse('{"inputs":[{"data":[1]},{"data":[2,"x"]}],"data":[3]}')), {
    inputs: [{ data: { leaves: [1], depth: 0 } }, { data: [2, 'x'] }], data: { leaves: [3], depth: 0 },
  });
});

test('NumericLeaves of one document never overlap, even when the scratch grows between them; tensors made from them are their own', () => {
  const big = Array.from({ length: 70_000 }, (_, i) => i / 7); // grows the scratch, and past the size kept between parses
  const doc = parse(`{"a":{"data":[1.5,2.5]},"b":{"data":${JSON.stringify(big)}},"c":{"data":[[3],[4]]}}`) as Record<string, { data: NumericLeaves }>;
  assert.deepStrictEqual(Array.from(doc.a.data.exact()), [1.5, 2.5]);
  assert.deepStrictEqual(Array.from(doc.b.data.exact()), big);
  assert.deepStrictEqual(Array.from(doc.c.data.exact()), [3, 4]);
  const tensor = decodeJsonData('b', 'FP64', doc.b.data, big.length) as Float64Array;
  const small = decodeJsonData('a', 'FP32', doc.a.data, 2) as Float32Array;
  parse(`{"data":${JSON.stringify(big.map((v) => -v))}}`); // the next document reuses the scratch
  assert.deepStrictEqual(Array.from(tensor), big);
  assert.deepStrictEqual(Array.from(small), [1.5, 2.5]);
});

test('"__proto__" becomes an own property, as with JSON.parse, and the prototype stays Object.prototype', () => {
  const v = parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.ok(Object.hasOwn(v, '__proto__'));
  assert.equal(v.polluted, undefined);
  assert.deepStrictEqual(Object.keys(v), ['__proto__', 'a']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assertSameAsJsonParse('{"__proto__":{"polluted":true},"a":1}');
  assertSameAsJsonParse('{"__proto__":1,"__proto__":[2]}');
  assertSameAsJsonParse('[{"__proto__":null}]');
});

test('every syntax error is refused with what and where, and JSON.parse refuses it too', () => {
  const cases: [string, RegExp][] = [
    ['', /^unexpected end of input at byte 0$/],
    [' \n ', /^unexpected end of input at byte 3$/],
    ['{"a":1} x', /^unexpected 'x' at byte 8$/],
    ['[1] [2]', /^unexpected '\[' at byte 4$/],
    ['[1,]', /^unexpected '\]' at byte 3$/],
    ['{"a":1,}', /^unexpected '}' at byte 7$/],
    ['{"data":[1,2,]}', /^unexpected '\]' at byte 13$/],
    ['{"data":[1,,2]}', /^unexpected ',' at byte 11$/],
    ['{"data":[1 2]}', /^unexpected '2' at byte 11$/],
    ['{"data":[[1,2]}', /^unexpected '}' at byte 14$/],
    ['{"data":[1', /^unexpected end of input at byte 10$/],
    ['[,1]', /^unexpected ',' at byte 1$/],
    ['01', /^unexpected '1' at byte 1$/],
    ['-01', /^unexpected '1' at byte 2$/],
    ['{"data":[00]}', /^unexpected '0' at byte 10$/],
    ['+1', /^unexpected '\+' at byte 0$/],
    ['.5', /^unexpected '\.' at byte 0$/],
    ['1.', /^unexpected end of input at byte 2$/],
    ['[1.e5]', /^unexpected 'e' at byte 3$/],
    ['1e', /^unexpected end of input at byte 2$/],
    ['{"data":[1e+]}', /^unexpected '\]' at byte 12$/],
    ['-', /^unexpected end of input at byte 1$/],
    ['[-]', /^unexpected '\]' at byte 2$/],
    ['0x10', /^unexpected 'x' at byte 1$/],
    ['NaN', /^unexpected 'N' at byte 0$/],
    ['[NaN]', /^unexpected 'N' at byte 1$/],
    ['Infinity', /^unexpected 'I' at byte 0$/],
    ['-Infinity', /^unexpected 'I' at byte 1$/],
    ['tru', /^unexpected end of input at byte 3$/],
    ['nul', /^unexpected end of input at byte 3$/],
    ['True', /^unexpected 'T' at byte 0$/],
    ['fals3', /^unexpected '3' at byte 4$/],
    ["{'a':1}", /^unexpected ''' at byte 1$/],
    ['{a:1}', /^unexpected 'a' at byte 1$/],
    ['{"a" 1}', /^unexpected '1' at byte 5$/],
    ['{"a":1 "b":2}', /^unexpected '"' at byte 7$/],
    ['{"a":}', /^unexpected '}' at byte 5$/],
    ['{"a"', /^unexpected end of input at byte 4$/],
    ['[1', /^unexpected end of input at byte 2$/],
    ['"abc', /^unexpected end of input at byte 4$/],
    ['"é', /^unexpected end of input at byte 3$/],
    [String.raw`"\x"`, /^bad escape at byte 1$/],
    [String.raw`"\'"`, /^bad escape at byte 1$/],
    [String.raw`"\u12G4"`, /^bad \\u escape at byte 1$/],
    [String.raw`"\u12"`, /^bad \\u escape at byte 1$/],
    ['"\\u12', /^unexpected end of input at byte 5$/],
    ['"\\', /^unexpected end of input at byte 2$/],
    ['"a\tb"', /^unescaped control character 0x09 in a string at byte 2$/],
    ['"é\nb"', /^unescaped control character 0x0a in a string at byte 3$/],
    ['"\u0000"', /^unescaped control character 0x00 in a string at byte 1$/],
    ['[1]\u00a0', /^unexpected byte 0xc2 at byte 3$/], // a non-breaking space is not JSON whitespace
    ['[1,\u000b2]', /^unexpected byte 0x0b at byte 3$/],
    ['// comment\n1', /^unexpected '\/' at byte 0$/],
    ['[1]\ufeff', /^unexpected byte 0xef at byte 3$/], // a byte order mark only at the start
  ];
  for (const [text, message] of cases) {
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse accepts ${text}`);
    const err = parseError(text);
    assert.equal(err.code, 'SYNTAX', text);
    assert.match(err.message, message, text);
  }
});

test('bytes that are not UTF-8 inside a string are refused as such; outside a string as syntax', () => {
  const strings = [[0xff], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];
  for (const bad of strings) {
    for (const bytes of [[0x22, ...bad, 0x22], [0x22, 0x61, 0x5c, 0x6e, ...bad, 0x62, 0x22], [0x7b, 0x22, ...bad, 0x22, 0x3a, 0x31, 0x7d]]) {
      const err = parseError(Uint8Array.from(bytes));
      assert.equal(err.code, 'UTF8', String(bytes));
      assert.match(err.message, /^invalid UTF-8 in a string at byte \d+$/);
    }
  }
  const outside = parseError(Uint8Array.from([0x7b, 0xff, 0x7d]));
  assert.equal(outside.code, 'SYNTAX');
  assert.equal(outside.message, 'unexpected byte 0xff at byte 1');
});

test('a leading byte order mark is skipped, as TextDecoder drops it', () => {
  assert.deepStrictEqual(parse('\ufeff{"a":[1]}'), { a: [1] });
  assert.equal(parseError(Uint8Array.from([0xef, 0xbb, 0xbf])).message, 'unexpected end of input at byte 3');
  assert.equal(parseError('\ufeff\ufeff1').message, 'unexpected byte 0xef at byte 3');
});

test(`nesting deeper than ${MAX_JSON_DEPTH} levels is refused with a DEPTH error, not a stack overflow`, () => {
  const nested = (open: string, close: string, n: number): string => open.repeat(n) + close.repeat(n);
  assertSameAsJsonParse(nested('[', ']', MAX_JSON_DEPTH));
  assertSameAsJsonParse(nested('{"a":', '}', MAX_JSON_DEPTH - 1).replace('{"a":}', '{"a":[]}'));
  for (const text of [nested('[', ']', MAX_JSON_DEPTH + 1), nested('{"a":', '}', MAX_JSON_DEPTH + 1), nested('[', ']', 200_000)]) {
    const err = parseError(text);
    assert.equal(err.code, 'DEPTH');
    assert.match(err.message, new RegExp(`^nesting deeper than ${MAX_JSON_DEPTH} levels at byte \\d+$`));
  }
  // Numeric `data` is read without recursion, so its depth is for decodeJsonData to judge.
  const deep = parse(`{"data":${nested('[', ']', 100_000).replace('[]', '[7]')}}`) as { data: NumericLeaves };
  assert.deepStrictEqual(plain(deep.data), { leaves: [7], depth: 99_999 });
});

// ---- properties ------------------------------------------------------------------------------------------------

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const nestedNumbers = fc.letrec((tie) => ({
  array: fc.array(fc.oneof({ weight: 4, arbitrary: finite }, { weight: 1, arbitrary: tie('array') }), { maxLength: 8 }),
})).array;

test('any JSON value parses as JSON.parse parses it (with `data` keys too)', () => {
  fc.assert(fc.property(fc.jsonValue({ stringUnit: 'binary' }), fc.boolean(), (v, pretty) => {
    for (const doc of [v, { data: v }, { inputs: [{ name: 'x', data: v }] }]) {
      assertSameAsJsonParse(pretty ? JSON.stringify(doc, null, 2) : JSON.stringify(doc));
    }
  }), { numRuns: 500 });
});

test('arrays of any doubles, flat or nested, come back as the same leaves', () => {
  fc.assert(fc.property(nestedNumbers, (arr) => assertSameAsJsonParse(JSON.stringify({ data: arr }))), { numRuns: 500 });
});

test('number texts of any length and exponent give the double JSON.parse gives', () => {
  const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
  const numberText = fc.tuple(
    fc.constantFrom('', '-'),
    fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 24)).map(([a, b]) => `${a}${b}`)),
    fc.option(digits(1, 30).map((f) => `.${f}`), { nil: '' }),
    fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3)).map((p) => p.join('')), { nil: '' }),
  ).map((parts) => parts.join(''));
  fc.assert(fc.property(fc.array(numberText, { minLength: 1, maxLength: 6 }), (texts) => {
    const want = texts.map((t) => JSON.parse(t) as number);
    const got = parse(`{"data":[${texts.join(',')}]}`) as { data: NumericLeaves };
    const exact = got.data.exact();
    texts.forEach((t, i) => assert.ok(Object.is(exact[i], want[i]), `${t}: ${exact[i]} ≠ ${want[i]}`));
    texts.forEach((t, i) => assert.ok(Object.is(parse(t), want[i]), t));
  }), { numRuns: 2000 });
});

test('strings with any mix of escapes and raw UTF-8 decode to the same string', () => {
  const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '/': '\\/' };
  const unitEscape = (c: string, upper: boolean) => Array.from({ length: c.length }, (_, k) => {
    const hex = c.charCodeAt(k).toString(16).padStart(4, '0');
    return `\\u${upper ? hex.toUpperCase() : hex}`;
  }).join('');
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.infiniteStream(fc.nat(3)), (s, choices) => {
    let literal = '"';
    for (const c of s) { // code points; lone surrogates come alone
      const cp = c.codePointAt(0)!;
      const lone = cp >= 0xd800 && cp <= 0xdfff;
      const pick = choices.next().value as number;
      if (lone || cp < 0x20 || c === '"' || c === '\\' || pick === 0) literal += short[c] !== undefined && pick !== 1 ? short[c] : unitEscape(c, pick === 2);
      else literal += c;
    }
    literal += '"';
    assert.equal(parse(literal), s, literal);
    assert.equal(JSON.parse(literal), s);
  }), { numRuns: 1000 });
});

test('on arbitrary near-JSON text the parser accepts and refuses exactly what JSON.parse does', () => {
  const token = fc.constantFrom('[', ']', '{', '}', ',', ':', '"', '"a"', '"data"', '1', '-', '0', '.5', 'e3', '2.5', 'true', 'nul', ' ', '\\n', 'é');
  fc.assert(fc.property(fc.array(token, { maxLength: 14 }), (tokens) => {
    const text = tokens.join('');
    let want: unknown;
    try {
      want = reference(JSON.parse(text));
    } catch {
      assert.equal(parseError(text).code, 'SYNTAX', text);
      // The numeric scan of `data` gives up on what it does not know; the error is the ordinary parse's.
      const asData = `{"data":${text}}`;
      if (text.startsWith('[')) assert.equal(parseError(asData).message, parseError(`{"datb":${text}}`).message, asData);
      return;
    }
    assert.deepStrictEqual(plain(parse(text)), want, text);
  }), { numRuns: 5000 });
});

test('data arrays of long numbers (float32 printed as double) read exactly, flat or nested; anything else in them falls back', () => {
  const f32 = Array.from({ length: 300 }, (_, i) => Math.fround(Math.sin(i + 1) * 0.9));
  const flat = parse(`{"data":${JSON.stringify(f32)}}`) as { data: NumericLeaves };
  assert.ok(flat.data instanceof NumericLeaves);
  assert.deepStrictEqual(Array.from(flat.data.exact()), f32);
  assert.equal(flat.data.depth, 0);
  const rows = [f32.slice(0, 150), f32.slice(150)];
  const nested = parse(`{"data":${JSON.stringify(rows)},"after":[1,2]}`) as { data: NumericLeaves; after: number[] };
  assert.deepStrictEqual(Array.from(nested.data.exact()), f32);
  assert.equal(nested.data.depth, 1);
  assert.deepStrictEqual(nested.after, [1, 2]);
  // A string or object among long numbers: the ordinary array, as JSON.parse gives it.
  const text = `{"data":[0.12345678901234567,"x",{"a":[0.98765432109876543]}]}`;
  assert.deepStrictEqual(parse(text), JSON.parse(text));
  // Malformed: the ordinary parse's error, at the right byte.
  assert.throws(() => parse('{"data":[0.12345678901234567,01]}'), (e: unknown) => e instanceof JsonParseError && e.offset === 30);
});

test('long numbers are approximated within 2^-51 while scanning; FP32 tensors from them equal Math.fround of JSON.parse, midpoints included', () => {
  const check = (values: number[] | string) => {
    const text = `{"data":${typeof values === 'string' ? values : JSON.stringify(values)}}`;
    const leaves = (parse(text) as { data: NumericLeaves }).data;
    const want = (JSON.parse(text) as { data: number[] }).data;
    leaves.values.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= Math.abs(want[i]) * 2 ** -51, `${v} vs ${want[i]}`));
    const f32 = decodeJsonData('x', 'FP32', leaves, want.length) as Float32Array;
    f32.forEach((v, i) => assert.ok(Object.is(v, Math.fround(want[i])), `FP32 of ${want[i]}: ${v}`));
    const f64 = decodeJsonData('x', 'FP64', (parse(text) as { data: NumericLeaves }).data, want.length) as Float64Array;
    f64.forEach((v, i) => assert.ok(Object.is(v, want[i]), `FP64 of ${want[i]}: ${v}`));
  };
  check(Array.from({ length: 512 }, (_, i) => Math.fround(Math.cos(i) * 3.7)));
  // 1 + 2^-24 (a float32 rounding midpoint) to 17 digits, beside ordinary values: the exact doubles decide.
  check([0.7176500558853149, 1.0000000596046448, -2.5000001192092896, 123.45678901234567]);
  // Near float32 midpoints, where the approximation and the exact double round to different float32s (found by search).
  check('[66.08211135864257814, 16.186434745788573, 43.039640426635741]');
  fc.assert(fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 40 }), (xs) => {
    check(xs);
  }), { numRuns: 300 });
});

test('peekLeadingParameters: the parameters object when it comes before any tensor, else undefined', () => {
  const peek = (s: string) => peekLeadingParameters(new TextEncoder().encode(s));
  assert.deepEqual(peek('{"parameters":{"priority":2,"timeout":40000},"inputs":[{"data":[1,'), { priority: 2, timeout: 40000 });
  assert.deepEqual(peek(' { "id" : "r1" , "parameters" : { "priority" : 1 } }'), { priority: 1 });
  assert.equal(peek('{"inputs":[],"parameters":{"priority":2}}'), undefined, 'after the tensors: not peeked');
  assert.equal(peek('{"id":7,"parameters":{"priority":2}}'), undefined, 'a non-string id: left to the full parse');
  assert.equal(peek('{"parameters":[1]}'), undefined);
  assert.equal(peek('{"parameters":{"priority":'), undefined, 'malformed: the full parse says why');
  assert.equal(peek('[]'), undefined);
  assert.equal(peek(''), undefined);
});
