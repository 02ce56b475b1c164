// OCR step 3 (JS model): text boxes from the detector's probability map, then one crop per box for the recognizer.
//   rgb    UINT8 [H, W, 3]        the decoded image (from ocr_decode)
//   prob   FP32  [1, 1, h, w]     the detector's text probability per pixel of its (resized) input
//   crops  FP32  [N, 3, 48, Wmax] each box resized to height 48 (aspect kept), (x/255 − 0.5)/0.5, right-padded with 0
//   boxes  FP32  [N, 4]           x0 y0 x1 y1 in pixels of the original image, in reading order (top to bottom,
//                                 then left to right within a row)
// Boxes are axis-aligned (horizontal text): connected regions of prob > threshold, kept when their mean probability
// exceeds box_threshold, then grown by area·unclip_ratio/perimeter on each side as DB post-processing does.
// An image without text gives one blank crop with box [0, 0, 0, 0] (the recognizer refuses zero crops); ocr_ctc drops it.

import sharp from 'sharp';

const HEIGHT = 48;
let threshold = 0.3;
let boxThreshold = 0.6;
// 2.0 rather than DB's usual 1.5: axis-aligned boxes of the shrunk text kernel need the extra margin (measured: with 1.5
// the recognizer dropped the spaces of 'Hello world 2026' rendered at 28 px; with 2.0 it read them).
let unclipRatio = 2.0;
// Width cap (20:1 at height 48) and line cap keep the recognizer's output [N, W/8, 6625] under the server's default
// tensor limit (64 M elements): 64 lines × 120 steps × 6625 = 51 M.
let maxWidth = 960;
let maxLines = 64;

function param(config, key, fallback) {
  const v = config.parameters?.[key]?.string_value;
  return v === undefined ? fallback : Number(v);
}

export function initialize(context) {
  threshold = param(context.config, 'threshold', threshold);
  boxThreshold = param(context.config, 'box_threshold', boxThreshold);
  unclipRatio = param(context.config, 'unclip_ratio', unclipRatio);
  maxWidth = param(context.config, 'max_crop_width', maxWidth);
  maxLines = param(context.config, 'max_lines', maxLines);
}

/** Boxes [x0, y0, x1, y1] in probability-map pixels (inclusive-exclusive), one per connected text region. */
export function findBoxes(prob, w, h) {
  const label = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  const boxes = [];
  for (let start = 0; start < w * h; start++) {
    if (label[start] !== 0 || prob[start] <= threshold) continue;
    // Flood fill (4-connected) with an explicit stack; label = region index + 1.
    const id = boxes.length + 1;
    let top = 0;
    stack[top++] = start;
    label[start] = id;
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    while (top > 0) {
      const p = stack[--top];
      const x = p % w;
      const y = (p - x) / w;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (x > 0 && label[p - 1] === 0 && prob[p - 1] > threshold) { label[p - 1] = id; stack[top++] = p - 1; }
      if (x < w - 1 && label[p + 1] === 0 && prob[p + 1] > threshold) { label[p + 1] = id; stack[top++] = p + 1; }
      if (y > 0 && label[p - w] === 0 && prob[p - w] > threshold) { label[p - w] = id; stack[top++] = p - w; }
      if (y < h - 1 && label[p + w] === 0 && prob[p + w] > threshold) { label[p + w] = id; stack[top++] = p + w; }
    }
    boxes.push([x0, y0, x1 + 1, y1 + 1]);
  }
  const kept = [];
  for (const [x0, y0, x1, y1] of boxes) {
    const bw = x1 - x0;
    const bh = y1 - y0;
    if (Math.min(bw, bh) < 3) continue;
    let sum = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += prob[y * w + x];
    if (sum / (bw * bh) < boxThreshold) continue;
    const d = (bw * bh * unclipRatio) / (2 * (bw + bh));
    kept.push([Math.max(0, x0 - d), Math.max(0, y0 - d), Math.min(w, x1 + d), Math.min(h, y1 + d)]);
  }
  return kept;
}

/** Reading order: rows top to bottom (boxes whose vertical centers are within half a line height share a row). */
export function readingOrder(boxes) {
  const byTop = [...boxes].sort((a, b) => a[1] + a[3] - (b[1] + b[3]));
  const rows = [];
  for (const b of byTop) {
    const cy = (b[1] + b[3]) / 2;
    const row = rows.at(-1);
    if (row && Math.abs(cy - row.cy) < (b[3] - b[1]) / 2) row.boxes.push(b);
    else rows.push({ cy, boxes: [b] });
  }
  return rows.flatMap((r) => r.boxes.sort((a, b) => a[0] - b[0]));
}

/** Cuts the box out of the RGB image and resizes it to `outW` × 48 with sharp, written as CHW into `out`. */
async function cropResize(rgb, W, H, box, outW, out, offset, stride) {
  const left = Math.max(0, Math.floor(box[0]));
  const top = Math.max(0, Math.floor(box[1]));
  const width = Math.max(1, Math.min(W, Math.ceil(box[2])) - left);
  const height = Math.max(1, Math.min(H, Math.ceil(box[3])) - top);
  const px = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .extract({ left, top, width, height })
    .resize(outW, HEIGHT, { fit: 'fill' })
    .raw()
    .toBuffer();
  const plane = HEIGHT * stride;
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < outW; x++) {
      const i = (y * outW + x) * 3;
      for (let c = 0; c < 3; c++) out[offset + c * plane + y * stride + x] = (px[i + c] / 255 - 0.5) / 0.5;
    }
  }
}

export async function execute(inputs) {
  const rgbT = inputs.find((t) => t.name === 'rgb');
  const probT = inputs.find((t) => t.name === 'prob');
  const [H, W] = rgbT.shape;
  const [, , h, w] = probT.shape;
  const sx = W / w;
  const sy = H / h;
  const boxes = readingOrder(findBoxes(probT.data, w, h))
    .map(([x0, y0, x1, y1]) => [x0 * sx, y0 * sy, x1 * sx, y1 * sy])
    .filter(([x0, y0, x1, y1]) => x1 - x0 >= 2 && y1 - y0 >= 2)
    .slice(0, maxLines);
  // The recognizer cannot run on zero crops: an image without text sends one blank crop, which decodes to nothing
  // and is dropped by ocr_ctc.
  if (boxes.length === 0) boxes.push([0, 0, 0, 0]);
  const widths = boxes.map(([x0, y0, x1, y1]) =>
    x1 <= x0 ? 8 : Math.max(8, Math.min(maxWidth, Math.ceil((HEIGHT * (x1 - x0)) / (y1 - y0)))));
  // The recognizer downsamples width by 8: pad to a multiple of 8 so every column maps to a time step.
  const stride = Math.max(8, Math.ceil(Math.max(0, ...widths) / 8) * 8);
  const per = 3 * HEIGHT * stride;
  const crops = new Float32Array(boxes.length * per);
  await Promise.all(boxes.map((box, i) => (box[2] > box[0] ? cropResize(rgbT.data, W, H, box, widths[i], crops, i * per, stride) : undefined)));
  const flat = new Float32Array(boxes.length * 4);
  boxes.forEach((b, i) => flat.set(b, i * 4));
  return [
    { name: 'crops', datatype: 'FP32', shape: [boxes.length, 3, HEIGHT, stride], data: crops },
    { name: 'boxes', datatype: 'FP32', shape: [boxes.length, 4], data: flat },
  ];
}
