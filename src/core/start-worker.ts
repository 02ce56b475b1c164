/**
 * Starts a worker from a module beside the caller, whether we run from dist/ (.js) or from the TypeScript
 * sources under tsx (.ts). Node 20 does not apply tsx's `--import` hooks inside worker threads (measured:
 * "Unknown file extension .ts"), so for a .ts entry a two-line bootstrap registers tsx in the worker first;
 * where the hooks are already there (newer Node), the first import just works.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `sibling` without extension, e.g. './session-worker'; `from` is the caller's import.meta.url. */
export function startWorker(sibling: string, from: string, options: WorkerOptions): Worker {
  const ts = from.endsWith('.ts');
  const url = new URL(`${sibling}${ts ? '.ts' : '.js'}`, from);
  if (!ts) return new Worker(url, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  // A failed import stays cached under its URL, hence the query on the retry.
  const bootstrap = `const url = ${JSON.stringify(url.href)};
import(url).catch(async (err) => {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  (await import(${JSON.stringify(tsxApi)})).register();
  await import(url + '?tsx');
});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
