/**
 * A strict JSON (RFC 8259) parser over UTF-8 bytes, for request bodies: it gives what JSON.parse gives on the
 * decoded text, except that the value of a key `data` made only of arrays and numbers comes back as NumericLeaves
 * (the numbers flattened into a Float64Array) instead of JS arrays, so no array of boxed numbers is built.
 */
import { COMMA, JsonLexer, LBRACKET, MINUS, QUOTE, RBRACKET, isDigit } from './json-lexer.js';

export { JsonParseError, type JsonErrorCode, NumericLeaves } from './json-lexer.js';

/** The parser's nesting limit (objects and arrays), so that a hostile body cannot overflow the stack. */
export const MAX_JSON_DEPTH = 256;

const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

class Parser extends JsonLexer {
  /** See peekLeadingParameters. */
  leadingParameters(): Record<string, unknown> | undefined {
    this.ws();
    if (this.peek() !== LBRACE) return undefined;
    this.i++;
    for (;;) {
      this.ws();
      if (this.peek() !== QUOTE) return undefined;
      const key = this.string();
      this.ws();
      if (this.peek() !== COLON) return undefined;
      this.i++;
      this.ws();
      if (key === 'parameters') {
        const v = this.peek() === LBRACE ? this.object(1) : undefined;
        return v;
      }
      if (key !== 'id' || this.peek() !== QUOTE) return undefined; // a key whose value may be large: stop
      this.string();
      this.ws();
      if (this.peek() !== COMMA) return undefined;
      this.i++;
    }
  }

  document(): unknown {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i < this.n) this.unexpected(this.i);
    return v;
  }

  private value(depth: number): unknown {
    const c = this.peek();
    if (c === QUOTE) return this.string();
    if (c === MINUS || isDigit(c)) return this.number();
    if (c === LBRACE) return this.object(depth + 1);
    if (c === LBRACKET) return this.array(depth + 1);
    if (c === 0x74) return this.literal('true', true);
    if (c === 0x66) return this.literal('false', false);
    if (c === 0x6e) return this.literal('null', null);
    this.unexpected(this.i);
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_JSON_DEPTH) this.fail('DEPTH', `nesting deeper than ${MAX_JSON_DEPTH} levels`, this.i);
    const obj: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.peek() === RBRACE) {
      this.i++;
      return obj;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.unexpected(this.i);
      const key = this.string();
      this.ws();
      if (this.peek() !== COLON) this.unexpected(this.i);
      this.i++;
      this.ws();
      const v = key === 'data' && this.peek() === LBRACKET ? (this.numericLeaves() ?? this.value(depth)) : this.value(depth);
      // Assigning '__proto__' would set the prototype; JSON.parse makes it an own property.
      if (key === '__proto__') Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
      else obj[key] = v;
      this.ws();
      const c = this.peek();
      this.i++;
      if (c === RBRACE) return obj;
      if (c !== COMMA) this.unexpected(this.i - 1);
      this.ws();
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_JSON_DEPTH) this.fail('DEPTH', `nesting deeper than ${MAX_JSON_DEPTH} levels`, this.i);
    const arr: unknown[] = [];
    this.i++;
    this.ws();
    if (this.peek() === RBRACKET) {
      this.i++;
      return arr;
    }
    for (;;) {
      arr.push(this.value(depth));
      this.ws();
      const c = this.peek();
      this.i++;
      if (c === RBRACKET) return arr;
      if (c !== COMMA) this.unexpected(this.i - 1);
      this.ws();
    }
  }
}

/**
 * The request-level `parameters` object when it comes before any tensor in the body (after at most an `id`), as
 * Triton's clients write it — read without touching the rest, so that admission can judge a request by its priority
 * and timeout before its tensors are parsed. Undefined when the body puts them later (or is malformed: the full
 * parse says why). A body with `parameters` twice is judged by the first here, and run with the last (JSON.parse's).
 */
export function peekLeadingParameters(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    return new Parser(bytes).leadingParameters();
  } catch {
    return undefined;
  }
}

/**
 * Parses the bytes as one JSON document (a leading byte order mark is skipped, as TextDecoder does). Throws
 * JsonParseError, whose message says what and at which byte offset.
 */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  return new Parser(bytes).document();
}
