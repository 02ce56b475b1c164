import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePbtxt, ConfigError, type PbMessage, type PbValue } from '../../src/repository/index.js';

/** The parse tree without positions, for comparing. */
type Plain = { [k: string]: unknown }[] | unknown;
function plain(m: PbMessage): [string, Plain][] {
  return m.fields.map((f) => [f.name, plainValue(f.value)]);
}
function plainValue(v: PbValue): Plain {
  if (v.kind === 'message') return plain(v.message);
  return v.value;
}

function parseError(text: string): ConfigError {
  try {
    parsePbtxt(text, 'cfg.pbtxt');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} to fail`);
}

test('scalars, nested messages in {} and <>, comments and separators', () => {
  const m = parsePbtxt(
    [
      '# leading comment',
      'name: "m"  # trailing comment',
      'max_batch_size: 8;',
      'nested { inner < x: 1, y: -2.5e1 > flag: true }',
      'kind: KIND_CPU',
      'nested2: { z: 0x1F }',
    ].join('\n'),
    'f',
  );
  assert.deepEqual(plain(m), [
    ['name', 'm'],
    ['max_batch_size', 8],
    ['nested', [['inner', [['x', 1], ['y', -25]]], ['flag', 'true']]],
    ['kind', 'KIND_CPU'],
    ['nested2', [['z', 31]]],
  ]);
  assert.equal(m.fields[2].line, 4);
  assert.equal(m.fields[2].col, 1);
  assert.equal(m.fields[3].line, 5);
});

test('lists of scalars and of messages expand to repeated fields; repeated fields keep order', () => {
  const m = parsePbtxt('dims: [1, -1, 3]\ndims: 4\ninput [{ name: "a" }, < name: "b" >]\ninput { name: "c" }\ne: []', 'f');
  assert.deepEqual(plain(m).slice(0, 7), [
    ['dims', 1], ['dims', -1], ['dims', 3], ['dims', 4],
    ['input', [['name', 'a']]], ['input', [['name', 'b']]], ['input', [['name', 'c']]],
  ]);
  assert.equal(m.fields[7].name, 'e'); // an empty list is still recorded as written
  assert.equal(m.fields[7].value.kind, 'message');
});

test('strings: both quotes, escapes, adjacent concatenation, UTF-8', () => {
  const m = parsePbtxt(
    String.raw`a: "tab\there\n" b: 'it\'s "q"' c: "\x41\101\u00e9\U0001F600" d: "con" 'cat' e: "héllo" f: "\\\?\a"`,
    'f',
  );
  assert.deepEqual(plain(m), [
    ['a', 'tab\there\n'],
    ['b', `it's "q"`],
    ['c', 'AAé😀'],
    ['d', 'concat'],
    ['e', 'héllo'],
    ['f', '\\?\x07'],
  ]);
});

test('numbers: negative, float forms, inf/nan, hex', () => {
  const m = parsePbtxt('a: -3 b: 1.5f c: .5 d: -inf e: nan f: 1e3 g: 0x10 h: - 2', 'f');
  const v = plain(m) as [string, unknown][];
  assert.deepEqual(v.map(([, x]) => x), [-3, 1.5, 0.5, -Infinity, 'nan', 1000, 16, -2]);
  const first = m.fields[0].value;
  assert.equal(first.kind === 'number' && first.text, '-3');
});

test('map entries are messages with key and value', () => {
  const m = parsePbtxt('parameters { key: "k" value { string_value: "v" } }', 'f');
  assert.deepEqual(plain(m), [['parameters', [['key', 'k'], ['value', [['string_value', 'v']]]]]]);
});

test('syntax errors carry file:line:col', () => {
  const cases: [string, number, number, RegExp][] = [
    ['name: "m"\nx: "unterminated', 2, 4, /unterminated string/],
    ['a {\n  b: 1\n', 3, 1, /expected '}' to close the message opened at line 1/],
    ['a: 1\n  b 2', 2, 5, /expected ':' or '\{' after field name 'b'/],
    ['a: [1, 2', 1, 9, /expected ',' or '\]'/],
    ['a: @', 1, 4, /unexpected character '@'/],
    ['a: "\\q"', 1, 5, /unknown escape/],
    ['a: 12abc', 1, 4, /malformed number/],
    ['}', 1, 1, /expected a field name/],
    ['[ext.field]: 1', 1, 1, /extension/],
    ['a: -x', 1, 5, /expected a number after '-'/],
    ['a <\n b: 1 }', 2, 7, /expected a field name/],
    ['a [1, 2]', 1, 4, /expected ':' before a list of scalars/],
  ];
  for (const [text, line, col, re] of cases) {
    const e = parseError(text);
    assert.equal(e.file, 'cfg.pbtxt');
    assert.equal(e.line, line, `${JSON.stringify(text)}: ${e.message}`);
    assert.equal(e.col, col, `${JSON.stringify(text)}: ${e.message}`);
    assert.match(e.message, re);
    assert.ok(e.message.startsWith(`cfg.pbtxt:${line}:${col}: `), e.message);
  }
});

// Round trip: print a random tree in text format (with random choices of syntax), parse it back, compare.
type Tree = [string, TreeValue][];
type TreeValue = string | number | Tree;
const fieldName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
const scalar: fc.Arbitrary<TreeValue> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.integer({ min: -1e9, max: 1e9 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
);
const { tree } = fc.letrec<{ tree: Tree; value: TreeValue }>((tie) => ({
  tree: fc.array(fc.tuple(fieldName, tie('value')), { maxLength: 5 }),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, tie('tree')),
}));

function escapeString(s: string, quote: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp > 0xffff) out += '\\U' + cp.toString(16).padStart(8, '0');
    else out += ch;
  }
  return quote + out + quote;
}

function print(t: Tree, style: number): string {
  const sep = [' ', '\n', ', ', '; ', ' # c\n'][style % 5];
  return t
    .map(([k, v]) => {
      if (Array.isArray(v)) return style % 2 ? `${k} {${print(v, style + 1)}}` : `${k}: <${print(v, style + 1)}>`;
      if (typeof v === 'string') return `${k}: ${escapeString(v, style % 3 ? '"' : "'")}`;
      return `${k}: ${Object.is(v, -0) ? '0' : String(v)}`;
    })
    .join(sep);
}

function normalize(t: Tree): unknown {
  return t.map(([k, v]) => [k, Array.isArray(v) ? normalize(v) : Object.is(v, -0) ? 0 : v]);
}

test('round trip: printed random messages parse back to the same tree', () => {
  fc.assert(
    fc.property(tree, fc.nat(20), (t, style) => {
      assert.deepEqual(plain(parsePbtxt(print(t, style), 'f')), normalize(t));
    }),
    { numRuns: 300 },
  );
});

test('any input either parses or fails with a ConfigError (no crash, no other error)', () => {
  const alphabet = fc.constantFrom(...'{}<>[]:,;-."\'\\#\n ab_019xe+'.split(''));
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 60 })), (text) => {
      try {
        parsePbtxt(text, 'f');
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
      }
    }),
    { numRuns: 1000 },
  );
  const deep = 'a {'.repeat(5000) + '}'.repeat(5000);
  assert.match(parseError(deep).message, /nest deeper than 100 levels/);
});
