/**
 * HTTP content codings, as Triton's HTTP frontend takes them (src/http_server.cc: GetRequestCompressionType,
 * CompressionTypeUsed): request bodies in `gzip` or `deflate` (zlib format, RFC 1950 — what tritonclient and zlib's
 * `compress` write), infer responses compressed when `Accept-Encoding` prefers one of them.
 * Decompression itself streams in read-body.ts, under the body limit.
 */
import { promisify } from 'node:util';
import { deflate, gzip } from 'node:zlib';

export type ContentCoding = 'identity' | 'gzip' | 'deflate';

/** What a 415 answer lists in its Accept-Encoding (RFC 9110 §15.5.16). */
export const ACCEPTED_CODINGS = 'gzip, deflate';

/**
 * A request's Content-Encoding: absent, empty or `identity` → identity; `gzip` (or `x-gzip`) and `deflate`, in any
 * case; undefined for anything else, a list of codings included (answered 415 with ACCEPTED_CODINGS).
 */
export function requestCoding(header: string | string[] | undefined): ContentCoding | undefined {
  if (header === undefined) return 'identity';
  if (Array.isArray(header)) return undefined;
  const c = header.trim().toLowerCase();
  if (c === '' || c === 'identity') return 'identity';
  if (c === 'gzip' || c === 'x-gzip') return 'gzip';
  if (c === 'deflate') return 'deflate';
  return undefined;
}

/**
 * The coding an infer response should use, from the request's Accept-Encoding: the highest `q` among identity, gzip
 * and deflate (the first listed on a tie; q=0 refuses a coding); identity when none is listed — as Triton chooses
 * (CompressionTypeUsed). `*` and other codings are ignored.
 */
export function responseCoding(accept: string | undefined): ContentCoding {
  if (accept === undefined || accept === '') return 'identity';
  let best: ContentCoding = 'identity';
  let bestQ = 0;
  for (const item of accept.split(',')) {
    const [name, ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (coding !== 'identity' && coding !== 'gzip' && coding !== 'deflate') continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k.trim().toLowerCase() === 'q') q = v === undefined ? NaN : Number(v.trim());
    }
    if (!(q >= 0 && q <= 1)) continue; // malformed weight: skipped, as Triton skips it
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/** Compresses a whole response body off the event loop (zlib runs in libuv's thread pool). */
export function compress(body: Uint8Array, coding: Exclude<ContentCoding, 'identity'>): Promise<Buffer> {
  return coding === 'gzip' ? gzipAsync(body) : deflateAsync(body);
}
