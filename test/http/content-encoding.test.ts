import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestCoding, responseCoding } from '../../src/frontends/http/content-encoding.js';

test('requestCoding: identity, gzip and deflate in any case; anything else (lists included) is unsupported', () => {
  const cases: Array<[string | string[] | undefined, string | undefined]> = [
    [undefined, 'identity'], ['', 'identity'], ['identity', 'identity'], [' Identity ', 'identity'],
    ['gzip', 'gzip'], ['GZIP', 'gzip'], ['x-gzip', 'gzip'], ['deflate', 'deflate'], [' Deflate', 'deflate'],
    ['br', undefined], ['zstd', undefined], ['gzip, deflate', undefined], ['gzip;q=1', undefined], [['gzip', 'gzip'], undefined],
  ];
  for (const [header, want] of cases) assert.equal(requestCoding(header), want, JSON.stringify(header));
});

test('responseCoding: the highest q among identity, gzip, deflate, first on ties, q=0 refuses — as Triton chooses', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'identity'], ['', 'identity'], ['gzip', 'gzip'], ['deflate', 'deflate'], ['gzip, deflate', 'gzip'],
    ['deflate, gzip', 'deflate'], ['gzip;q=0.5, deflate', 'deflate'], ['deflate;q=0.5, gzip;q=0.9', 'gzip'],
    ['gzip;q=0', 'identity'], ['gzip;q=0, deflate;q=0', 'identity'], ['identity, gzip', 'identity'],
    ['identity;q=0.1, gzip;q=0.2', 'gzip'], ['br', 'identity'], ['*', 'identity'], ['br;q=1, deflate;q=0.3', 'deflate'],
    ['GZIP ; Q=0.8', 'gzip'], ['gzip;q=abc, deflate;q=0.1', 'deflate'], ['gzip;q=2', 'identity'],
  ];
  for (const [accept, want] of cases) assert.equal(responseCoding(accept), want, String(accept));
});
