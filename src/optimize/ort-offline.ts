/**
 * ONNX Runtime's own graph optimizations, applied offline and saved: at 'basic' the result is portable (only
 * standard ONNX ops, no execution-provider-specific kernels or layouts); 'extended' and 'all' add contrib ops and
 * layouts that tie the file to the CPU provider of the ONNX Runtime build that wrote it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

export type OrtLevel = 'basic' | 'extended' | 'all';

export async function ortOptimizeOffline(model: Uint8Array, level: OrtLevel): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'autoglm-ort-'));
  const path = join(dir, 'optimized.onnx');
  try {
    const session = await ort.InferenceSession.create(model, {
      graphOptimizationLevel: level, optimizedModelFilePath: path, intraOpNumThreads: 1,
    });
    await session.release();
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
