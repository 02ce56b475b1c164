/**
 * The in-process limit: onnxruntime-node's `session.run` called directly, back to back, at several batch sizes —
 * no HTTP, no queue, no worker hop. The best inferences/s over the batch sizes is what no server on this machine can
 * beat with the same session options; servers are quoted as a fraction of it.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { fromOnnxElemType } from '../../src/core/index.js';
import { readOnnxModelInfo } from '../../src/onnx-proto/index.js';

export interface InProcessPoint {
  readonly batch: number;
  readonly inferencesPerSec: number;
  /** Mean time of one session.run at this batch, µs. */
  readonly runUs: number;
}

export interface InProcessLimit {
  readonly threads: number;
  readonly points: readonly InProcessPoint[];
  readonly best: InProcessPoint;
}

/**
 * Measures a model whose inputs are FP32 with a leading dynamic batch dimension and fixed other dimensions (the
 * benchmark models). Each batch size runs for `ms` after a short warm-up.
 */
export async function measureInProcessLimit(modelPath: string, batches: readonly number[], ms = 1000, threads = 1): Promise<InProcessLimit> {
  const bytes = readFileSync(modelPath);
  const info = readOnnxModelInfo(bytes);
  for (const i of info.inputs) {
    if (fromOnnxElemType(i.elemType) !== 'FP32') throw new Error(`in-process limit: input ${i.name} is not FP32`);
  }
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, logSeverityLevel: 3 });
  const points: InProcessPoint[] = [];
  try {
    for (const b of batches) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of info.inputs) {
        const dims = (i.dims ?? []).slice(1).map((d) => (typeof d === 'number' ? d : 1));
        const n = b * dims.reduce((x, y) => x * y, 1);
        feeds[i.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, k) => (k % 97) / 97), [b, ...dims]);
      }
      for (let w = 0; w < 20; w++) await session.run(feeds);
      let runs = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < ms) {
        await session.run(feeds);
        runs++;
      }
      const seconds = (performance.now() - t0) / 1000;
      points.push({ batch: b, inferencesPerSec: (runs * b) / seconds, runUs: (seconds * 1e6) / runs });
    }
  } finally {
    await session.release();
  }
  const best = points.reduce((a, p) => (p.inferencesPerSec > a.inferencesPerSec ? p : a));
  return { threads, points, best };
}
