import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, InferenceError, type ErrorCode } from '../../src/core/index.js';

/** Rows of docs/errors.md's table: | `CODE` | http | grpc (NAME) | when | */
function documentedCodes(): Map<string, { http: number; grpc: number }> {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { http: number; grpc: number }>();
  for (const line of text.split('\n')) {
    const m = /^\| `([A-Z_]+)` \| (\d+) \| (\d+)\b/.exec(line);
    if (m) rows.set(m[1], { http: Number(m[2]), grpc: Number(m[3]) });
  }
  return rows;
}

test('docs/errors.md lists exactly the codes of ERROR_CODES, with the same HTTP and gRPC statuses', () => {
  const doc = documentedCodes();
  assert.deepEqual([...doc.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, s] of Object.entries(ERROR_CODES)) assert.deepEqual(doc.get(code), { http: s.http, grpc: s.grpc }, code);
});

test('every code maps to its statuses on InferenceError', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const e = new InferenceError(code, 'x');
    assert.equal(e.httpStatus, ERROR_CODES[code].http);
    assert.equal(e.grpcStatus, ERROR_CODES[code].grpc);
  }
});
