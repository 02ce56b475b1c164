import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import { InferenceError, invalidArgument } from '../../core/index.js';
import type { ContentCoding } from './content-encoding.js';

/** Binary tensor data is placed on this boundary (the largest element size) when its offset in the body is known. */
const DATA_ALIGNMENT = 8;

/**
 * Reads a request body into one buffer of its own ArrayBuffer, so binary tensors inside it can be viewed in place
 * when aligned. With a Content-Length the body is written straight into a buffer of that size (one copy from the
 * socket chunks), placed so that byte `alignAt` (where the binary tensor data starts: the JSON header's length) falls
 * on an 8-byte boundary — else every unaligned tensor would be copied once more; without one, chunks are joined at
 * the end, from offset 0. Over `limit` bytes: rejects with PAYLOAD_TOO_LARGE at once and stops reading (the caller
 * closes the connection).
 *
 * A body in `gzip` or `deflate` (the request's Content-Encoding, see content-encoding.ts) is inflated as it arrives
 * and the limit applies to the inflated bytes (and to the bytes on the wire): `alignAt` then counts in the inflated
 * body, as Inference-Header-Content-Length does.
 */
export function readBody(req: IncomingMessage, limit: number, alignAt = 0, coding: ContentCoding = 'identity'): Promise<Uint8Array> {
  if (coding !== 'identity') return readCompressed(req, limit, alignAt, coding);
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

/** zlib's output chunk (its default is 16 KiB): fewer round trips to the thread pool for large bodies. */
const INFLATE_CHUNK = 64 * 1024;

/**
 * Reads a gzip/deflate body, inflating it as it arrives with a running count of inflated bytes: past `limit` the
 * inflater is destroyed and PAYLOAD_TOO_LARGE rejects at once, so a small body that inflates to gigabytes (a zip
 * bomb) costs at most `limit` + one chunk of memory. The inflated chunks are joined at the end into one buffer of
 * its own, placed so that byte `alignAt` is 8-aligned. Corrupt or truncated data: INVALID_ARGUMENT. An empty body is
 * empty, whatever its coding.
 */
function readCompressed(req: IncomingMessage, limit: number, alignAt: number, coding: 'gzip' | 'deflate'): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    let wireLength: number | undefined;
    if (declared !== undefined) {
      wireLength = Number(declared);
      if (!Number.isSafeInteger(wireLength) || wireLength < 0) return reject(invalidArgument('invalid Content-Length'));
      if (wireLength > limit) return reject(new InferenceError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
    }
    const inflater = coding === 'gzip' ? createGunzip({ chunkSize: INFLATE_CHUNK }) : createInflate({ chunkSize: INFLATE_CHUNK });
    const chunks: Buffer[] = [];
    let wire = 0;
    let inflated = 0;
    let done = false;
    const finish = (err: InferenceError | undefined, body?: Uint8Array): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      inflater.off('data', onInflated);
      inflater.destroy();
      if (err) {
        req.pause(); // the caller drains or closes
        chunks.length = 0;
        reject(err);
      } else {
        resolve(body!);
      }
    };
    const onData = (chunk: Buffer): void => {
      wire += chunk.length;
      if (wire > limit) return finish(new InferenceError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
      if (wireLength !== undefined && wire > wireLength) return finish(invalidArgument('body longer than Content-Length'));
      if (!inflater.write(chunk)) {
        req.pause();
        inflater.once('drain', () => { if (!done) req.resume(); });
      }
    };
    const onEnd = (): void => {
      if (wireLength !== undefined && wire !== wireLength) {
        return finish(invalidArgument(`body shorter than its Content-Length (${wire} of ${wireLength} bytes)`));
      }
      if (wire === 0) return finish(undefined, new Uint8Array(0));
      inflater.end();
    };
    const onInflated = (chunk: Buffer): void => {
      inflated += chunk.length;
      if (inflated > limit) {
        return finish(new InferenceError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes once decompressed (${coding})`));
      }
      chunks.push(chunk);
    };
    inflater.on('data', onInflated);
    inflater.on('end', () => {
      const pad = (DATA_ALIGNMENT - (alignAt % DATA_ALIGNMENT)) % DATA_ALIGNMENT;
      const body = new Uint8Array(new ArrayBuffer(inflated + pad), pad, inflated);
      let off = 0;
      for (const c of chunks) {
        body.set(c, off);
        off += c.length;
      }
      finish(undefined, body);
    });
    inflater.on('error', (err: Error) => finish(invalidArgument(`request body is not valid ${coding} data: ${err.message}`)));
    const onError = (err: Error): void => finish(new InferenceError('CANCELLED', `request body could not be read: ${err.message}`));
    const onAborted = (): void => onError(new Error('client disconnected'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
