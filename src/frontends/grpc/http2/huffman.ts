/**
 * HPACK's Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical: codes of one length are consecutive, in
 * symbol order, and each length's first code follows the previous length's last. So the table is its code lengths
 * alone (one per symbol 0–255, then EOS = 256), and the codes are rebuilt from them at load; the RFC's Huffman-coded
 * examples (Appendix C.4, C.6) check both in test/grpc/http2-hpack.test.ts.
 */

/** Code length in bits of each symbol 0..256, from RFC 7541 Appendix B. */
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0–31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //  !"#$%&'()*+,-./
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0-9 :;<=>?
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // @A-O
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // P-Z [\]^_
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // `a-o
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // p-z {|}~ DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128–143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144–159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160–175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176–191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192–207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208–223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224–239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240–255
  30, // EOS
];

const EOS = 256;

/**
 * The decoding tree as a flat array: node n's children are TREE[2n] (bit 0) and TREE[2n + 1] (bit 1); a child
 * ≥ 0 is an inner node, -1 - s is the leaf of symbol s, 0 (never a child: node 0 is the root) is no code.
 */
const TREE: Int32Array = (() => {
  const order = LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  let code = 0;
  let prevLen = order[0].len;
  for (const { len, sym } of order) {
    code <<= len - prevLen;
    prevLen = len;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) tree[slot] = -1 - sym;
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
    code++;
  }
  return tree;
})();

/** Why a Huffman string is malformed (RFC 7541 §5.2: EOS inside, padding over 7 bits or not all ones). */
export class HuffmanError extends Error {}

/** Decodes a Huffman-coded string literal into latin1 (header octets, one char per byte). */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  const out: number[] = [];
  let node = 0;
  /** Bits read since the last symbol, and whether all were ones (valid padding is a prefix of EOS: all ones). */
  let pending = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = TREE[2 * node + b];
      pending++;
      if (b === 0) allOnes = false;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === EOS) throw new HuffmanError('EOS symbol inside a Huffman-coded string');
        out.push(sym);
        node = 0;
        pending = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HuffmanError('no Huffman code matches');
      } else node = next;
    }
  }
  if (pending > 7 || !allOnes) throw new HuffmanError('Huffman padding longer than 7 bits or not the EOS prefix');
  return String.fromCharCode.apply(null, out);
}

/** Huffman-encodes latin1 text (tests and clients; the server's own headers go out as plain literals). */
export function huffmanEncode(s: string): Buffer {
  const codes = CODES;
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = LENGTHS[sym];
    // Codes reach 30 bits: feed them in halves so `acc` stays within 31 bits.
    const code = codes[sym];
    for (let left = len; left > 0;) {
      const take = Math.min(left, 16);
      acc = (acc << take) | ((code >>> (left - take)) & ((1 << take) - 1));
      bits += take;
      left -= take;
      while (bits >= 8) {
        bits -= 8;
        bytes.push((acc >>> bits) & 0xff);
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}

const CODES: Uint32Array = (() => {
  const order = LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const codes = new Uint32Array(257);
  let code = 0;
  let prevLen = order[0].len;
  for (const { len, sym } of order) {
    code = (code * 2 ** (len - prevLen)) >>> 0;
    prevLen = len;
    codes[sym] = code;
    code++;
  }
  return codes;
})();

/** The code of a symbol (tests check it against RFC 7541 Appendix B's listing). */
export function huffmanCode(sym: number): { code: number; bits: number } {
  return { code: CODES[sym], bits: LENGTHS[sym] };
}
