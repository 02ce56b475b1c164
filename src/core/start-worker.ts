/**
 * Starts a worker from a module beside the caller, whether we run from dist/ (.js) or from the TypeScript
 * sources under tsx (.ts). Node 20 does not apply tsx's `--import` hooks inside worker threads (measured:
 * "Unknown file extension .ts"), so for a .ts entry a two-line bootstrap registers tsx in the worker first;
 * where the hooks are already there (newer Node), the first import just works.
 *
 * Compute workers (model instances) can start at a lower scheduling priority (a higher nice value) than the threads
 * that handle requests: where they share cores, a request is then read, refused or answered as soon as it comes,
 * instead of waiting for the kernel to take the core from a batch (docs/overload.md). Linux only: the thread renices
 * itself through /proc/thread-self before it loads anything, so the threads it starts (ONNX Runtime's pool) inherit it.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

let computeNice = 0;

/** The nice value compute workers started from now on get (0 = the process's own priority). Process-wide. */
export function setComputeWorkerNice(nice: number): void {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`compute worker nice must be an integer in 0..19, got ${nice}`);
  computeNice = nice;
}

/** `sibling` without extension, e.g. './session-worker'; `from` is the caller's import.meta.url. */
export function startWorker(sibling: string, from: string, options: WorkerOptions, kind: 'compute' | 'io' = 'io'): Worker {
  const ts = from.endsWith('.ts');
  const url = new URL(`${sibling}${ts ? '.ts' : '.js'}`, from);
  const nice = kind === 'compute' ? computeNice : 0;
  if (!ts && nice === 0) return new Worker(url, options);
  const renice = nice === 0 ? '' : `
try {
  const { readlinkSync } = await import('node:fs');
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  (await import('node:os')).setPriority(tid, ${nice});
} catch { /* not Linux: same priority */ }`;
  const load = ts ? `
await import(url).catch(async (err) => {
  if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
  (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
  await import(url + '?tsx');
});` : `
await import(url);`;
  // A failed import stays cached under its URL, hence the query on the retry.
  const bootstrap = `(async () => {
const url = ${JSON.stringify(url.href)};${renice}${load}
})();`;
  return new Worker(bootstrap, { ...options, eval: true });
}
