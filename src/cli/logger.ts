import { pino, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { LogSink } from '../core/log-sink.js';

/**
 * pino logger for the CLI: JSON lines, or human-readable text (pino-pretty) on a terminal or when asked, written
 * through `sink` (default: a LogSink on stdout), which never blocks or throws: when stdout fails (its reader gone,
 * a full disk) lines are dropped and counted (src/core/log-sink.ts; `autoglm_log_lines_dropped` on /metrics).
 */
export function createLogger(verbose: number, format: 'text' | 'json' | undefined, sink: LogSink = new LogSink()): Logger {
  const level = verbose >= 2 ? 'trace' : verbose === 1 ? 'debug' : 'info';
  const text = format === 'text' || (format === undefined && process.stdout.isTTY === true);
  if (!text) return pino({ level, base: { pid: process.pid } }, sink);
  const prettify = prettyFactory({ colorize: process.stdout.isTTY === true, ignore: 'pid,hostname' });
  return pino({ level }, { write: (line: string) => sink.write(prettify(line)) });
}
