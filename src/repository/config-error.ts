/**
 * A model configuration that cannot be used: unparsable, contradicting its model file, or incomplete.
 * The message starts with `file:line:` (or `file:line:col:` for syntax errors) so an editor can jump to it;
 * line 0 means the problem concerns the file as a whole (missing, unreadable, wrong model).
 */
export class ConfigError extends Error {
  readonly file: string;
  /** 1-based; 0 when no single line is at fault. */
  readonly line: number;
  /** 1-based; 0 when not known. */
  readonly col: number;

  constructor(file: string, line: number, what: string, col = 0, options?: { cause?: unknown }) {
    super(`${formatPlace(file, line, col)}: ${what}`, options);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.col = col;
  }
}

export function formatPlace(file: string, line: number, col = 0): string {
  if (line <= 0) return file;
  return col > 0 ? `${file}:${line}:${col}` : `${file}:${line}`;
}
