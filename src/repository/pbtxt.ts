/**
 * A parser for protobuf text format (the syntax of Triton's config.pbtxt), schema-free: it yields the fields
 * as written, each with its line and column, and leaves meaning (types, enums, unknown fields) to the schema
 * in config-schema.ts. Supports `#` comments, messages in `{}` or `<>`, `field: value`, `field [a, b]` lists,
 * repeated fields, strings in either quote with C escapes (adjacent strings concatenate), numbers (decimal,
 * hex, float, exponent, `inf`/`nan`, negative) and identifiers (enums, true/false). Map entries are ordinary
 * messages `{ key: … value: … }` here. Extensions (`[pkg.ext]`) and `Any` expansion are refused.
 */
import { ConfigError } from './config-error.js';

export type PbScalar =
  | { readonly kind: 'string'; readonly value: string }
  /** `text` is the literal as written (after any sign), to check integer syntax and range exactly. */
  | { readonly kind: 'number'; readonly value: number; readonly text: string }
  | { readonly kind: 'ident'; readonly value: string };

export type PbValue = PbScalar | { readonly kind: 'message'; readonly message: PbMessage };

export interface PbField {
  readonly name: string;
  readonly value: PbValue;
  /** Where the field name is (1-based). */
  readonly line: number;
  readonly col: number;
}

export interface PbMessage {
  /** In source order; a repeated field or a list appears as several entries with the same name. */
  readonly fields: readonly PbField[];
  readonly line: number;
  readonly col: number;
}

type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  kind: TokenKind;
  /** ident name, punctuation char, number literal text, or decoded string. */
  text: string;
  line: number;
  col: number;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
// Decimal/float with optional exponent and float suffix, or hex. A leading '-' is a separate token.
const NUMBER = /(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?)/y;
const PUNCT = '{}<>[]:,;-./'; // '.' and '/' only so extension names reach the parser's clear error

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (msg: string, at = i): never => {
    throw new ConfigError(file, line, msg, at - lineStart + 1);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const col = i - lineStart + 1;
    if (c === '"' || c === "'") {
      const start = i;
      i++;
      const bytes: number[] = [];
      for (;;) {
        if (i >= text.length || text[i] === '\n') fail('unterminated string', start);
        const ch = text[i];
        if (ch === c) {
          i++;
          break;
        }
        if (ch === '\\') {
          i = readEscape(text, i + 1, bytes, (m, at) => fail(m, at));
          continue;
        }
        const cp = text.codePointAt(i)!;
        pushUtf8(bytes, cp);
        i += cp > 0xffff ? 2 : 1;
      }
      const decoded = new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
      tokens.push({ kind: 'string', text: decoded, line, col });
      continue;
    }
    IDENT.lastIndex = i;
    let m = IDENT.exec(text);
    if (m) {
      tokens.push({ kind: 'ident', text: m[0], line, col });
      i += m[0].length;
      continue;
    }
    NUMBER.lastIndex = i;
    m = NUMBER.exec(text);
    if (m) {
      const end = i + m[0].length;
      if (end < text.length && /[A-Za-z0-9_.]/.test(text[end])) fail(`malformed number '${text.slice(i, end + 1)}'`);
      tokens.push({ kind: 'number', text: m[0], line, col });
      i = end;
      continue;
    }
    if (PUNCT.includes(c)) {
      tokens.push({ kind: 'punct', text: c, line, col });
      i++;
      continue;
    }
    fail(`unexpected character '${c}'`);
  }
  tokens.push({ kind: 'eof', text: '', line, col: i - lineStart + 1 });
  return tokens;
}

function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
}

const SIMPLE_ESCAPES: Record<string, number> = {
  n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63,
};

/** Reads one escape after the backslash at `i`; appends its bytes; returns the index after it. */
function readEscape(text: string, i: number, out: number[], fail: (msg: string, at: number) => never): number {
  const e = text[i];
  if (e === undefined) return fail('unterminated string', i);
  if (e in SIMPLE_ESCAPES) {
    out.push(SIMPLE_ESCAPES[e]);
    return i + 1;
  }
  if (e >= '0' && e <= '7') {
    let j = i;
    while (j < i + 3 && text[j] >= '0' && text[j] <= '7') j++;
    const v = parseInt(text.slice(i, j), 8);
    if (v > 255) fail(`octal escape out of range '\\${text.slice(i, j)}'`, i - 1);
    out.push(v);
    return j;
  }
  if (e === 'x' || e === 'X') {
    let j = i + 1;
    while (j < i + 3 && /[0-9A-Fa-f]/.test(text[j] ?? '')) j++;
    if (j === i + 1) fail('\\x escape needs hex digits', i - 1);
    out.push(parseInt(text.slice(i + 1, j), 16));
    return j;
  }
  if (e === 'u' || e === 'U') {
    const n = e === 'u' ? 4 : 8;
    const hex = text.slice(i + 1, i + 1 + n);
    if (hex.length !== n || !/^[0-9A-Fa-f]+$/.test(hex)) fail(`\\${e} escape needs ${n} hex digits`, i - 1);
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail(`invalid code point \\${e}${hex}`, i - 1);
    pushUtf8(out, cp);
    return i + 1 + n;
  }
  return fail(`unknown escape '\\${e}'`, i - 1);
}

const SPECIAL_FLOATS: Record<string, number> = {
  inf: Infinity, infinity: Infinity, nan: NaN,
};

const MAX_DEPTH = 100;

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[], private readonly file: string) {}

  private peek(): Token {
    return this.tokens[this.pos];
  }
  private next(): Token {
    return this.tokens[this.pos++];
  }
  private fail(t: Token, msg: string): never {
    throw new ConfigError(this.file, t.line, msg, t.col);
  }
  private isPunct(t: Token, c: string): boolean {
    return t.kind === 'punct' && t.text === c;
  }
  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of file';
    if (t.kind === 'string') return 'a string';
    return `'${t.text}'`;
  }

  /** Fields until `close` (or end of file for the top level). */
  parseMessage(close: string | undefined, line: number, col: number): PbMessage {
    const fields: PbField[] = [];
    for (;;) {
      const t = this.peek();
      if (close === undefined ? t.kind === 'eof' : this.isPunct(t, close)) {
        this.next();
        return { fields, line, col };
      }
      if (t.kind === 'eof') this.fail(t, `expected '${close}' to close the message opened at line ${line}`);
      if (this.isPunct(t, '[')) this.fail(t, 'extension and Any fields are not supported');
      if (t.kind !== 'ident') this.fail(t, `expected a field name, found ${this.describe(t)}`);
      this.next();
      this.parseFieldValue(t, fields);
      const sep = this.peek();
      if (this.isPunct(sep, ',') || this.isPunct(sep, ';')) this.next();
    }
  }

  private parseFieldValue(nameTok: Token, out: PbField[]): void {
    const push = (value: PbValue) => out.push({ name: nameTok.text, value, line: nameTok.line, col: nameTok.col });
    let t = this.peek();
    const colon = this.isPunct(t, ':');
    if (colon) {
      this.next();
      t = this.peek();
    }
    if (this.isPunct(t, '[')) {
      this.next();
      if (this.isPunct(this.peek(), ']')) {
        this.next();
        // An empty list still says the field was written (e.g. `dims: []`).
        out.push({ name: nameTok.text, value: { kind: 'message', message: EMPTY_LIST }, line: nameTok.line, col: nameTok.col });
        return;
      }
      for (;;) {
        const e = this.peek();
        if (this.isPunct(e, '{') || this.isPunct(e, '<')) push(this.parseMessageValue());
        else if (colon) push(this.parseScalar());
        else this.fail(e, `expected ':' before a list of scalars for field '${nameTok.text}'`);
        const sep = this.next();
        if (this.isPunct(sep, ']')) return;
        if (!this.isPunct(sep, ',')) this.fail(sep, `expected ',' or ']' in list, found ${this.describe(sep)}`);
      }
    }
    if (this.isPunct(t, '{') || this.isPunct(t, '<')) {
      push(this.parseMessageValue());
      return;
    }
    if (!colon) this.fail(t, `expected ':' or '{' after field name '${nameTok.text}', found ${this.describe(t)}`);
    push(this.parseScalar());
  }

  private parseMessageValue(): PbValue {
    const open = this.next();
    // Bounded so a hostile file cannot overflow the stack; real configs nest 4–5 deep.
    if (++this.depth > MAX_DEPTH) this.fail(open, `messages nest deeper than ${MAX_DEPTH} levels`);
    const message = this.parseMessage(open.text === '{' ? '}' : '>', open.line, open.col);
    this.depth--;
    return { kind: 'message', message };
  }

  private parseScalar(): PbScalar {
    const t = this.next();
    if (t.kind === 'string') {
      let value = t.text;
      while (this.peek().kind === 'string') value += this.next().text;
      return { kind: 'string', value };
    }
    if (t.kind === 'number') return { kind: 'number', value: numberValue(t.text), text: t.text };
    if (this.isPunct(t, '-')) {
      const n = this.next();
      if (n.kind === 'number') return { kind: 'number', value: -numberValue(n.text), text: '-' + n.text };
      if (n.kind === 'ident' && n.text.toLowerCase() in SPECIAL_FLOATS) {
        return { kind: 'number', value: -SPECIAL_FLOATS[n.text.toLowerCase()], text: '-' + n.text };
      }
      this.fail(n, `expected a number after '-', found ${this.describe(n)}`);
    }
    if (t.kind === 'ident') return { kind: 'ident', value: t.text };
    return this.fail(t, `expected a value, found ${this.describe(t)}`);
  }
}

/** Marker for `field: []`: written, but with no elements. */
export const EMPTY_LIST: PbMessage = Object.freeze({ fields: Object.freeze([]) as readonly PbField[], line: 0, col: 0 });

function numberValue(text: string): number {
  if (/^0[xX]/.test(text)) return parseInt(text.slice(2), 16);
  return Number(text.replace(/[fF]$/, ''));
}

/** Parses protobuf text format. Throws ConfigError with `file:line:col` on a syntax error. */
export function parsePbtxt(text: string, file: string): PbMessage {
  const parser = new Parser(tokenize(text, file), file);
  return parser.parseMessage(undefined, 1, 1);
}
