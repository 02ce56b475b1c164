// OCR step 1 (JS model): decode one PNG/JPEG, keep its RGB pixels for cropping, and make the detector's input.
//   image     BYTES [1]            the encoded file: raw bytes (binary tensor data, in-process calls) or its base64
//                                  text, optionally as a data: URL (JSON requests, where BYTES elements are strings)
//   rgb       UINT8 [H, W, 3]      decoded pixels (EXIF-rotated, alpha flattened on white)
//   det_input FP32  [1, 3, h, w]   resized so the longer side is at most limit_side_len, both sides multiples of 32,
//                                  RGB in [0,1] normalized with ImageNet mean/std (what PP-OCRv4 det was trained on)
import sharp from 'sharp';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

let limitSideLen = 960;
// 16 Mpx: its RGB tensor (48 M elements) stays under the server's default tensor limit (64 M elements).
let maxInputPixels = 16_000_000;

/** An error whose code the server keeps (a bad image is the client's fault, not the server's). */
function badInput(message) {
  return Object.assign(new Error(message), { code: 'INVALID_ARGUMENT' });
}

function param(config, key, fallback) {
  const v = config.parameters?.[key]?.string_value;
  return v === undefined ? fallback : Number(v);
}

export function initialize(context) {
  limitSideLen = param(context.config, 'limit_side_len', limitSideLen);
  maxInputPixels = param(context.config, 'max_input_pixels', maxInputPixels);
}

/** Detector input size: longer side ≤ limit, each side rounded to a multiple of 32 (at least 32). */
export function detectorSize(width, height, limit) {
  const ratio = Math.max(width, height) > limit ? limit / Math.max(width, height) : 1;
  const round32 = (v) => Math.max(32, Math.round((v * ratio) / 32) * 32);
  return { w: round32(width), h: round32(height) };
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The encoded image: the bytes as they are when they start like a PNG or JPEG, else decoded from base64 text. */
export function imageBytes(bytes) {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (png || jpeg || bytes.length > 4 * maxInputPixels) return bytes;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').trim()
    .replace(/^data:image\/[a-z]+;base64,/, '').replace(/\s+/g, '');
  return BASE64.test(text) ? Buffer.from(text, 'base64') : bytes;
}

export async function execute(inputs) {
  const image = inputs.find((t) => t.name === 'image');
  if (!image || image.data.length !== 1) throw badInput('image: expected exactly one encoded PNG or JPEG');
  let rgb;
  let info;
  try {
    ({ data: rgb, info } = await sharp(imageBytes(image.data[0]), { limitInputPixels: maxInputPixels, failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw badInput(`image: not a decodable PNG or JPEG (${err.message})`);
  }
  if (info.channels !== 3) throw badInput(`image: decoded to ${info.channels} channels, expected 3`);
  const { width, height } = info;
  const { w, h } = detectorSize(width, height, limitSideLen);
  const small = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .resize(w, h, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  const plane = w * h;
  const det = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) det[c * plane + i] = (small[i * 3 + c] / 255 - MEAN[c]) / STD[c];
  }
  return [
    { name: 'rgb', datatype: 'UINT8', shape: [height, width, 3], data: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length) },
    { name: 'det_input', datatype: 'FP32', shape: [1, 3, h, w], data: det },
  ];
}
