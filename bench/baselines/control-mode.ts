/**
 * The flags that let a benchmark load and unload models through the repository API. Servers with
 * `--model-control-mode` refuse load/unload by default (mode `none`, as tritonserver), so benchmarks that use the
 * API pass `explicit`, naming the models to load at start with `--load-model`; older servers take neither flag and
 * load every model at start. Which kind of server this is, is read from `autoglm serve --help` at run time.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

let helpText: string | undefined;

function serveHelp(): string {
  helpText ??= spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--help'], { cwd: ROOT, encoding: 'utf8' }).stdout ?? '';
  return helpText;
}

/** Whether `autoglm serve` has `--model-control-mode` (else every model loads at start and load/unload are open). */
export function hasExplicitControl(): boolean {
  return serveHelp().includes('--model-control-mode');
}

/** `--model-control-mode explicit` with a `--load-model` per name, when the server has them; [] otherwise. */
export function explicitControlFlags(loadAtStart: readonly string[]): string[] {
  if (!hasExplicitControl()) return [];
  return ['--model-control-mode', 'explicit', ...loadAtStart.flatMap((m) => ['--load-model', m])];
}
