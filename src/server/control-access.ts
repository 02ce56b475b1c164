/**
 * Who may load and unload models: the model control mode allows it at all (explicit mode only, as tritonserver),
 * and, when the server has a control token, the caller presents it as `Authorization: Bearer <token>` (HTTP header,
 * or gRPC metadata `authorization`). The token is compared in constant time (SHA-256 digests of both, compared with
 * timingSafeEqual), so the answer's timing says nothing about how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { InferenceError } from '../core/index.js';
import type { ModelControlMode } from './model-lifecycle.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class ControlAccess {
  private readonly tokenDigest: Buffer | undefined;

  constructor(readonly mode: ModelControlMode, token: string | undefined) {
    if (token !== undefined && token.length === 0) throw new RangeError('the control token is empty');
    this.tokenDigest = token === undefined ? undefined : digest(token);
  }

  /** Whether load/unload need the token. */
  get tokenRequired(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** Throws PERMISSION_DENIED (mode) or UNAUTHENTICATED (token) unless the caller may `what`. */
  check(what: string, authorization: string | undefined): void {
    if (this.mode !== 'explicit') {
      throw new InferenceError('PERMISSION_DENIED', `${what} is not allowed: the server's model control mode is '${this.mode}' `
        + '(start it with --model-control-mode explicit to load and unload models through the repository API)');
    }
    if (!this.tokenDigest) return;
    const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) throw new InferenceError('UNAUTHENTICATED', `${what} needs the control token: send 'Authorization: Bearer <token>'`);
    if (!timingSafeEqual(digest(m[1]), this.tokenDigest)) throw new InferenceError('UNAUTHENTICATED', `${what}: the control token is wrong`);
  }
}
