/**
 * The plot in docs/scheduling.md: the batch policies in the deterministic simulation (test/scheduler/simulation.ts)
 * on the synthetic MLP curve (5.5× gain at batch 64), one instance, Poisson arrivals from 5 % to 120 % of capacity:
 * p99 latency per policy, and the adaptive policy's mean batch size on the three model curves.
 *
 *   node --import tsx bench/batching-plot.ts      → docs/scheduling-sim.svg, docs/scheduling-sim.png
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { renderChart, type ChartSeries } from '../src/bench/svg-chart.js';
import { StaticPolicy } from '../src/scheduler/policies/static-policy.js';
import { AdaptivePolicy } from '../src/scheduler/policies/adaptive-policy.js';
import type { BatchPolicy } from '../src/scheduler/batch-policy.js';
import { CURVES, capacityAt, poisson, simulate, type ServiceCurve } from '../test/scheduler/simulation.js';

const MAX = 64;
const WARM = [1, 2, 4, 8, 16, 32, 64];
const LOADS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2];
const CLIP_MS = 60;

const policies: Array<{ name: string; maxBatch: number; make: () => BatchPolicy }> = [
  { name: 'batching off', maxBatch: 1, make: () => new StaticPolicy({ maxBatchSize: 1 }) },
  { name: 'static, delay 0', maxBatch: MAX, make: () => new StaticPolicy({ maxBatchSize: MAX }) },
  { name: 'static, delay 1 ms', maxBatch: MAX, make: () => new StaticPolicy({ maxBatchSize: MAX, maxQueueDelayUs: 1000 }) },
  { name: 'static, delay 5 ms', maxBatch: MAX, make: () => new StaticPolicy({ maxBatchSize: MAX, maxQueueDelayUs: 5000 }) },
  { name: 'adaptive', maxBatch: MAX, make: () => new AdaptivePolicy({ maxBatchSize: MAX }) },
];

const curve = CURVES.mlp;
const cap = capacityAt(curve, MAX);
const latency: ChartSeries[] = policies.map((p) => ({
  name: p.name,
  points: LOADS.map((load) => {
    const r = simulate({ policy: p.make(), curve, arrivals: poisson(cap * load, 4000, 17), maxBatch: p.maxBatch, warmUp: WARM.filter((b) => b <= p.maxBatch) });
    const ms = r.p99Us / 1000;
    return { x: load * 100, y: Math.min(ms, CLIP_MS), label: `${p.name} at ${Math.round(load * 100)} %: p99 ${ms.toFixed(1)} ms, ${r.throughputPerSec.toFixed(0)}/s` };
  }),
}));

const batches: ChartSeries[] = (Object.entries(CURVES) as Array<[string, ServiceCurve]>).map(([name, c]) => ({
  name: `adaptive on ${name}`,
  points: LOADS.map((load) => {
    const r = simulate({ policy: new AdaptivePolicy({ maxBatchSize: MAX }), curve: c, arrivals: poisson(capacityAt(c, MAX) * load, 4000, 17), maxBatch: MAX, warmUp: WARM });
    const mean = r.batches.reduce((a, b) => a + b, 0) / r.batches.length;
    return { x: load * 100, y: mean, label: `${name} at ${Math.round(load * 100)} %: mean batch ${mean.toFixed(1)}, largest ${Math.max(...r.batches)}` };
  }),
}));

const style = '<style>.grid{stroke:#ddd}.axis{stroke:#333}.tick,.legend,.tag{font:11px sans-serif}.axis-label{font:12px sans-serif}.chart-title{font:bold 13px sans-serif}</style>';
const withStyle = (svg: string) => svg.replace(/(<svg[^>]*>)/, `$1${style}<rect width="100%" height="100%" fill="white"/>`);
const a = withStyle(renderChart({ id: 'p99', title: `Simulated MLP, 1 instance: p99 latency (ms, clipped at ${CLIP_MS})`, xLabel: 'offered load, % of capacity at batch 64', yLabel: 'p99 ms', series: latency }));
const b = withStyle(renderChart({ id: 'batch', title: 'Adaptive policy: mean batch size (knee: transformer stays ≤ 16)', xLabel: 'offered load, % of capacity at batch 64', yLabel: 'mean batch', series: batches }));
// Two charts stacked in one image.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="720" viewBox="0 0 640 720"><g>${a}</g><g transform="translate(0 360)">${b}</g></svg>`;
writeFileSync('docs/scheduling-sim.svg', svg);
await sharp(Buffer.from(svg)).png().toFile('docs/scheduling-sim.png');
for (const s of [...latency, ...batches]) console.log(s.points.map((p) => p.label).join('\n'));
