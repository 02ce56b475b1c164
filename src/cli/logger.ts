import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** pino logger for the CLI: JSON lines, or human-readable text (pino-pretty) on a terminal or when asked. */
export function createLogger(verbose: number, format: 'text' | 'json' | undefined): Logger {
  const level = verbose >= 2 ? 'trace' : verbose === 1 ? 'debug' : 'info';
  const text = format === 'text' || (format === undefined && process.stdout.isTTY === true);
  if (!text) return pino({ level, base: { pid: process.pid } });
  return pino({ level }, pretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname' }));
}
