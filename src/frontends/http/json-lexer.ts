/**
 * The tokens of JSON over UTF-8 bytes for json-body-parser.ts: whitespace, literals, strings, numbers, and arrays
 * of numbers read straight into a Float64Array. Errors name what was wrong and at which byte.
 */

/**
 * The flattened leaves of a `data` value made of (possibly nested) arrays of numbers only. `values` is a view of the
 * parser's scratch, valid until the next document is parsed: copy what is kept (the tensor's own storage is made
 * from it at once, so no request allocates more than that one array for its numbers).
 */
export class NumericLeaves {
  constructor(
    /** The numbers in document order, exactly as many as the leaves. */
    readonly values: Float64Array,
    /** The deepest array's nesting: 0 for a flat array, 1 for [[1], [2]]. */
    readonly depth: number,
    /**
     * Set when some values are approximations (within 2^-51 relative) of long numbers (17–19 digits: float32
     * printed as double): where the array's text lies, for exact() (see approxLong).
     */
    readonly source?: { readonly bytes: Uint8Array; readonly start: number; readonly end: number },
  ) {}

  /** The exact doubles JSON.parse gives for the array (its own buffer). */
  exact(): Float64Array {
    if (this.source === undefined) return new Float64Array(this.values);
    const { bytes, start, end } = this.source;
    const out = new Float64Array(this.values.length);
    let k = 0;
    const put = (v: unknown): void => {
      if (Array.isArray(v)) for (const x of v) put(x);
      else out[k++] = v as number;
    };
    put(JSON.parse(ascii(bytes, start, end)));
    return out;
  }
}

/** Why the bytes were refused: a grammar error, bytes inside a string that are not UTF-8, or nesting too deep. */
export type JsonErrorCode = 'SYNTAX' | 'UTF8' | 'DEPTH';

export class JsonParseError extends SyntaxError {
  constructor(readonly code: JsonErrorCode, message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'JsonParseError';
  }
}

export const QUOTE = 0x22;
export const COMMA = 0x2c;
export const MINUS = 0x2d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Deeper `data` arrays are left to the ordinary parse (decodeJsonData refuses past 64 levels anyway). */
const MAX_LEAF_DEPTH = 256;

/** Bytes an array of numbers may hold besides brackets: digits, sign, point, exponent, comma, whitespace. */
const NUMBER_ARRAY_BYTE = new Uint8Array(256);
for (const c of '0123456789-+.eE, \t\n\r') NUMBER_ARRAY_BYTE[c.charCodeAt(0)] = 1;

/** 10^0..10^22: every one is an exact double, which makes the fast path of numbers exactly rounded (Clinger). */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const TWO_53 = 2 ** 53;

// ignoreBOM: a U+FEFF inside a string is content, not a mark to drop.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** The leaves of every numeric `data` of one document, one after another; reused by the next document. */
let scratch = new Float64Array(1024);
let scratchUsed = 0;
/** Past this many leaves scratch is dropped when the next document starts, so one huge body does not pin its size. */
const SCRATCH_KEPT = 1 << 16;

function resetScratch(): void {
  scratchUsed = 0;
  if (scratch.length > SCRATCH_KEPT) scratch = new Float64Array(1024);
}

const ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

export function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** Bytes [start, end) known to be ASCII, as a string. */
function ascii(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/**
 * Short ASCII strings last seen, by a hash of their bytes: keys, names and datatypes repeat in every request, and
 * handing back the same string object is cheaper than making one, for the parse and for the property stores (the
 * binary-extension header of bench/json-decode.ts parsed in ≈ 0.5 µs with it, ≈ 1.3 µs without).
 */
const CACHE_SLOTS = 512;
const CACHED_LENGTH = 32;
const cache: string[] = new Array<string>(CACHE_SLOTS).fill('');

function cachedAscii(b: Uint8Array, start: number, end: number, hash: number): string {
  const slot = hash & (CACHE_SLOTS - 1);
  const s = cache[slot];
  if (s.length === end - start) {
    let k = 0;
    while (k < s.length && s.charCodeAt(k) === b[start + k]) k++;
    if (k === s.length) return s;
  }
  const fresh = ascii(b, start, end);
  if (fresh.length <= CACHED_LENGTH) cache[slot] = fresh;
  return fresh;
}

function unexpected(b: Uint8Array, at: number): never {
  if (at >= b.length) throw new JsonParseError('SYNTAX', 'unexpected end of input', at);
  const c = b[at];
  const shown = c > 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
  throw new JsonParseError('SYNTAX', `unexpected ${shown}`, at);
}

/** Where the last scanNumber stopped. */
let numberEnd = 0;
/** Set when a number needed Number(text): more digits or a larger exponent than approxLong takes. */
let longNumbers = false;
/** While a data array is scanned, long numbers are approximated (approxLong) and approxUsed says so. */
let approximating = false;
let approxUsed = false;

/**
 * A decimal of 16–19 significant digits with |exponent| ≤ 22, as (h·10^j + l)·10^e with h < 10^15 and l < 10^4:
 * three roundings, so within 2^-51 of the exact value (and of the double JSON.parse gives). Enough to round to
 * float32 exactly whenever the value is not within 2^-50 of a float32 midpoint (json-tensor.ts checks, and falls
 * back to exact()). NaN when it does not fit. [start, end) is a number the grammar already accepted.
 */
function approxLong(b: Uint8Array, start: number, end: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  let h = 0, l = 0, lDigits = 0, significant = 0, e = 0, fraction = false;
  for (; i < end; i++) {
    const c = b[i];
    if (c === DOT) {
      fraction = true;
      continue;
    }
    const d = c - ZERO;
    if (d >>> 0 > 9) break; // the exponent
    if (fraction) e--;
    if (significant === 0 && d === 0) continue; // leading zeros
    if (significant < 15) h = h * 10 + d;
    else if (significant < 19) {
      l = l * 10 + d;
      lDigits++;
    } else return NaN;
    significant++;
  }
  if (i < end) {
    i++;
    const expNegative = b[i] === MINUS;
    if (expNegative || b[i] === PLUS) i++;
    let x = 0;
    for (; i < end; i++) if ((x = x * 10 + b[i] - ZERO) > 400) return NaN;
    e += expNegative ? -x : x;
  }
  if (e < -22 || e > 22) return NaN;
  const m = h * POW10[lDigits] + l;
  const v = e < 0 ? m / POW10[-e] : m * POW10[e];
  return negative ? -v : v;
}

/**
 * The number starting at `start` (a '-' or a digit), exactly as JSON.parse reads it; sets numberEnd. Here only the
 * common form -?digits[.digits] whose digits make an integer m < 2^53 with at most 22 after the point: m and 10^k
 * are exact doubles, so m / 10^k is one correctly rounded division (Clinger's fast path). It is kept small enough
 * for V8 to inline into the loops, which took the parse of the [1,512] body of bench/json-decode.ts from ≈ 11.5
 * to ≈ 9.4 µs; anything else goes to numberSlow.
 */
function scanNumber(b: Uint8Array, start: number, n: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  const intStart = i;
  let m = 0;
  let d = 0;
  while (i < n && (d = b[i] - ZERO) >>> 0 <= 9) {
    m = m * 10 + d;
    i++;
  }
  if (i === intStart || (b[intStart] === ZERO && i > intStart + 1)) return numberSlow(b, start, n);
  let e = 0;
  if (i < n && b[i] === DOT) {
    const fracStart = ++i;
    while (i < n && (d = b[i] - ZERO) >>> 0 <= 9) {
      m = m * 10 + d;
      i++;
    }
    e = fracStart - i;
    if (e === 0) return numberSlow(b, start, n);
  }
  const exponent = i < n && (b[i] | 0x20) === 0x65;
  if (m >= TWO_53 && approximating && !exponent) {
    // Too many digits for the exact path; the grammar is checked: approximate in one more pass, not two.
    const v = approxLong(b, start, i);
    if (v === v) {
      numberEnd = i;
      approxUsed = true;
      return v;
    }
  }
  if (m >= TWO_53 || e < -22 || exponent) return numberSlow(b, start, n);
  numberEnd = i;
  const v = e < 0 ? m / POW10[-e] : m;
  return negative ? -v : v;
}

/** Any number, with the full grammar's errors: the fast path with exponents too, else Number() on the text. */
function numberSlow(b: Uint8Array, start: number, n: number): number {
  let i = start;
  const negative = b[i] === MINUS;
  if (negative) i++;
  let m = 0;
  let e = 0;
  let d = i < n ? b[i] - ZERO : -1;
  if (d === 0) {
    d = ++i < n ? b[i] - ZERO : -1;
  } else if (d > 0 && d <= 9) {
    do {
      m = m * 10 + d;
      d = ++i < n ? b[i] - ZERO : -1;
    } while (d >>> 0 <= 9);
  } else unexpected(b, i);
  if (d === DOT - ZERO) {
    d = ++i < n ? b[i] - ZERO : -1;
    if (d >>> 0 > 9) unexpected(b, i);
    const fracStart = i;
    do {
      m = m * 10 + d;
      d = ++i < n ? b[i] - ZERO : -1;
    } while (d >>> 0 <= 9);
    e = fracStart - i;
  }
  if (d === 0x65 - ZERO || d === 0x45 - ZERO) {
    d = ++i < n ? b[i] - ZERO : -1;
    const expNegative = d === MINUS - ZERO;
    if (expNegative || d === PLUS - ZERO) d = ++i < n ? b[i] - ZERO : -1;
    if (d >>> 0 > 9) unexpected(b, i);
    let x = 0;
    do {
      x = x * 10 + d;
      d = ++i < n ? b[i] - ZERO : -1;
    } while (d >>> 0 <= 9);
    e += expNegative ? -x : x;
  }
  numberEnd = i;
  if (m < TWO_53 && e >= -22 && e <= 22) {
    const v = e < 0 ? m / POW10[-e] : m * POW10[e];
    return negative ? -v : v;
  }
  if (approximating) {
    const v = approxLong(b, start, i);
    if (v === v) {
      approxUsed = true;
      return v;
    }
  }
  longNumbers = true;
  return Number(ascii(b, start, i));
}

/** The first index from i on that is not JSON whitespace. */
function skipWs(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** Where the array opening at `start` closes, if it holds only brackets and number bytes; else -1. */
function nestedArrayEnd(b: Uint8Array, start: number, n: number): number {
  let depth = 0;
  for (let i = start; i < n; i++) {
    const c = b[i];
    if (c === LBRACKET) {
      if (++depth > MAX_LEAF_DEPTH) return -1;
    } else if (c === RBRACKET) {
      if (--depth === 0) return i;
    } else if (!NUMBER_ARRAY_BYTE[c]) return -1;
  }
  return -1;
}

function push(v: number): void {
  if (scratchUsed === scratch.length) {
    // Views handed out earlier in this document keep the old buffer, whose contents stay as they were.
    const grown = new Float64Array(scratch.length * 2);
    grown.set(scratch);
    scratch = grown;
  }
  scratch[scratchUsed++] = v;
}

function putFlat(a: unknown[]): boolean {
  for (let k = 0; k < a.length; k++) {
    const v = a[k];
    if (typeof v !== 'number') return false;
    push(v);
  }
  return true;
}

function putNested(v: unknown, depth: number): boolean {
  if (!Array.isArray(v)) {
    if (typeof v !== 'number') return false;
    push(v);
    return true;
  }
  for (const x of v) if (!putNested(x, depth + 1)) return false;
  return true;
}

/** Nesting levels of arrays in `v` (1 for a flat array). */
function leafDepth(v: unknown): number {
  if (!Array.isArray(v)) return 0;
  let d = 0;
  for (const x of v) d = Math.max(d, leafDepth(x));
  return d + 1;
}

/** A cursor over the bytes and the token readers; json-body-parser.ts adds the grammar. */
export class JsonLexer {
  protected i = 0;
  protected readonly n: number;

  constructor(protected readonly b: Uint8Array) {
    this.n = b.length;
    resetScratch();
    // TextDecoder drops a leading byte order mark, so the text JSON.parse used to see had none.
    if (this.n >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.i = 3;
  }

  protected fail(code: JsonErrorCode, message: string, at: number): never {
    throw new JsonParseError(code, message, at);
  }

  protected unexpected(at: number): never {
    unexpected(this.b, at);
  }

  protected ws(): void {
    this.i = skipWs(this.b, this.i, this.n);
  }

  /** The byte at the cursor, or -1 at the end. */
  protected peek(): number {
    return this.i < this.n ? this.b[this.i] : -1;
  }

  protected literal<T>(word: string, v: T): T {
    for (let k = 0; k < word.length; k++) {
      const at = this.i + k;
      if (at >= this.n || this.b[at] !== word.charCodeAt(k)) this.unexpected(at);
    }
    this.i += word.length;
    return v;
  }

  /**
   * Scans the array at the cursor as arrays and numbers only, without recursion (so without a depth limit). At
   * the first other token (a string, `true`, a stray comma) it returns undefined with the cursor still at the
   * array's start, so that the ordinary parse builds JS arrays, or reports the error, exactly as it would have.
   */
  protected numericLeaves(): NumericLeaves | undefined {
    longNumbers = false;
    approximating = true;
    approxUsed = false;
    const leaves = this.scanLeaves(this.b, this.n, this.i);
    approximating = false;
    return leaves;
  }

  private scanLeaves(b: Uint8Array, n: number, i: number): NumericLeaves | undefined {
    const start = i;
    let depth = 0;
    let deepest = 0;
    const base = scratchUsed;
    let count = 0;
    scan: for (;;) {
      // At a value.
      let c = i < n ? b[i] : -1;
      if (c === LBRACKET) {
        if (++depth > deepest) deepest = depth;
        i = skipWs(b, i + 1, n);
        if (i >= n || b[i] !== RBRACKET) continue;
        i++;
        depth--;
      } else if (c === MINUS || isDigit(c)) {
        if (base + count === scratch.length) {
          // Views handed out earlier in this document keep the old buffer, whose contents stay as they were.
          const grown = new Float64Array(scratch.length * 2);
          grown.set(scratch);
          scratch = grown;
        }
        scratch[base + count++] = scanNumber(b, i, n);
        // A number past approxLong's reach (over 19 digits, an exponent past ±22) costs a string and Number() here:
        // V8's JSON.parse reads such numbers ~3x faster, so the whole array goes to it.
        if (longNumbers) return this.numericLeavesByJsonParse(base);
        i = numberEnd;
      } else break;
      // After a value: ']' closes arrays, ',' leads to the next value.
      for (;;) {
        if (depth === 0) {
          this.i = i;
          scratchUsed = base + count;
          const source = approxUsed ? { bytes: b, start, end: i } : undefined;
          return new NumericLeaves(scratch.subarray(base, base + count), deepest - 1, source);
        }
        i = skipWs(b, i, n);
        c = i < n ? b[i] : -1;
        i++;
        if (c === COMMA) {
          i = skipWs(b, i, n);
          break;
        }
        if (c !== RBRACKET) break scan;
        depth--;
      }
    }
    return undefined;
  }

  /**
   * The array at the cursor read by JSON.parse, its leaves flattened into the scratch from `base`: exact doubles at
   * V8's speed for long numbers. Undefined when it holds anything but arrays and numbers, or is not valid JSON (the
   * ordinary parse then builds it, or reports the error).
   */
  private numericLeavesByJsonParse(base: number): NumericLeaves | undefined {
    const b = this.b;
    const start = this.i;
    const close = b.indexOf(RBRACKET, start);
    const inner = b.indexOf(LBRACKET, start + 1);
    const flat = close !== -1 && (inner === -1 || inner > close);
    const end = flat ? close : nestedArrayEnd(b, start, this.n);
    if (end === -1) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(ascii(b, start, end + 1));
    } catch {
      return undefined;
    }
    const before = scratchUsed;
    scratchUsed = base;
    const ok = flat ? putFlat(parsed as unknown[]) : putNested(parsed, 0);
    if (!ok) {
      scratchUsed = before;
      return undefined;
    }
    const leaves = new NumericLeaves(scratch.subarray(base, scratchUsed), flat ? 0 : leafDepth(parsed) - 1);
    this.i = end + 1;
    return leaves;
  }

  protected number(): number {
    const v = scanNumber(this.b, this.i, this.n);
    this.i = numberEnd;
    return v;
  }

  protected string(): string {
    const b = this.b;
    const start = this.i + 1;
    let hash = 0;
    for (let i = start; i < this.n; i++) {
      const c = b[i];
      if (c === QUOTE) {
        this.i = i + 1;
        return cachedAscii(b, start, i, hash);
      }
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return this.slowString(start);
      hash = (Math.imul(hash, 31) + c) | 0;
    }
    this.unexpected(this.n);
  }

  /** A string with escapes or non-ASCII bytes: runs of plain bytes decoded as UTF-8, escapes in between. */
  protected slowString(start: number): string {
    const b = this.b;
    let out = '';
    let run = start;
    let wide = false;
    let i = start;
    while (i < this.n) {
      const c = b[i];
      if (c === QUOTE || c === BACKSLASH) {
        if (run < i) out += wide ? this.utf8(run, i) : ascii(b, run, i);
        if (c === QUOTE) {
          this.i = i + 1;
          return out;
        }
        out += this.escape(i);
        i += b[i + 1] === 0x75 ? 6 : 2;
        run = i;
        wide = false;
      } else if (c < 0x20) {
        this.fail('SYNTAX', `unescaped control character 0x${c.toString(16).padStart(2, '0')} in a string`, i);
      } else {
        if (c >= 0x80) wide = true;
        i++;
      }
    }
    this.unexpected(this.n);
  }

  protected utf8(start: number, end: number): string {
    try {
      return utf8.decode(this.b.subarray(start, end));
    } catch {
      this.fail('UTF8', 'invalid UTF-8 in a string', start);
    }
  }

  /** The escape whose backslash is at i, as the code unit it stands for (surrogates pair up by concatenation). */
  protected escape(i: number): string {
    if (i + 1 >= this.n) this.unexpected(this.n);
    const c = this.b[i + 1];
    if (c !== 0x75) {
      const s = ESCAPES[c];
      if (s === undefined) this.fail('SYNTAX', 'bad escape', i);
      return s;
    }
    let unit = 0;
    for (let k = i + 2; k < i + 6; k++) {
      const h = k < this.n ? hexValue(this.b[k]) : -1;
      if (h < 0) {
        if (k >= this.n) this.unexpected(this.n);
        this.fail('SYNTAX', 'bad \\u escape', i);
      }
      unit = unit * 16 + h;
    }
    return String.fromCharCode(unit);
  }
}
