/**
 * Tensor codecs shared by every transport (HTTP's binary extension, gRPC's raw contents): the binary tensor layout
 * with BYTES as 4-byte little-endian length + bytes, and IEEE half precision for FP16 in JSON.
 */
export { decodeBinaryData, encodeBinaryData, writeBinaryData } from './binary-tensor.js';
export { fromHalfBits, toHalfBits } from './float16.js';
