/** The before/after table `autoglm optimize` prints. */
import type { Comparison } from './compare-models.js';
import type { OptimizeResult } from './optimize-model.js';

const mib = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const sci = (x: number) => (x === 0 ? '0' : x.toExponential(2));

export function formatReport(sizeBefore: number, r: OptimizeResult, c: Comparison, maxError: number): string {
  const rows: [string, string, string, string][] = [['', 'before', 'after', 'after ÷ before']];
  rows.push(['file size', mib(sizeBefore), mib(r.bytes.byteLength), `${(r.bytes.byteLength / sizeBefore).toFixed(3)} (${(sizeBefore / r.bytes.byteLength).toFixed(2)}× smaller)`]);
  rows.push(['nodes', String(r.nodesBefore), String(r.nodesAfter), '']);
  if (c.before && c.after) {
    rows.push(['latency, batch 1', `${num(c.before.latencyB1Ms)} ms`, `${num(c.after.latencyB1Ms)} ms`, `${(c.after.latencyB1Ms / c.before.latencyB1Ms).toFixed(3)}`]);
    rows.push(['throughput, batch 1', `${num(c.before.b1RowsPerS)} rows/s`, `${num(c.after.b1RowsPerS)} rows/s`, `${(c.after.b1RowsPerS / c.before.b1RowsPerS).toFixed(2)}×`]);
    rows.push(['throughput, best batch', `${num(c.before.bestRowsPerS)} rows/s (b=${c.before.bestBatch})`, `${num(c.after.bestRowsPerS)} rows/s (b=${c.after.bestBatch})`, `${(c.after.bestRowsPerS / c.before.bestRowsPerS).toFixed(2)}×`]);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  lines.push('', `output difference on ${c.samples} sample input(s) (max rel = max |after − before| ÷ max |before|; limit ${maxError}):`);
  for (const e of c.errors) {
    const top1 = e.top1Agreement === undefined ? '' : `, top-1 agreement ${(e.top1Agreement * 100).toFixed(2)} %`;
    lines.push(`  ${e.output}: max abs ${sci(e.maxAbs)}, max rel ${sci(e.maxRel)}${top1}`);
  }
  const passes = [...r.passCounts].filter(([, n]) => n > 0).map(([p, n]) => `${p} ${n}`);
  lines.push('', `graph passes: ${passes.length ? passes.join(', ') : 'nothing to rewrite'}`);
  if (r.int8) {
    lines.push(`int8: ${r.int8.quantized} MatMul/Gemm quantized (${r.int8.perChannel} per channel), ${r.int8.skipped.length} left in FLOAT`);
    const reasons = new Map<string, number>();
    for (const s of r.int8.skipped) {
      const why = s.reason.replace(/\d+ elements/, 'few elements');
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    for (const [why, n] of reasons) lines.push(`  ${n} × ${why}`);
  }
  if (r.fp16) lines.push(`fp16: ${r.fp16.converted} initializers converted, ${r.fp16.casts} casts; kept FLOAT: ${r.fp16.blocked.join(', ') || 'none'}`);
  return lines.join('\n') + '\n';
}
