import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelSource, type CancelSignal } from '../../src/core/index.js';

test('CancelSource: listeners run once, on the first abort; removed ones do not; an AbortSignal has the same shape', () => {
  const s = new CancelSource();
  const ran: string[] = [];
  const a = () => ran.push('a');
  const b = () => ran.push('b');
  s.addEventListener('abort', a);
  s.addEventListener('abort', b, { once: true });
  s.removeEventListener('abort', a);
  assert.equal(s.aborted, false);
  s.abort();
  s.abort();
  s.addEventListener('abort', a); // after the fact: never runs
  assert.equal(s.aborted, true);
  assert.deepEqual(ran, ['b']);
  const native: CancelSignal = new AbortController().signal;
  assert.equal(native.aborted, false);
});
