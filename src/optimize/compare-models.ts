/**
 * Before/after figures for one optimization, measured in one run with the same session settings: latency at
 * batch 1, throughput at each batch size up to `maxBatch` (best reported), windows alternating before/after so
 * drift in the machine's speed hits both; and the outputs' difference on the same sample inputs.
 */
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { readOnnxModelInfo } from '../onnx-proto/index.js';
import { isBatchable, planFromSamples, randomFeeds, type Feeds, type ShapePlan } from './sample-inputs.js';

export interface CompareOptions {
  readonly threads: number;
  /** Largest batch tried (powers of two up to it); 1 for models without a dynamic first dimension. */
  readonly maxBatch: number;
  /** Length of one timing window per model and batch size. */
  readonly windowMs: number;
  /** Before/after window pairs per batch size (median taken). */
  readonly pairs: number;
  readonly shapes: ShapePlan;
  /** Real inputs; random ones (8 batches of 4 rows, or of 1 when not batchable) when absent. Timing inputs are
   *  random either way, shaped and ranged like these when given. */
  readonly samples?: readonly Feeds[];
  /** Skip timing: only sizes and output error. */
  readonly timing: boolean;
}

export interface Speed { readonly latencyB1Ms: number; readonly bestBatch: number; readonly bestRowsPerS: number; readonly b1RowsPerS: number }

export interface OutputError {
  readonly output: string;
  readonly maxAbs: number;
  /** max |after − before| ÷ max |before|: relative to the output's scale (elementwise ratios explode near 0). */
  readonly maxRel: number;
  /** Share of rows whose argmax over the last axis agrees, for FLOAT outputs of rank 2–3 (class scores). */
  readonly top1Agreement?: number;
}

export interface Comparison {
  /** after ÷ before throughput, one ratio per window pair, by batch size (spread for the figures). */
  readonly pairRatios: ReadonlyMap<number, readonly number[]>;
  readonly before: Speed | undefined;
  readonly after: Speed | undefined;
  readonly errors: readonly OutputError[];
  readonly samples: number;
}

async function session(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
}

export async function compareModels(before: Uint8Array, after: Uint8Array, o: CompareOptions): Promise<Comparison> {
  const info = readOnnxModelInfo(before);
  const batchable = isBatchable(info.inputs);
  const [a, b] = [await session(before, o.threads), await session(after, o.threads)];
  try {
    const samples = o.samples ?? Array.from({ length: 8 }, (_, i) => randomFeeds(info.inputs, batchable ? 4 : 1, o.shapes, 100 + i));
    // Timing inputs: random, but shaped and ranged like the real samples when there are some.
    const plan = o.samples ? planFromSamples(info.inputs, o.samples, o.shapes) : o.shapes;
    const errors = await outputErrors(a, b, samples);
    if (!o.timing) return { pairRatios: new Map(), before: undefined, after: undefined, errors, samples: samples.length };
    const batches = batchable ? powersOfTwo(o.maxBatch) : [1];
    const rows = new Map<number, [number[], number[]]>();
    for (const batch of batches) {
      const feeds = randomFeeds(info.inputs, batch, plan, 7);
      await a.run(feeds);
      await b.run(feeds);
      const pair: [number[], number[]] = [[], []];
      for (let p = 0; p < o.pairs; p++) {
        // Alternate which goes first so a trend in machine speed does not favour one side.
        const order = p % 2 === 0 ? [0, 1] : [1, 0];
        for (const side of order) pair[side].push(await msPerRun(side === 0 ? a : b, feeds, o.windowMs));
      }
      rows.set(batch, pair);
    }
    const speed = (side: 0 | 1): Speed => {
      let bestBatch = 1;
      let bestRowsPerS = 0;
      for (const [batch, pair] of rows) {
        const r = (batch * 1000) / median(pair[side]);
        if (r > bestRowsPerS) [bestBatch, bestRowsPerS] = [batch, r];
      }
      const b1 = median(rows.get(1)![side]);
      return { latencyB1Ms: b1, b1RowsPerS: 1000 / b1, bestBatch, bestRowsPerS };
    };
    const pairRatios = new Map([...rows].map(([batch, [a, b]]) => [batch, a.map((ms, i) => ms / b[i])]));
    return { pairRatios, before: speed(0), after: speed(1), errors, samples: samples.length };
  } finally {
    await a.release();
    await b.release();
  }
}

function powersOfTwo(max: number): number[] {
  const out: number[] = [];
  for (let b = 1; b <= max; b *= 2) out.push(b);
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Mean milliseconds per run over a window of at least `windowMs` (and 3 runs). */
async function msPerRun(s: ort.InferenceSession, feeds: Feeds, windowMs: number): Promise<number> {
  const start = performance.now();
  let runs = 0;
  let now = start;
  while (runs < 3 || now - start < windowMs) {
    await s.run(feeds);
    runs++;
    now = performance.now();
  }
  return (now - start) / runs;
}

async function outputErrors(a: ort.InferenceSession, b: ort.InferenceSession, samples: readonly Feeds[]): Promise<OutputError[]> {
  const acc = new Map<string, { maxAbs: number; maxRef: number; rows: number; agree: number; classes: boolean }>();
  for (const feeds of samples) {
    const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
    for (const name of a.outputNames) {
      const x = ra[name];
      const y = rb[name];
      if (!y) throw new Error(`the optimized model has no output '${name}'`);
      if (x.dims.join() !== y.dims.join()) throw new Error(`output '${name}': shape [${x.dims}] became [${y.dims}]`);
      const e = acc.get(name) ?? { maxAbs: 0, maxRef: 0, rows: 0, agree: 0, classes: x.type === 'float32' && x.dims.length >= 2 && x.dims.length <= 3 && Number(x.dims[x.dims.length - 1]) > 1 };
      const xs = x.data as ArrayLike<number | bigint>;
      const ys = y.data as ArrayLike<number | bigint>;
      for (let i = 0; i < xs.length; i++) {
        const u = Number(xs[i]);
        const v = Number(ys[i]);
        const d = Number.isNaN(u) !== Number.isNaN(v) ? Infinity : Number.isNaN(u) ? 0 : Math.abs(u - v);
        e.maxAbs = Math.max(e.maxAbs, d);
        if (Number.isFinite(u)) e.maxRef = Math.max(e.maxRef, Math.abs(u));
      }
      if (e.classes) {
        const k = Number(x.dims[x.dims.length - 1]);
        for (let r = 0; r < xs.length / k; r++) {
          e.rows++;
          if (argmax(xs as ArrayLike<number>, r * k, k) === argmax(ys as ArrayLike<number>, r * k, k)) e.agree++;
        }
      }
      acc.set(name, e);
    }
  }
  return [...acc].map(([output, e]) => ({
    output, maxAbs: e.maxAbs, maxRel: e.maxRef > 0 ? e.maxAbs / e.maxRef : e.maxAbs,
    ...(e.classes ? { top1Agreement: e.agree / e.rows } : {}),
  }));
}

function argmax(xs: ArrayLike<number>, from: number, n: number): number {
  let best = from;
  for (let i = from + 1; i < from + n; i++) if (xs[i] > xs[best]) best = i;
  return best - from;
}
