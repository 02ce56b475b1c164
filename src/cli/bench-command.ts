/**
 * `autoglm bench`: parse arguments, run the load generator, print the table, write the requested files.
 * Exit codes: 0 measured (even with request errors, which the table shows), 1 the run failed (server unreachable,
 * model unknown, the first request refused), 2 bad arguments (a --cpus list this machine cannot apply included).
 */
import { writeFileSync } from 'node:fs';
import { InferenceError } from '../core/index.js';
import { pinClientTo } from '../bench/cpu-affinity.js';
import { describeRun, formatCsv, formatProgress, formatTable, tableLegend } from '../bench/format-table.js';
import { renderHtmlReport } from '../bench/html-report.js';
import { HelpRequested, USAGE, parseBenchArgs, type BenchOptions } from '../bench/options.js';
import { runBench } from '../bench/run-bench.js';

export interface BenchCommandIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly isTty: boolean;
}

const defaultIo: BenchCommandIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTty: Boolean(process.stderr.isTTY),
};

export async function runBenchCommand(argv: string[], io: BenchCommandIo = defaultIo): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv, io.isTty);
    // Before any load: every thread the client has now, and those it starts later (they inherit the mask).
    if (options.cpus) options = Object.freeze({ ...options, cpus: pinClientTo(options.cpus) });
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.out(USAGE);
      return 0;
    }
    io.err(`autoglm bench: ${(err as Error).message}\n`);
    return 2;
  }
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) io.err('\r\x1b[2K');
    progressShown = false;
  };
  try {
    const report = await runBench(options, {
      onProgress: options.progress
        ? (p) => { io.err(`\r\x1b[2K${formatProgress(options.load.mode, p)}`); progressShown = true; }
        : undefined,
      onStep: (s) => {
        clearProgress();
        if (options.progress) {
          io.err(`${s.mode === 'concurrency' ? 'concurrency' : 'rate'} ${s.level}: ${s.throughput.toFixed(1)} req/s, ` +
            `p99 ${(s.latency.p99Us / 1000).toFixed(2)} ms${s.stable ? '' : ' (not stable)'}\n`);
        }
      },
    });
    clearProgress();
    const legend = tableLegend(report);
    io.out(`${describeRun(report)}\n\n${formatTable(report)}\n${legend ? `${legend}\n` : ''}`);
    const unstable = report.steps.filter((s) => !s.stable).length;
    if (unstable > 0) {
      io.err(`note: ${unstable} step(s) did not reach 3 windows within ${report.stabilityPercentage} %; ` +
        'their figures are the last windows measured (raise --max-trials or --measurement-interval)\n');
    }
    const waited = report.steps.reduce((n, s) => n + s.waitedForConnection, 0);
    if (waited > 0) {
      io.err(`note: ${waited} request(s) waited for a free connection (--max-connections ${options.maxConnections}); ` +
        'their latency still counts from their intended send time\n');
    }
    if (options.jsonFile) writeFileSync(options.jsonFile, JSON.stringify(report, null, 2) + '\n');
    if (options.csvFile) writeFileSync(options.csvFile, formatCsv(report));
    if (options.htmlFile) writeFileSync(options.htmlFile, renderHtmlReport([report]));
    return 0;
  } catch (err) {
    clearProgress();
    const e = err instanceof InferenceError ? err : undefined;
    io.err(`autoglm bench: ${e ? `${e.code}: ` : ''}${(err as Error).message}\n`);
    return 1;
  }
}
