/**
 * Rules of RFC 9113 that need no connection state: the error that ends a connection, a frame's padding, HEADERS'
 * priority fields, a SETTINGS frame's values, and a header block gathered over CONTINUATION frames with its size bounded before decoding.
 */
import { DEFAULT_MAX_FRAME, Flag, H2Error, MAX_WINDOW, Setting } from './frames.js';

/** A violation that ends the connection (GOAWAY with `code`). */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** A frame's payload without its padding (PADDED flag: a pad-length byte first, §6.1). */
export function unpad(flags: number, payload: Buffer, what: string): Buffer {
  if (!(flags & Flag.PADDED)) return payload;
  if (payload.length < 1 || payload[0] >= payload.length) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `${what}: padding as long as the frame`);
  return payload.subarray(1, payload.length - payload[0]);
}

/** A HEADERS frame's header block fragment: padding and the priority fields (ignored) removed (§6.2). */
export function headersFragment(flags: number, payload: Buffer): Buffer {
  const fragment = unpad(flags, payload, 'HEADERS');
  if (!(flags & Flag.PRIORITY)) return fragment;
  if (fragment.length < 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS too short for its priority fields');
  return fragment.subarray(5);
}

/**
 * A header block in progress: HEADERS without END_HEADERS, then CONTINUATIONs. Bounded before decoding at twice the
 * header list limit (Huffman can expand a list) plus a frame: past it, ENHANCE_YOUR_CALM.
 */
export class HeaderBlock {
  private readonly parts: Buffer[] = [];
  private bytes = 0;
  private readonly max: number;

  constructor(readonly stream: number, readonly endStream: boolean, first: Buffer, maxHeaderListSize: number) {
    this.max = 2 * maxHeaderListSize + DEFAULT_MAX_FRAME;
    this.add(first);
  }

  /** A fragment (copied: the socket's buffer moves on). */
  add(fragment: Buffer): void {
    this.parts.push(Buffer.from(fragment));
    this.bytes += fragment.length;
    if (this.bytes > this.max) throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `a header block of over ${this.max} bytes`);
  }

  whole(): Buffer {
    return Buffer.concat(this.parts, this.bytes);
  }
}

/** What the server uses of a client's SETTINGS (§6.5.2), each checked; HEADER_TABLE_SIZE and the rest are not needed. */
export function readSettings(payload: Buffer): { initialWindow?: number; maxFrame?: number } {
  if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `SETTINGS of ${payload.length} bytes (not a multiple of 6)`);
  const out: { initialWindow?: number; maxFrame?: number } = {};
  for (let off = 0; off < payload.length; off += 6) {
    const key = payload.readUInt16BE(off);
    const value = payload.readUInt32BE(off + 2);
    if (key === Setting.ENABLE_PUSH && value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
    if (key === Setting.INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value}`);
      out.initialWindow = value;
    }
    if (key === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
      out.maxFrame = value;
    }
  }
  return out;
}
