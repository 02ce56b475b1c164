/**
 * Which optimized-model cache entry an ONNX instance uses (InstanceSpec.modelCache; docs/model-cache.md).
 *
 * The key is a SHA-256 over everything that decides the optimized graph: the bytes of the model's folder (the model
 * file and what lies beside it, e.g. external weights), the onnxruntime-node version, this machine's CPU (the `all`
 * level lays out weights for the CPU's vector width), and every session option not known to leave the graph alone.
 * A change in any of them is a new key, so an entry is never reused where it could differ; stale entries are
 * evicted by size (optimized-model-file.ts).
 *
 * Runs on the main thread once per instance; a file's digest is remembered per (path, size, mtime, inode), so the
 * instances of one version (and reloads of an unchanged one) hash each file once per process.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { arch, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelCacheSettings } from '../backend.js';
import type { SessionPlan } from './session-options.js';

/** What a session worker needs to use one cache entry. */
export interface CacheEntry {
  readonly dir: string;
  /** `<dir>/<key>.onnxcache` */
  readonly path: string;
  readonly key: string;
  /** The cache folder's size bound (ModelCacheSettings.maxBytes). */
  readonly maxBytes: number;
}

export const ENTRY_SUFFIX = '.onnxcache';

/** Bumped when the entry format or the key's recipe changes, so old entries are never read as new ones. */
const KEY_FORMAT = 1;

/**
 * Session options that do not change the optimized graph (threads, memory planning, logging, profiling): left out of
 * the key, so instances that differ only in these share an entry. Every other option is in the key.
 */
const GRAPH_NEUTRAL = new Set(['intraOpNumThreads', 'interOpNumThreads', 'executionMode', 'enableMemPattern',
  'enableCpuMemArena', 'logSeverityLevel', 'logVerbosityLevel', 'logId', 'enableProfiling', 'profileFilePrefix']);
const GRAPH_NEUTRAL_EXTRA = new Set(['intra_op_thread_affinities']);

let machine: string | undefined;

/** The CPU as the optimizer sees it: architecture, model name and (Linux) instruction-set flags. */
export function machineIdentity(): string {
  if (machine !== undefined) return machine;
  let flags = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
  } catch {
    // not Linux: the model name below still tells CPU families apart
  }
  machine = createHash('sha256').update(`${arch()}\n${cpus()[0]?.model ?? ''}\n${flags}`).digest('hex');
  return machine;
}

const digests = new Map<string, Promise<string>>();

function fileDigest(path: string, identity: string): Promise<string> {
  const memo = `${path}\0${identity}`;
  let d = digests.get(memo);
  if (d === undefined) {
    d = new Promise<string>((resolve, reject) => {
      const h = createHash('sha256');
      createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
    });
    d.catch(() => digests.delete(memo));
    digests.set(memo, d);
  }
  return d;
}

/** SHA-256 over the names and bytes of the regular files in the model file's folder (symlinks followed). */
async function folderDigest(modelPath: string): Promise<string> {
  const dir = dirname(modelPath);
  const names = (await readdir(dir)).sort();
  const h = createHash('sha256');
  for (const name of names) {
    const path = join(dir, name);
    const s = await stat(path);
    if (!s.isFile()) continue;
    h.update(`${name}\0${await fileDigest(path, `${s.size}:${s.mtimeMs}:${s.ino}`)}\0`);
  }
  return h.digest('hex');
}

/** The options that shape the graph, as stable JSON (keys sorted). */
function graphOptions(plan: SessionPlan): string {
  const picked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(plan.options)) {
    if (GRAPH_NEUTRAL.has(k)) continue;
    if (k === 'extra') {
      const { session = {}, ...rest } = v as { session?: Record<string, unknown> };
      const kept = Object.entries(session).filter(([key]) => !GRAPH_NEUTRAL_EXTRA.has(key));
      const extra = kept.length > 0 ? { ...rest, session: Object.fromEntries(kept) } : rest;
      if (Object.keys(extra).length > 0) picked.extra = extra;
      continue;
    }
    picked[k] = v;
  }
  return JSON.stringify(picked, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
    : v));
}

/**
 * Why a plan is not cached, or undefined when it is: a disabled optimization level has nothing to save, and GPU
 * providers are left out (TensorRT's compiled nodes cannot be saved; a CUDA graph would need the GPU in the key).
 */
export function uncachedReason(plan: SessionPlan): string | undefined {
  if (plan.options.graphOptimizationLevel === 'disabled') return 'graph optimization is disabled';
  if (plan.providers.some((p) => p !== 'cpu')) return 'only CPU sessions are cached';
  return undefined;
}

/**
 * The cache entry of one instance's session, or undefined when its plan is not cached (uncachedReason). `label`
 * (e.g. `ocr_det-1`) starts the file name, for whoever lists the folder; only the digest decides.
 */
export async function cacheEntryFor(modelPath: string, plan: SessionPlan, cache: ModelCacheSettings, label: string): Promise<CacheEntry | undefined> {
  if (uncachedReason(plan) !== undefined) return undefined;
  const recipe = [`format ${KEY_FORMAT}`, `model ${await folderDigest(modelPath)}`, `onnxruntime ${ort.env.versions.node}`,
    `machine ${machineIdentity()}`, `options ${graphOptions(plan)}`].join('\n');
  const digest = createHash('sha256').update(recipe).digest('hex').slice(0, 40);
  const key = `${label.replace(/[^\w.-]/g, '_').slice(0, 60)}-${digest}`;
  return Object.freeze({ dir: cache.dir, path: join(cache.dir, key + ENTRY_SUFFIX), key, maxBytes: cache.maxBytes });
}
