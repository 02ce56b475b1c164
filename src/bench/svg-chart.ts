/**
 * A small line chart as inline SVG (no scripts, no network): axes with round ticks, one polyline per series, one
 * circle per point carrying its values in data-* attributes (so a test, or a reader's devtools, can check the
 * chart against the JSON) and a <title> tooltip.
 */

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Tooltip text. */
  readonly label: string;
  /** Short text drawn beside the point (e.g. the concurrency). */
  readonly tag?: string;
  /** Extra data-* attributes (name without the prefix → value). */
  readonly data?: Readonly<Record<string, string | number>>;
}

export interface ChartSeries {
  readonly name: string;
  readonly points: readonly ChartPoint[];
}

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  /** Category names for x (points' x are indexes 0..n-1). */
  readonly xCategories?: readonly string[];
  /** Logarithmic axes, for values spanning orders of magnitude (non-positive values are drawn at the axis). */
  readonly logX?: boolean;
  readonly logY?: boolean;
}

const W = 640;
const H = 360;
const M = { left: 64, right: 36, top: 32, bottom: 48 };
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Round tick values covering [0, max] (1-2-5 steps). */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** 1-2-5 ticks per decade covering [min, max] (both > 0). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const steps = hi - lo > 4 ? [1] : [1, 2, 5];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of steps) ticks.push(Number((m * 10 ** e).toPrecision(12)));
  let first = 0;
  while (first + 1 < ticks.length && ticks[first + 1] <= min) first++;
  const last = ticks.findIndex((t) => t >= max);
  return ticks.slice(first, last < 0 ? ticks.length : last + 1);
}

interface Axis { readonly ticks: number[]; readonly scale: (v: number) => number }

/** An axis mapping values to [0, 1]. */
function axis(values: number[], log: boolean): Axis {
  const pos = values.filter((v) => v > 0);
  if (log && pos.length > 0) {
    const ticks = logTicks(Math.min(...pos), Math.max(...pos));
    const a = Math.log10(ticks[0]);
    const b = Math.log10(ticks[ticks.length - 1]);
    const span = b - a || 1;
    return { ticks, scale: (v) => (v > 0 ? Math.max(0, (Math.log10(v) - a) / span) : 0) };
  }
  const ticks = niceTicks(Math.max(0, ...values));
  const top = ticks[ticks.length - 1];
  return { ticks, scale: (v) => v / top };
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Number(v.toPrecision(4))));

export function renderChart(spec: ChartSpec): string {
  const all = spec.series.flatMap((s) => s.points);
  const cats = spec.xCategories;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xAxis: Axis = cats
    ? { ticks: cats.map((_, i) => i), scale: (x) => (cats.length === 1 ? 0.5 : x / (cats.length - 1)) }
    : axis(all.map((p) => p.x), spec.logX ?? false);
  const yAxis = axis(all.map((p) => p.y), spec.logY ?? false);
  const xTicks = xAxis.ticks;
  const yTicks = yAxis.ticks;
  const sx = (x: number) => M.left + xAxis.scale(x) * pw;
  const sy = (y: number) => M.top + ph - yAxis.scale(y) * ph;
  const totalH = H + 6 + 16 * spec.series.length;
  const out: string[] = [];
  out.push(`<svg id="${escapeXml(spec.id)}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${totalH}" width="${W}" height="${totalH}" role="img" aria-label="${escapeXml(spec.title)}">`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" class="chart-title">${escapeXml(spec.title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/>`);
    out.push(`<text x="${M.left - 6}" y="${sy(t) + 4}" text-anchor="end" class="tick">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<text x="${sx(t)}" y="${H - M.bottom + 16}" text-anchor="middle" class="tick">${escapeXml(cats ? cats[t] : fmt(t))}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" class="axis"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" class="axis"/>`);
  const logNote = (on: boolean | undefined) => (on ? ' (log scale)' : '');
  out.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" class="axis-label">${escapeXml(spec.xLabel + logNote(spec.logX && !cats))}</text>`);
  out.push(`<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(spec.yLabel + logNote(spec.logY))}</text>`);
  // The legend goes under the plot, one row per series, so it never hides a point.
  const legend: string[] = [];
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    out.push(`<g class="series" data-series="${escapeXml(s.name)}">`);
    if (s.points.length > 1) out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points) {
      const attrs = Object.entries(p.data ?? {}).map(([k, v]) => ` data-${k}="${escapeXml(String(v))}"`).join('');
      out.push(`<circle class="point" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4" fill="${color}" data-x="${p.x}" data-y="${p.y}"${attrs}><title>${escapeXml(p.label)}</title></circle>`);
      if (p.tag) out.push(`<text class="tag" x="${(sx(p.x) + 6).toFixed(1)}" y="${(sy(p.y) - 6).toFixed(1)}">${escapeXml(p.tag)}</text>`);
    }
    out.push('</g>');
    legend.push(`<rect x="${M.left + 8}" y="${H + 2 + i * 16}" width="10" height="10" fill="${color}"/>`);
    legend.push(`<text x="${M.left + 22}" y="${H + 11 + i * 16}" class="legend">${escapeXml(s.name)}</text>`);
  });
  out.push(...legend, '</svg>');
  return out.join('\n');
}
