/**
 * One optimized-model cache entry on disk, read and written by session workers (docs/model-cache.md).
 *
 * Layout of `<key>.onnxcache`: the optimized model exactly as ONNX Runtime saved it, then a JSON trailer, then the
 * trailer's byte length (uint32 LE), then MAGIC:
 *
 *   [ model bytes ][ {"key":…,"modelBytes":N,"sha256":…,"onnxruntime":…,"createdAt":…} ][ u32 length ][ MAGIC ]
 *
 * A reader takes the whole file into memory, checks magic, trailer, key, length and the model's SHA-256, and hands
 * ONNX Runtime those verified bytes (never the path: the file may be replaced meanwhile). Anything that does not
 * check out (truncated, corrupt, another key) is a miss, and the miss writes a fresh entry.
 *
 * Writes are atomic: ORT saves into a temporary file of this process and thread in the same folder, the trailer is
 * appended, and a rename puts it in place. Servers sharing the folder may write one key at once: each rename
 * replaces the file whole, so a reader sees one complete entry or none. Eviction keeps the folder under its bound
 * (evictOver); unlinking a file another process is reading is safe on POSIX (it keeps its open file).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { type CacheEntry, ENTRY_SUFFIX } from './model-cache-key.js';

const MAGIC = Buffer.from('AGLMOPT1');
const TAIL_BYTES = 4 + MAGIC.length;
/** A trailer is a few hundred bytes; a larger length field is corruption. */
const MAX_TRAILER_BYTES = 64 * 1024;
/** Temporary files older than this are left over from a writer that died; any eviction pass removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000;
const TEMP_MARK = '.tmp-';

interface Trailer {
  readonly key: string;
  readonly modelBytes: number;
  readonly sha256: string;
  readonly onnxruntime: string;
  readonly createdAt: string;
}

export type ReadResult =
  | { readonly kind: 'hit'; readonly model: Uint8Array }
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly reason: string };

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Reads and verifies an entry; a hit also marks it used now (eviction removes the least recently used first). */
export function readEntry(entry: CacheEntry): ReadResult {
  let file: Buffer;
  try {
    file = readFileSync(entry.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'invalid', reason: `cannot read: ${(err as Error).message}` };
  }
  if (file.length < TAIL_BYTES || !file.subarray(file.length - MAGIC.length).equals(MAGIC)) {
    return { kind: 'invalid', reason: 'no trailer (truncated or not an entry)' };
  }
  const trailerBytes = file.readUInt32LE(file.length - TAIL_BYTES);
  if (trailerBytes > MAX_TRAILER_BYTES || trailerBytes > file.length - TAIL_BYTES) {
    return { kind: 'invalid', reason: 'bad trailer length' };
  }
  const modelEnd = file.length - TAIL_BYTES - trailerBytes;
  let trailer: Trailer;
  try {
    trailer = JSON.parse(file.subarray(modelEnd, modelEnd + trailerBytes).toString('utf8')) as Trailer;
  } catch {
    return { kind: 'invalid', reason: 'unreadable trailer' };
  }
  if (trailer.key !== entry.key) return { kind: 'invalid', reason: `written for key ${String(trailer.key)}` };
  if (trailer.modelBytes !== modelEnd) return { kind: 'invalid', reason: `${modelEnd} model bytes, trailer says ${trailer.modelBytes}` };
  const model = file.subarray(0, modelEnd);
  if (sha256(model) !== trailer.sha256) return { kind: 'invalid', reason: 'checksum mismatch' };
  try {
    const now = new Date();
    utimesSync(entry.path, now, now);
  } catch {
    // evicted meanwhile, or a read-only folder: the bytes in hand are still good
  }
  return { kind: 'hit', model };
}

/** A temporary path for ORT to save the optimized model to: this process's and thread's own, beside the entry. */
export function tempPathFor(entry: CacheEntry): string {
  return `${entry.path}${TEMP_MARK}${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`;
}

/** Seals ORT's saved model in `temp` as the entry (trailer, then rename into place), then keeps the folder in bound. */
export function commitEntry(entry: CacheEntry, temp: string, onnxruntime: string): void {
  try {
    const model = readFileSync(temp);
    const trailer: Trailer = {
      key: entry.key, modelBytes: model.length, sha256: sha256(model), onnxruntime, createdAt: new Date().toISOString(),
    };
    const json = Buffer.from(JSON.stringify(trailer));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(json.length);
    appendFileSync(temp, Buffer.concat([json, length, MAGIC]));
    renameSync(temp, entry.path);
  } finally {
    rmSync(temp, { force: true });
  }
  evictOver(entry.dir, entry.maxBytes);
}

/** Removes a temporary file (a save that failed or was abandoned). */
export function discardTemp(temp: string): void {
  rmSync(temp, { force: true });
}

/**
 * Keeps the entries in `dir` within `maxBytes`: the most recently used are kept while they fit, the rest removed
 * (an entry larger than the bound on its own is not kept). Temporary files of dead writers go too.
 */
export function evictOver(dir: string, maxBytes: number): void {
  const entries: Array<{ path: string; size: number; used: number }> = [];
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      const s = statSync(path);
      if (name.includes(ENTRY_SUFFIX + TEMP_MARK)) {
        if (now - s.mtimeMs > STALE_TEMP_MS) rmSync(path, { force: true });
      } else if (name.endsWith(ENTRY_SUFFIX) && s.isFile()) {
        entries.push({ path, size: s.size, used: s.mtimeMs });
      }
    } catch {
      // removed by another server meanwhile
    }
  }
  entries.sort((a, b) => b.used - a.used);
  let total = 0;
  for (const e of entries) {
    total += e.size;
    if (total > maxBytes) {
      rmSync(e.path, { force: true });
      total -= e.size;
    }
  }
}
