/**
 * `--cpus`: pins the load generator (every thread of this process) to a CPU list with Linux `taskset`, so a client
 * on the server's machine can be kept off the server's cores. Threads started later inherit the mask.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../core/index.js';

/** taskset's list syntax: `N`, `N-M` or `N-M:STRIDE`, comma-separated (e.g. `1`, `8-15`, `1,3`, `0-7:2`). */
export function checkCpuList(flag: string, list: string): string {
  const items = list.split(',');
  for (const item of items) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(item.trim());
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1])) || (m[3] !== undefined && Number(m[3]) < 1)) {
      throw invalidArgument(`${flag}: expected a CPU list like 1, 8-15 or 1,3, got '${list}'`);
    }
  }
  return items.map((i) => i.trim()).join(',');
}

/** The CPUs this process's main thread may run on (Linux /proc), e.g. '0-1'; undefined elsewhere. */
export function currentCpuList(): string | undefined {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Pins this process, all its threads, to `list` (`taskset -a -p -c LIST PID`) and returns the list taskset
 * applied. INVALID_ARGUMENT when taskset is missing or refuses the list (e.g. a CPU the machine does not have).
 */
export function pinClientTo(list: string, flag = '--cpus'): string {
  const before = currentCpuList();
  const r = spawnSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { encoding: 'utf8' });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw invalidArgument(`${flag} ${list}: ${missing ? 'taskset not found (Linux util-linux); it is needed to pin the client' : r.error.message}`);
  }
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout).trim().replace(/^taskset: /, '');
    throw invalidArgument(`${flag} ${list}: taskset could not pin the client: ${why}${before ? ` (CPUs available: ${before})` : ''}`);
  }
  const applied = [...r.stdout.matchAll(/new affinity list: (\S+)/g)].at(-1)?.[1];
  return applied ?? currentCpuList() ?? list;
}
