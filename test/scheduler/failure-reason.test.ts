/** One map from error code to Triton's failure reason, shared by the batching and ensemble schedulers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES, type ErrorCode } from '../../src/core/index.js';
import { failureReasonOf } from '../../src/scheduler/scheduler-metrics.js';

test('every error code has one failure reason: refusals and missed deadlines REJECTED, cancels CANCELED, internal BACKEND', () => {
  const want: Record<ErrorCode, string> = {
    INVALID_ARGUMENT: 'OTHER', NOT_FOUND: 'OTHER', PAYLOAD_TOO_LARGE: 'OTHER', UNIMPLEMENTED: 'OTHER',
    UNAUTHENTICATED: 'OTHER', PERMISSION_DENIED: 'OTHER',
    QUEUE_FULL: 'REJECTED', DEADLINE_EXCEEDED: 'REJECTED', UNAVAILABLE: 'REJECTED',
    CANCELLED: 'CANCELED', INTERNAL: 'BACKEND',
  };
  assert.deepEqual(Object.keys(want).sort(), Object.keys(ERROR_CODES).sort(), 'a new error code needs its reason here');
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) assert.equal(failureReasonOf(code), want[code], code);
});
