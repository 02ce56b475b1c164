/**
 * Finding models on disk (Triton layout: `<root>/<model>/<version>/<file>`, optional `<root>/<model>/config.pbtxt`),
 * choosing versions by policy, and naming a version's model file.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelConfig } from '../core/index.js';
import { CONFIG_FILENAME } from './defaults.js';
import { isPlainName } from './validate.js';

export interface ScannedModel {
  readonly name: string;
  /** The repository root it was found in (as given). */
  readonly root: string;
  readonly modelDir: string;
  /** Numeric version folder names, ascending. */
  readonly versions: readonly number[];
  readonly hasConfig: boolean;
  /** Set when the model cannot be used as found (e.g. the same name in two roots); the model must not load. */
  readonly error?: string;
}

/** An entry of a root that is not a model, and why (for the server to log). */
export interface IgnoredEntry {
  readonly path: string;
  readonly reason: string;
}

const isHidden = (name: string) => name.startsWith('.');

/** A version folder name: a positive decimal integer without leading zeros. */
const isVersionName = (name: string) => /^[1-9][0-9]{0,15}$/.test(name);

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Lists the models in each root. Hidden entries and plain files are skipped; a folder whose name is not a plain
 * model name is skipped and reported to `onIgnored`. A name found in two roots yields both entries, each with
 * `error` set, and leaves the other models alone. A root that is not a readable folder throws.
 * Sorted by name, then root order.
 */
export async function scanRepositories(
  roots: readonly string[],
  onIgnored?: (entry: IgnoredEntry) => void,
): Promise<ScannedModel[]> {
  const found: ScannedModel[] = [];
  const seenRoots = new Set<string>();
  for (const root of roots) {
    const real = await realpath(root).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`model repository ${root} cannot be read: ${err.code ?? err.message}`);
    });
    if (!(await isDir(real))) throw new Error(`model repository ${root} is not a folder`);
    if (seenRoots.has(real)) continue; // the same folder given twice is one repository
    seenRoots.add(real);
    const entries = await readdir(root, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (isHidden(e.name)) continue;
      const modelDir = join(resolve(root), e.name);
      if (!(e.isDirectory() || (e.isSymbolicLink() && (await isDir(modelDir))))) continue;
      if (!isPlainName(e.name)) {
        onIgnored?.({ path: modelDir, reason: `"${e.name}" is not a plain model name` });
        continue;
      }
      found.push(await scanModel(e.name, root, modelDir));
    }
  }
  const count = new Map<string, ScannedModel[]>();
  for (const m of found) count.set(m.name, [...(count.get(m.name) ?? []), m]);
  return found
    .map((m) => {
      const same = count.get(m.name)!;
      if (same.length === 1) return m;
      return { ...m, error: `model '${m.name}' is in more than one repository (${same.map((s) => s.modelDir).join(', ')})` };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Reads one model folder (also used to rescan a single model). */
export async function scanModel(name: string, root: string, modelDir: string): Promise<ScannedModel> {
  const entries = await readdir(modelDir, { withFileTypes: true });
  const versions: number[] = [];
  let hasConfig = false;
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    if (e.name === CONFIG_FILENAME && !e.isDirectory()) hasConfig = true;
    else if (isVersionName(e.name) && (e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(modelDir, e.name)))))) {
      versions.push(Number(e.name));
    }
  }
  versions.sort((a, b) => a - b);
  return { name, root, modelDir, versions, hasConfig };
}

/** The versions to load: the policy applied to the available version numbers (ascending in and out). */
export function selectVersions(config: Pick<ModelConfig, 'version_policy'>, available: readonly number[]): number[] {
  const sorted = [...new Set(available)].sort((a, b) => a - b);
  const p = config.version_policy;
  if ('all' in p) return sorted;
  if ('latest' in p) return sorted.slice(Math.max(0, sorted.length - p.latest.num_versions));
  const wanted = new Set(p.specific.versions);
  return sorted.filter((v) => wanted.has(v));
}

/** `<modelDir>/<version>/<default_model_filename>`. */
export function modelFilePath(
  modelDir: string,
  version: number | string,
  config: Pick<ModelConfig, 'default_model_filename'>,
): string {
  return join(modelDir, String(version), config.default_model_filename);
}
