/**
 * HPACK (src/frontends/grpc/http2/hpack.ts, huffman.ts) against RFC 7541's own examples: Appendix C.3 (requests
 * without Huffman coding) and C.4 (the same with it), decoded in sequence on one decoder so the dynamic table
 * carries over; the Huffman code against Appendix B's listing; and malformed blocks refused as HpackError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HpackDecoder, HpackError, encodeHeaders } from '../../src/frontends/grpc/http2/hpack.js';
import { huffmanCode, huffmanDecode, huffmanEncode } from '../../src/frontends/grpc/http2/huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fields = (l: { names: string[]; values: string[] }) => l.names.map((n, i) => [n, l.values[i]]);

/** RFC 7541 C.3 / C.4: three requests, with the decoded list and the dynamic table after each. */
const REQUESTS = [
  { plain: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', huffman: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    list: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    table: [[':authority', 'www.example.com']], size: 57 },
  { plain: '8286 84be 5808 6e6f 2d63 6163 6865', huffman: '8286 84be 5886 a8eb 1064 9cbf',
    list: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    table: [['cache-control', 'no-cache'], [':authority', 'www.example.com']], size: 110 },
  { plain: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    huffman: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    list: [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
    table: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']], size: 164 },
];

for (const coding of ['plain', 'huffman'] as const) {
  test(`RFC 7541 ${coding === 'plain' ? 'C.3' : 'C.4'}: three requests on one decoder, lists and dynamic table as the RFC gives them`, () => {
    const d = new HpackDecoder();
    for (const r of REQUESTS) {
      assert.deepEqual(fields(d.decode(hex(r[coding]))), r.list);
      assert.deepEqual(d.table.map((e) => [...e]), r.table);
      assert.equal(d.tableSize, r.size);
    }
  });
}

test('Huffman: codes as RFC 7541 Appendix B lists them; encode and decode round-trip any bytes', () => {
  const listed: [number, number, number][] = [[0, 0x1ff8, 13], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [97, 0x3, 5],
    [122, 0x7b, 7], [127, 0xffffffc, 28], [200, 0x3ffffe2, 26], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30]];
  for (const [sym, code, bits] of listed) assert.deepEqual(huffmanCode(sym), { code, bits }, `symbol ${sym}`);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const s = Buffer.from(bytes).toString('latin1');
    const enc = huffmanEncode(s);
    assert.equal(huffmanDecode(enc, 0, enc.length), s);
  }));
});

test('the server\'s own header blocks decode to what was encoded (static names, new names, long values)', () => {
  const list: [string, string][] = [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '3'],
    ['grpc-message', 'x'.repeat(300)], ['retry-after', '1'], [':status', '415']];
  assert.deepEqual(fields(new HpackDecoder().decode(encodeHeaders(list))), list);
});

test('malformed header blocks are HpackError: index 0 or past the tables, a size update over the limit or after a field, bad Huffman, truncation', () => {
  const bad: [string, string][] = [
    ['80', 'index 0'],
    ['be', 'index 62 with an empty dynamic table'],
    ['3fe21f', 'table size update to 4097 (limit 4096)'],
    ['82 20', 'size update after a field'],
    ['40 83 ffffff 01 61', 'Huffman string that is all EOS-prefix padding (EOS inside)'],
    ['40 81 00 01 61', 'Huffman padding that is not ones'],
    ['40 05 61 62', 'string running past the block'],
    ['7f', 'block ending inside an integer'],
    ['7f ff ff ff ff ff 01', 'integer past 2^28'],
  ];
  for (const [block, why] of bad) assert.throws(() => new HpackDecoder().decode(hex(block)), HpackError, why);
});

test('a list larger than the limit is marked, and decoding still updates the table (it stays in step with the client)', () => {
  const d = new HpackDecoder();
  const big = Buffer.concat([Buffer.from([0x40, 0x01, 0x61, 0x7f, 200 - 127]), Buffer.alloc(200, 0x62)]); // a: b×200, indexed
  const l = d.decode(big, 100);
  assert.equal(l.oversized, true);
  assert.equal(l.names.length, 0);
  assert.deepEqual(fields(d.decode(hex('be'))), [['a', 'b'.repeat(200)]]);
});
