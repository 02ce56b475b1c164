/**
 * The example `ocr` pipeline (PP-OCRv4 det + rec, JS decode/crop/CTC) served in-process from
 * examples/model_repository, on rendered pages with known text.
 *
 *   node --import tsx bench/pipeline-ocr.ts [--pairs 2] [--window-ms 3000] [--rec-rounds 3]
 *
 * (1) Images/s and latency at concurrency 1 and 16, closed loop, windows alternating (c1, c16, c1, c16, …) after a
 *     warm-up; latencies of every request of a concurrency pooled (exact percentiles from all samples).
 * (2) The gain of batching the recognition crops: for each page, the recognizer on all its crops in one batch
 *     [N, 3, 48, Wmax] against one call per crop at its own width [1, 3, 48, Wi], page by page, alternating which
 *     goes first; the ratio is (time of the N single calls) ÷ (time of the batched call), median with min–max over
 *     all page pairs.
 * Answers are checked: every window's first response against the text rendered into the page.
 * Client and server share this machine's cores.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { InferenceServer } from '../src/server/inference-server.js';
import type { InferenceRequest, Tensor } from '../src/core/index.js';
import { renderText, type TextLine } from '../test/pipeline/render-text.js';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '2' },
    'window-ms': { type: 'string', default: '3000' },
    'rec-rounds': { type: 'string', default: '3' },
  },
});
const PAIRS = Number(args.pairs);
const WINDOW_MS = Number(args['window-ms']);
const REC_ROUNDS = Number(args['rec-rounds']);

const WORDS = 'batch size latency queue model server tensor image pipeline crop width height worker thread request'.split(' ');
function page(seed: number, columns: number, rows: number): TextLine[] {
  const lines: TextLine[] = [];
  for (let c = 0; c < columns; c++) {
    for (let r = 0; r < rows; r++) {
      const k = seed * 31 + c * 7 + r * 3;
      const text = `${WORDS[k % WORDS.length]} ${WORDS[(k * 5 + 1) % WORDS.length]} ${100 + ((k * 37) % 900)}`;
      lines.push({ text, x: 24 + c * 380, y: 48 + r * 52, size: 26 });
    }
  }
  return lines;
}

interface Sample { readonly image: Buffer; readonly want: string[] }

async function samples(): Promise<Sample[]> {
  const specs = [
    { seed: 1, columns: 1, rows: 6, noise: 0 },
    { seed: 2, columns: 2, rows: 8, noise: 30 },
    { seed: 3, columns: 2, rows: 4, noise: 0 },
    { seed: 4, columns: 1, rows: 10, noise: 20 },
  ];
  return Promise.all(specs.map(async (s) => {
    const lines = page(s.seed, s.columns, s.rows);
    const image = await renderText({ width: 380 * s.columns + 40, height: 52 * s.rows + 30, lines, noise: s.noise, background: s.noise ? 225 : 255, seed: s.seed, format: s.noise ? 'jpeg' : 'png' });
    return { image, want: lines.map((l) => l.text) };
  }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const text = (r: { outputs: Tensor[] }) => (r.outputs.find((t) => t.name === 'text')!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b));

async function main(): Promise<void> {
  const repo = join(import.meta.dirname, '..', 'examples', 'model_repository');
  const server = await InferenceServer.create({ modelRepositories: [repo] });
  try {
    const pages = await samples();
    const request = (i: number): InferenceRequest => ({ model: 'ocr', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [pages[i % pages.length].image] }] });
    const check = (i: number, r: { outputs: Tensor[] }) => {
      const got = new Set(text(r));
      const want = pages[i % pages.length].want;
      const found = want.filter((w) => got.has(w)).length;
      if (found < want.length * 0.8) throw new Error(`page ${i % pages.length}: only ${found}/${want.length} lines read exactly: ${[...got].join(' | ')}`);
      return found / want.length;
    };

    // (1) throughput and latency
    const lat: Record<number, number[]> = { 1: [], 16: [] };
    const rates: Record<number, number[]> = { 1: [], 16: [] };
    /** Cores this process used (all its threads: CPU time ÷ wall time), per window. */
    const cores: Record<number, number[]> = { 1: [], 16: [] };
    const cpuMsPerImage: Record<number, number[]> = { 1: [], 16: [] };
    let exact = 0;
    let checks = 0;
    const window = async (c: number, ms: number, keep: boolean) => {
      const end = performance.now() + ms;
      let done = 0;
      let next = 0;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      await Promise.all(Array.from({ length: c }, async () => {
        while (performance.now() < end) {
          const i = next++;
          const s = performance.now();
          const r = await server.infer(request(i));
          if (keep) lat[c].push(performance.now() - s);
          if (i < pages.length) {
            exact += check(i, r);
            checks++;
          }
          done++;
        }
      }));
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const rate = done / (wallMs / 1000);
      if (keep) {
        rates[c].push(rate);
        cores[c].push(cpuMs / wallMs);
        cpuMsPerImage[c].push(cpuMs / done);
      }
      return rate;
    };
    await window(16, 3000, false);
    await window(1, 1500, false);
    for (let p = 0; p < PAIRS; p++) {
      const a = await window(1, WINDOW_MS, true);
      const b = await window(16, WINDOW_MS, true);
      console.log(`pair ${p + 1}: concurrency 1 ${a.toFixed(2)} images/s (${cores[1][p].toFixed(2)} cores busy), concurrency 16 ${b.toFixed(2)} images/s (${cores[16][p].toFixed(2)} cores busy)`);
    }
    for (const c of [1, 16]) {
      const s = lat[c].sort((x, y) => x - y);
      console.log(`concurrency ${c}: ${median(rates[c]).toFixed(2)} images/s (windows ${Math.min(...rates[c]).toFixed(2)}–${Math.max(...rates[c]).toFixed(2)}), ` +
        `CPU ${median(cpuMsPerImage[c]).toFixed(0)} ms/image on ${median(cores[c]).toFixed(2)} cores, p50 ${pct(s, 50).toFixed(0)} ms, p99 ${pct(s, 99).toFixed(0)} ms, max ${s[s.length - 1].toFixed(0)} ms (${s.length} requests${s.length < 1000 ? '; p99 from < 1000 samples is indicative only' : ''})`);
    }
    console.log(`answers checked: ${checks} responses, ${(100 * exact / checks).toFixed(1)}% of lines read exactly`);

    // (2) batched recognition crops vs one call per crop
    const crops: { batched: Tensor; singles: Tensor[] }[] = [];
    for (const pg of pages) {
      const dec = await server.infer({ model: 'ocr_decode', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [pg.image] }] });
      const det = await server.infer({ model: 'ocr_det', inputs: [{ ...dec.outputs.find((t) => t.name === 'det_input')!, name: 'x' }] });
      const cr = await server.infer({ model: 'ocr_crop', inputs: [dec.outputs.find((t) => t.name === 'rgb')!, { ...det.outputs[0], name: 'prob' }], outputs: [{ name: 'crops' }] });
      const batched = { ...cr.outputs[0], name: 'x' };
      const [n, , h, w] = batched.shape;
      const data = batched.data as Float32Array;
      const per = 3 * h * w;
      const singles: Tensor[] = [];
      for (let i = 0; i < n; i++) {
        // Each crop at its own width: trim the zero padding on the right (rounded up to 8, as the crop step does).
        let last = 0;
        for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = w - 1; x > last; x--) if (data[i * per + c * h * w + y * w + x] !== 0) { last = x; break; }
        const wi = Math.max(8, Math.ceil((last + 1) / 8) * 8);
        const one = new Float32Array(3 * h * wi);
        for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) one.set(data.subarray(i * per + c * h * w + y * w, i * per + c * h * w + y * w + wi), c * h * wi + y * wi);
        singles.push({ name: 'x', datatype: 'FP32', shape: [1, 3, h, wi], data: one });
      }
      crops.push({ batched, singles });
    }
    // Page by page, alternating which goes first: the batched call, then the page's crops one call each.
    await server.infer({ model: 'ocr_rec', inputs: [crops[0].batched] });
    const gains: number[] = [];
    for (let round = 0; round < REC_ROUNDS; round++) {
      for (const [i, c] of crops.entries()) {
        const batched = async () => {
          const t0 = performance.now();
          await server.infer({ model: 'ocr_rec', inputs: [c.batched] });
          return performance.now() - t0;
        };
        const singles = async () => {
          const t0 = performance.now();
          for (const one of c.singles) await server.infer({ model: 'ocr_rec', inputs: [one] });
          return performance.now() - t0;
        };
        let b: number;
        let s1: number;
        if ((round + i) % 2 === 0) {
          b = await batched();
          s1 = await singles();
        } else {
          s1 = await singles();
          b = await batched();
        }
        gains.push(s1 / b);
        if (round === 0) console.log(`page ${i}: ${c.singles.length} crops [${c.batched.shape}]: batched ${b.toFixed(0)} ms, one call per crop ${s1.toFixed(0)} ms`);
      }
    }
    console.log(`batching the recognition crops: speed-up ${median(gains).toFixed(2)}× (time of one call per crop ÷ time of the batched call; < 1 = slower; min–max ${Math.min(...gains).toFixed(2)}–${Math.max(...gains).toFixed(2)} over ${gains.length} page pairs)`);
  } finally {
    await server.close();
  }
}

await main();
