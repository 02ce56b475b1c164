/**
 * wrk, the closed-loop load client of bench/request-path.ts and bench/main-thread-phases.ts (Debian package `wrk`):
 * a Lua script that posts a fixed body, a run pinned to the client CPUs, and its output parsed.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { processCpu } from './cpu-time.js';

const run = promisify(execFile);

export interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Non-2xx answers and socket errors. */
  readonly errors: number;
  /** CPU µs per request of the process given to wrk(), main thread and the rest (NaN without one). */
  readonly mainUs: number;
  readonly otherUs: number;
}

const usOf = (v: string, unit: string) => Number(v) * ({ us: 1, ms: 1e3, s: 1e6, m: 6e7 } as Record<string, number>)[unit];

/** wrk for `seconds` under taskset on the client CPUs; with `pid`, that process's CPU per request over the run. */
export async function wrk(
  clientCpus: string, threads: number, url: string, script: string, conns: number, seconds: number, pid?: number,
): Promise<WrkResult> {
  const c0 = pid ? processCpu(pid) : undefined;
  const { stdout } = await run('taskset', ['-c', clientCpus, 'wrk', '-t', String(Math.min(threads, conns)), '-c', String(conns), '-d', `${seconds}s`,
    '--timeout', '10s', '--latency', '-s', script, url], { maxBuffer: 1 << 20 });
  const c1 = pid ? processCpu(pid) : undefined;
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
  const pct = (p: string) => { const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(stdout); return m ? usOf(m[1], m[2]) : NaN; };
  const requests = num(/(\d+) requests in/);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  const r: WrkResult = {
    rps: num(/Requests\/sec:\s+([\d.]+)/), requests, p50Us: pct('50'), p99Us: pct('99'),
    errors: errors + (socket ? socket.slice(1).reduce((s, x) => s + Number(x), 0) : 0),
    mainUs: c0 && c1 ? ((c1.mainSec - c0.mainSec) * 1e6) / requests : NaN,
    otherUs: c0 && c1 ? ((c1.otherSec - c0.otherSec) * 1e6) / requests : NaN,
  };
  if (!(r.rps > 0)) throw new Error(`wrk: no Requests/sec in its output:\n${stdout}`);
  if (r.errors > 0) console.log(`  !! ${r.errors} non-2xx answers or socket errors against ${url}`);
  return r;
}

/** A wrk script posting the bytes of `body` (read in binary mode) with the given headers; returns its path. */
export function wrkScript(dir: string, name: string, body: Buffer, headers: Record<string, string | number>): string {
  const bodyFile = join(dir, `${name}.body`);
  writeFileSync(bodyFile, body);
  const lua = [`local f = assert(io.open("${bodyFile}", "rb"))`, 'wrk.body = f:read("*a")', 'f:close()', 'wrk.method = "POST"',
    ...Object.entries(headers).map(([k, v]) => `wrk.headers["${k}"] = "${v}"`)].join('\n');
  writeFileSync(join(dir, `${name}.lua`), lua + '\n');
  return join(dir, `${name}.lua`);
}

/** CPUs in a taskset list ('0', '0-7', '1,3'). */
export function cpuCount(list: string): number {
  return list.split(',').reduce((n, part) => {
    const [lo, hi] = part.split('-').map(Number);
    if (!Number.isInteger(lo) || (hi !== undefined && !(hi >= lo))) throw new Error(`bad CPU list '${list}'`);
    return n + (hi === undefined ? 1 : hi - lo + 1);
  }, 0);
}
