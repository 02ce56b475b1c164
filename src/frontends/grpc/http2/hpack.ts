/**
 * HPACK (RFC 7541): the decoder for request header blocks, with its dynamic table, and the few encodings the server
 * sends (plain literals "without indexing", so it keeps no encoder table and the peer's table size does not matter).
 * One decoder per connection: header blocks must be decoded in the order they arrive, every one of them (even a
 * refused stream's), or the table drifts from the client's.
 */
import { HuffmanError, huffmanDecode } from './huffman.js';

/** RFC 7541 Appendix A: index 1..61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** A header block that cannot be decoded: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {}

/** A decoded header list: names and values as latin1 strings, in order. */
export interface HeaderList {
  readonly names: string[];
  readonly values: string[];
  /** RFC 9113 §6.5.2's size: each field's name and value octets plus 32 (counted in full past `maxSize`). */
  readonly size: number;
  /** The list was larger than `maxSize`: fields past it were decoded (for the table) but not kept. */
  readonly oversized: boolean;
}

export class HpackDecoder {
  /** The dynamic table, newest first (RFC 7541 §2.3.2: index 62 is the newest). */
  private readonly entries: [string, string][] = [];
  private size = 0;
  /** The table's current bound: the client lowers it with size updates, up to `limit`. */
  private capacity: number;

  /** `limit`: our SETTINGS_HEADER_TABLE_SIZE (the default 4096 unless we announced another). */
  constructor(private readonly limit = 4096) {
    this.capacity = limit;
  }

  /** The table's size in RFC 7541 §4.1's measure (tests). */
  get tableSize(): number {
    return this.size;
  }

  /** The dynamic table, newest first (tests). */
  get table(): readonly (readonly [string, string])[] {
    return this.entries;
  }

  /**
   * Decodes one complete header block (HEADERS plus its CONTINUATIONs). Throws HpackError. Past `maxSize` octets of
   * header list the fields are no longer kept (a few bytes of indexed references can name kilobytes), but the
   * block is still decoded to the end so the dynamic table stays in step with the client's.
   */
  decode(block: Uint8Array, maxSize = Infinity): HeaderList {
    const names: string[] = [];
    const values: string[] = [];
    let size = 0;
    let pos = 0;
    let fieldsSeen = false;
    const end = block.length;
    while (pos < end) {
      const b = block[pos];
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed field (§6.1).
        const [index, next] = readInt(block, pos, 7);
        pos = next;
        [name, value] = this.lookup(index);
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (fieldsSeen) throw new HpackError('dynamic table size update after a header field');
        const [max, next] = readInt(block, pos, 5);
        pos = next;
        if (max > this.limit) throw new HpackError(`dynamic table size update to ${max} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.limit}`);
        this.capacity = max;
        this.evict(0);
        continue;
      } else {
        // Literal (§6.2): with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const [index, next] = readInt(block, pos, indexing ? 6 : 4);
        pos = next;
        if (index === 0) {
          [name, pos] = readString(block, pos);
        } else {
          name = this.lookup(index)[0];
        }
        [value, pos] = readString(block, pos);
        if (indexing) this.add(name, value);
      }
      fieldsSeen = true;
      size += name.length + value.length + 32;
      if (size <= maxSize) {
        names.push(name);
        values.push(value);
      }
    }
    return { names, values, size, oversized: size > maxSize };
  }

  private lookup(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    const e = this.entries[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`header index ${index} is past the tables (dynamic table holds ${this.entries.length})`);
    return e;
  }

  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + 32;
    // §4.4: an entry larger than the table empties it and is not added.
    this.evict(entrySize);
    if (entrySize > this.capacity) return;
    this.entries.unshift([name, value]);
    this.size += entrySize;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.capacity) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

/** An integer with an N-bit prefix (§5.1): [value, next position]. Bounded to 2^28 (no header needs more). */
function readInt(src: Uint8Array, pos: number, prefixBits: number): [number, number] {
  const max = (1 << prefixBits) - 1;
  let value = src[pos++] & max;
  if (value < max) return [value, pos];
  let shift = 0;
  for (;;) {
    if (pos >= src.length) throw new HpackError('header block ends inside an integer');
    const b = src[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
    if (shift > 21) throw new HpackError('integer over 2^28 in a header block');
  }
  return [value, pos];
}

/** A string literal (§5.2), Huffman-coded or not: [latin1 text, next position]. */
function readString(src: Uint8Array, pos: number): [string, number] {
  if (pos >= src.length) throw new HpackError('header block ends before a string literal');
  const huffman = (src[pos] & 0x80) !== 0;
  const [len, start] = readInt(src, pos, 7);
  const end = start + len;
  if (end > src.length) throw new HpackError(`string literal of ${len} octets runs past the header block`);
  if (!huffman) return [latin1(src, start, end), end];
  try {
    return [huffmanDecode(src, start, end), end];
  } catch (err) {
    if (err instanceof HuffmanError) throw new HpackError(err.message);
    throw err;
  }
}

function latin1(src: Uint8Array, start: number, end: number): string {
  return Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('latin1');
}

// ---- Encoding: the server's own header blocks -------------------------------------------------------------------

/** An integer with an N-bit prefix whose first byte carries `flags` in its high bits. */
function writeInt(out: number[], value: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function writeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  writeInt(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => { if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1); });

/**
 * Encodes header fields as literals without indexing (§6.2.2), names from the static table where it has them; a
 * `:status 200` as its static index. Names must be lowercase (RFC 9113 §8.2.1); values latin1 without CR/LF/NUL.
 */
export function encodeHeaders(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    if (name === ':status' && value === '200') {
      out.push(0x88);
      continue;
    }
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) writeInt(out, index, 4, 0);
    else {
      out.push(0);
      writeString(out, name);
    }
    writeString(out, value);
  }
  return Buffer.from(out);
}
