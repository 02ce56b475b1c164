// OCR step 5 (JS model): greedy CTC decoding of the recognizer's per-step character probabilities.
//   probs      FP32  [N, T, C]  C = 6625: index 0 is the CTC blank, 1..6623 the lines of ppocr_keys_v1.txt, 6624 ' '
//   line_boxes FP32  [N, 4]     the boxes the crops came from
//   text       BYTES [M]        UTF-8, one element per line kept, in the boxes' order
//   boxes      FP32  [M, 4]     the boxes of the lines kept
// A line is kept when it decodes to something and its mean character probability reaches min_score: detections
// that are not text (noise, rules, pictures) decode to low-confidence garbage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let charset = [];
let minScore = 0.5;
const encoder = new TextEncoder();

export function initialize(context) {
  const file = context.config.parameters?.characters?.string_value ?? 'ppocr_keys_v1.txt';
  const keys = readFileSync(join(context.versionDir, file), 'utf8').replace(/\r?\n$/, '').split(/\r?\n/);
  charset = ['', ...keys, ' '];
  const s = context.config.parameters?.min_score?.string_value;
  if (s !== undefined) minScore = Number(s);
}

/** Greedy CTC over one line: best class per step, repeats merged, blanks dropped. */
export function decodeLine(probs, offset, steps, classes) {
  let text = '';
  let sum = 0;
  let count = 0;
  let prev = 0;
  for (let t = 0; t < steps; t++) {
    const base = offset + t * classes;
    let best = 0;
    let bestP = probs[base];
    for (let c = 1; c < classes; c++) {
      if (probs[base + c] > bestP) {
        bestP = probs[base + c];
        best = c;
      }
    }
    if (best !== 0 && best !== prev) {
      text += charset[best] ?? '';
      sum += bestP;
      count++;
    }
    prev = best;
  }
  return { text: text.trim(), score: count === 0 ? 0 : sum / count };
}

export function execute(inputs) {
  const probs = inputs.find((t) => t.name === 'probs');
  const lineBoxes = inputs.find((t) => t.name === 'line_boxes');
  const [n, steps, classes] = probs.shape;
  if (classes !== charset.length) {
    throw new Error(`probs has ${classes} classes but the character list has ${charset.length} (blank + keys + space)`);
  }
  const text = [];
  const boxes = [];
  for (let i = 0; i < n; i++) {
    const line = decodeLine(probs.data, i * steps * classes, steps, classes);
    if (line.text === '' || line.score < minScore) continue;
    text.push(encoder.encode(line.text));
    boxes.push(...lineBoxes.data.subarray(i * 4, i * 4 + 4));
  }
  return [
    { name: 'text', datatype: 'BYTES', shape: [text.length], data: text },
    { name: 'boxes', datatype: 'FP32', shape: [text.length, 4], data: Float32Array.from(boxes) },
  ];
}
