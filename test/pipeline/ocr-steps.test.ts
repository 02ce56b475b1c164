/** The OCR example's JS steps as functions, on inputs small enough to know the answer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const repo = join(import.meta.dirname, '..', '..', 'examples', 'model_repository');
const load = async <T>(model: string): Promise<T> => (await import(pathToFileURL(join(repo, model, '1', 'model.mjs')).href)) as T;

type Box = [number, number, number, number];
const crop = await load<{
  initialize(c: unknown): void;
  findBoxes(prob: Float32Array, w: number, h: number): Box[];
  readingOrder(boxes: Box[]): Box[];
}>('ocr_crop');
const ctc = await load<{
  initialize(c: unknown): void;
  decodeLine(probs: Float32Array, offset: number, steps: number, classes: number): { text: string; score: number };
}>('ocr_ctc');
const decode = await load<{ detectorSize(w: number, h: number, limit: number): { w: number; h: number }; imageBytes(b: Uint8Array): Uint8Array }>('ocr_decode');

crop.initialize({ config: { parameters: {} } });
ctc.initialize({ config: { parameters: {} }, versionDir: join(repo, 'ocr_ctc', '1') });

test('detector input size: longer side at most the limit, both multiples of 32', () => {
  assert.deepEqual(decode.detectorSize(640, 120, 960), { w: 640, h: 128 });
  assert.deepEqual(decode.detectorSize(3000, 1000, 960), { w: 960, h: 320 });
  assert.deepEqual(decode.detectorSize(10, 5, 960), { w: 32, h: 32 });
});

test('base64 text (and data: URLs) become the image bytes; real PNG bytes pass as they are', () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  assert.equal(decode.imageBytes(png), png);
  const b64 = new TextEncoder().encode(Buffer.from(png).toString('base64'));
  assert.deepEqual([...decode.imageBytes(b64)], [...png]);
  const url = new TextEncoder().encode(`data:image/png;base64,${Buffer.from(png).toString('base64')}`);
  assert.deepEqual([...decode.imageBytes(url)], [...png]);
});

test('boxes: one per text region with enough mean probability, grown by the unclip margin, in reading order', () => {
  const w = 100;
  const h = 40;
  const prob = new Float32Array(w * h);
  const fill = (x0: number, y0: number, x1: number, y1: number, p: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) prob[y * w + x] = p;
  };
  fill(60, 5, 90, 11, 0.9); // right, first row
  fill(5, 6, 40, 12, 0.9); // left, first row
  fill(5, 25, 50, 31, 0.9); // second row
  fill(70, 25, 80, 31, 0.45); // above the 0.3 threshold but mean below 0.6: not text
  fill(90, 35, 92, 37, 0.9); // too small
  const boxes = crop.readingOrder(crop.findBoxes(prob, w, h));
  assert.equal(boxes.length, 3);
  // The left box of the first row comes before the right one; the second row last. Each box contains its region.
  const [a, b, c] = boxes;
  assert.ok(a[0] < 5 && a[2] > 40 && a[1] < 6 && a[3] > 12, String(a));
  assert.ok(b[0] < 60 && b[2] > 90 && b[1] < 5 && b[3] > 11, String(b));
  assert.ok(c[0] < 5 && c[2] > 50 && c[1] < 25 && c[3] > 31, String(c));
});

test('greedy CTC: best class per step, repeats merged, blanks dropped, score = mean probability of the kept', () => {
  const classes = 6625;
  // Steps a, a, blank, a, space, b → "aa b" (the repeat before the blank merges; the one after it does not).
  const keys = ctcKeys();
  const charIndex = (ch: string) => (ch === ' ' ? classes - 1 : 1 + keys.indexOf(ch));
  const seq = [charIndex('a'), charIndex('a'), 0, charIndex('a'), charIndex(' '), charIndex('b')];
  const probs = new Float32Array(seq.length * classes);
  seq.forEach((c, t) => {
    probs[t * classes + c] = 0.8;
  });
  const line = ctc.decodeLine(probs, 0, seq.length, classes);
  assert.equal(line.text, 'aa b');
  assert.ok(Math.abs(line.score - 0.8) < 1e-6);
});

/** ppocr_keys_v1.txt, as ocr_ctc reads it (without the blank and the space it adds). */
function ctcKeys(): string[] {
  return readFileSync(join(repo, 'ocr_ctc', '1', 'ppocr_keys_v1.txt'), 'utf8').replace(/\r?\n$/, '').split(/\r?\n/);
}
