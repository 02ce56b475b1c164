/**
 * A model folder's fingerprint for poll mode: what a reload would read — config.pbtxt's bytes, the version folders,
 * and the name, size and modification time of each file in them and in `warmup/` — hashed. Equal fingerprints mean
 * nothing a load reads has changed (short of a file rewritten with the same size within the clock's resolution).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_FILENAME } from './defaults.js';

/** Walks at most this deep below the model folder (version folders hold the model file, maybe a folder of files). */
const MAX_DEPTH = 3;

export async function modelFingerprint(modelDir: string): Promise<string> {
  const h = createHash('sha256');
  const config = await readFile(join(modelDir, CONFIG_FILENAME)).catch(() => undefined);
  h.update(config ? `config:${config.byteLength}:` : 'config:none:');
  if (config) h.update(config);
  await walk(modelDir, '', 0, (line) => h.update(line));
  return h.digest('hex');
}

async function walk(root: string, rel: string, depth: number, emit: (line: string) => void): Promise<void> {
  const entries = await readdir(join(root, rel), { withFileTypes: true }).catch(() => []);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.') || (depth === 0 && e.name === CONFIG_FILENAME)) continue;
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    const s = await stat(join(root, p)).catch(() => undefined); // follows links, as a load does
    if (!s) continue;
    if (s.isDirectory()) {
      emit(`dir:${p}\n`);
      if (depth < MAX_DEPTH) await walk(root, p, depth + 1, emit);
    } else {
      emit(`file:${p}:${s.size}:${s.mtimeMs}\n`);
    }
  }
}
