import type { IncomingMessage } from 'node:http';
import { InferenceError, invalidArgument } from '../../core/index.js';

/** Binary tensor data is placed on this boundary (the largest element size) when its offset in the body is known. */
const DATA_ALIGNMENT = 8;

/**
 * Reads a request body into one buffer of its own ArrayBuffer, so binary tensors inside it can be viewed in place
 * when aligned. With a Content-Length the body is written straight into a buffer of that size (one copy from the
 * socket chunks), placed so that byte `alignAt` (where the binary tensor data starts: the JSON header's length) falls
 * on an 8-byte boundary — else every unaligned tensor would be copied once more; without one, chunks are joined at
 * the end, from offset 0. Over `limit` bytes: rejects with PAYLOAD_TOO_LARGE at once and stops reading (the caller
 * closes the connection).
 */
export function readBody(req: IncomingMessage, limit: number, alignAt = 0): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    const tooLarge = () => new InferenceError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
    let fixed: Uint8Array | undefined;
    if (declared !== undefined) {
      const n = Number(declared);
      if (!Number.isSafeInteger(n) || n < 0) return reject(invalidArgument('invalid Content-Length'));
      if (n > limit) return reject(tooLarge());
      const pad = (DATA_ALIGNMENT - (alignAt % DATA_ALIGNMENT)) % DATA_ALIGNMENT;
      fixed = new Uint8Array(new ArrayBuffer(n + pad), pad, n);
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > limit || (fixed && received + chunk.length > fixed.length)) {
        cleanup();
        req.pause();
        reject(received + chunk.length > limit ? tooLarge() : invalidArgument('body longer than Content-Length'));
        return;
      }
      if (fixed) fixed.set(chunk, received);
      else chunks.push(chunk);
      received += chunk.length;
    };
    const onEnd = () => {
      cleanup();
      if (fixed) {
        if (received !== fixed.length) reject(invalidArgument(`body shorter than its Content-Length (${received} of ${fixed.length} bytes)`));
        else resolve(fixed);
        return;
      }
      const body = new Uint8Array(received);
      let off = 0;
      for (const c of chunks) {
        body.set(c, off);
        off += c.length;
      }
      resolve(body);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new InferenceError('CANCELLED', `request body could not be read: ${err.message}`));
    };
    const onAborted = () => onError(new Error('client disconnected'));
    function cleanup(): void {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
