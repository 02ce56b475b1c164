/**
 * `autoglm optimize --quantize int8` on the 1024→8192→1024 MLP (64 MiB of FLOAT weights): size, latency and
 * throughput of the INT8 model against the FLOAT original, measured in this run with the same session settings
 * (intra-op threads 1, graph optimization 'all'), windows alternating FLOAT/INT8; and the output error.
 *
 *   flock /tmp/bench.lock taskset -c 0 node --import tsx bench/optimize-mlp.ts [--pairs 3] [--window-ms 500] [--max-batch 64]
 *
 * Pin it to one core (taskset -c 0): the figures are per core. Also prints which kernel ONNX Runtime runs the
 * quantized pattern with (its fusion at load), and whether this CPU has VNNI.
 */
import { parseArgs } from 'node:util';
import { readOnnxModel } from '../src/onnx-proto/index.js';
import { compareModels } from '../src/optimize/compare-models.js';
import { hostHasVnni } from '../src/optimize/cpu-features.js';
import { DEFAULT_OPTIMIZE, optimizeModel } from '../src/optimize/optimize-model.js';
import { ortOptimizeOffline } from '../src/optimize/ort-offline.js';
import { mlpModel } from '../test/fixtures/models.js';

const { values: args } = parseArgs({
  options: { pairs: { type: 'string', default: '3' }, 'window-ms': { type: 'string', default: '500' }, 'max-batch': { type: 'string', default: '64' } },
});

const source = mlpModel(1024, 8192, 1024).bytes;
const t0 = performance.now();
const result = await optimizeModel(source, { ...DEFAULT_OPTIMIZE, quantize: 'int8' });
console.log(`optimize --quantize int8: ${(performance.now() - t0).toFixed(0)} ms; VNNI on this CPU: ${hostHasVnni()}; reduce-range ${DEFAULT_OPTIMIZE.int8.reduceRange}`);
const fused = readOnnxModel(await ortOptimizeOffline(result.bytes, 'all')).graph.nodes.map((n) => n.opType);
console.log(`ONNX Runtime runs it as: ${fused.join(' → ')}`);

const c = await compareModels(source, result.bytes, {
  threads: 1, maxBatch: Number(args['max-batch']), windowMs: Number(args['window-ms']), pairs: Number(args.pairs),
  shapes: { dims: new Map(), defaultDim: 1 }, timing: true,
});
const before = c.before!;
const after = c.after!;
console.log(`size: FLOAT ${source.byteLength} B, INT8 ${result.bytes.byteLength} B: ${(source.byteLength / result.bytes.byteLength).toFixed(2)}× smaller (target ≥ 3.5×)`);
console.log(`latency at batch 1: FLOAT ${before.latencyB1Ms.toFixed(3)} ms, INT8 ${after.latencyB1Ms.toFixed(3)} ms: ${(before.latencyB1Ms / after.latencyB1Ms).toFixed(2)}× faster`);
const spread = (batch: number) => {
  const r = c.pairRatios.get(batch)!;
  return `pairs at batch ${batch}: ${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}×`;
};
console.log(`throughput at batch 1: ${(after.b1RowsPerS / before.b1RowsPerS).toFixed(2)}× (${spread(1)})`);
console.log(`throughput at the best batch: FLOAT ${before.bestRowsPerS.toFixed(0)} rows/s (batch ${before.bestBatch}), INT8 ${after.bestRowsPerS.toFixed(0)} rows/s (batch ${after.bestBatch}): ${(after.bestRowsPerS / before.bestRowsPerS).toFixed(2)}× (target ≥ 1.5×; ${spread(before.bestBatch)})`);
for (const e of c.errors) {
  console.log(`output error (${c.samples} random batches of 4): max abs ${e.maxAbs.toExponential(2)}, max rel ${e.maxRel.toExponential(2)} (÷ max |FLOAT output|)${e.top1Agreement === undefined ? '' : `, argmax agreement ${(100 * e.top1Agreement).toFixed(1)} %`}`);
}
