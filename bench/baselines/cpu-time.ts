/**
 * CPU time of processes and threads, from Linux's /proc (clock ticks → seconds), to say where a benchmark's CPU went:
 * the load client, a server's main thread (HTTP, scheduling), and its other threads (workers, ONNX Runtime's pool).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc times are in these ticks (100 on every mainstream build). */
const TICKS_PER_SEC = 100;

/** utime + stime of /proc/<pid>/task/<tid>/stat, in seconds (0 when it cannot be read). */
function threadCpuSec(pid: number, tid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

export interface ProcessCpu {
  /** The main thread (tid = pid): for a Node server, its event loop. */
  readonly mainSec: number;
  /** Every other thread together. */
  readonly otherSec: number;
}

/** CPU seconds a process has used so far, main thread and the rest. */
export function processCpu(pid: number): ProcessCpu {
  let tids: number[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return { mainSec: 0, otherSec: 0 };
  }
  let other = 0;
  for (const tid of tids) if (tid !== pid) other += threadCpuSec(pid, tid);
  return { mainSec: threadCpuSec(pid, pid), otherSec: other };
}

/** Cores used between two readings over `wallSec`: main thread, other threads. */
export function coresBetween(a: ProcessCpu, b: ProcessCpu, wallSec: number): { main: number; other: number } {
  return { main: (b.mainSec - a.mainSec) / wallSec, other: (b.otherSec - a.otherSec) / wallSec };
}
