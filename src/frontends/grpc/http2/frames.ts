/** HTTP/2 frame layout (RFC 9113 §4.1, §6): types, flags, error codes, settings, and the encoders the server uses. */

export const FRAME_HEADER_BYTES = 9;
/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** SETTINGS_MAX_FRAME_SIZE's default, which the server keeps for what it receives. */
export const DEFAULT_MAX_FRAME = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes (RFC 9113 §7). */
export const H2Error = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

export function writeFrameHeader(buf: Buffer, off: number, length: number, type: number, flags: number, stream: number): number {
  buf[off] = length >>> 16;
  buf[off + 1] = (length >>> 8) & 0xff;
  buf[off + 2] = length & 0xff;
  buf[off + 3] = type;
  buf[off + 4] = flags;
  buf.writeUInt32BE(stream, off + 5);
  return off + FRAME_HEADER_BYTES;
}

export function frame(type: number, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const len = payload?.length ?? 0;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  writeFrameHeader(buf, 0, len, type, flags, stream);
  if (payload) buf.set(payload, FRAME_HEADER_BYTES);
  return buf;
}

export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, stream);
  buf.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return buf;
}

export function rstStreamFrame(stream: number, code: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.RST_STREAM, 0, stream);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return buf;
}

export function goawayFrame(lastStream: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStream, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** Bytes of a header block sent as HEADERS plus CONTINUATIONs of at most `maxFrame` payload bytes each. */
export function headerFramesBytes(blockBytes: number, maxFrame: number): number {
  return blockBytes + FRAME_HEADER_BYTES * Math.max(1, Math.ceil(blockBytes / maxFrame));
}

/** Writes a header block as HEADERS (+ CONTINUATIONs) at `off`; returns the offset after it. */
export function writeHeaderFrames(buf: Buffer, off: number, stream: number, block: Buffer, endStream: boolean, maxFrame: number): number {
  let start = 0;
  let first = true;
  do {
    const len = Math.min(maxFrame, block.length - start);
    const last = start + len === block.length;
    const flags = (first && endStream ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0);
    off = writeFrameHeader(buf, off, len, first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream);
    block.copy(buf, off, start, start + len);
    off += len;
    start += len;
    first = false;
  } while (start < block.length);
  return off;
}
