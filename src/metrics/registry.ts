/**
 * A small Prometheus registry: counters, gauges and histograms with fixed label names, rendered in the text
 * exposition format (version 0.0.4). Label children are created once (at model load) and kept by the caller, so
 * recording on the hot path is a field update — no map lookups, no string building.
 */

export type LabelValues = readonly string[];

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function labelText(names: readonly string[], values: LabelValues, extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const fmt = (x: number): string => (x === Infinity ? '+Inf' : x === -Infinity ? '-Inf' : Number.isNaN(x) ? 'NaN' : String(x));

abstract class Metric<C> {
  protected readonly children = new Map<string, { values: LabelValues; child: C }>();

  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new TypeError(`bad metric name ${name}`);
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract create(): C;
  protected abstract renderChild(values: LabelValues, child: C, out: string[]): void;

  /** The child for these label values, created on first use (call at load time and keep it). */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new TypeError(`${this.name} takes labels ${this.labelNames.join(', ')}`);
    }
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) {
      c = { values: Object.freeze([...values]), child: this.create() };
      this.children.set(key, c);
    }
    return c.child;
  }

  /** The child for these label values if it exists (readers such as the live feed never create one). */
  peek(...values: string[]): C | undefined {
    return this.children.get(values.join('\u0000'))?.child;
  }

  /** Every child whose first label values are these (e.g. a model version's children of every priority). */
  peekWhere(...prefix: string[]): C[] {
    const out: C[] = [];
    for (const c of this.children.values()) if (prefix.every((v, i) => c.values[i] === v)) out.push(c.child);
    return out;
  }

  /** Forget one child (the model was unloaded). */
  remove(...values: string[]): void {
    this.children.delete(values.join('\u0000'));
  }

  /** Forget every child whose first label values are these (e.g. a model version's children of every priority). */
  removeWhere(...prefix: string[]): void {
    for (const [key, c] of this.children) if (prefix.every((v, i) => c.values[i] === v)) this.children.delete(key);
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { values, child } of this.children.values()) this.renderChild(values, child, out);
  }
}

export class CounterChild {
  value = 0;
  /** When set, read at scrape time instead of `value` (a count kept elsewhere, e.g. a cache tier's hits). */
  collect: (() => number) | undefined;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Counter extends Metric<CounterChild> {
  readonly type = 'counter';
  protected create(): CounterChild {
    return new CounterChild();
  }
  protected renderChild(values: LabelValues, c: CounterChild, out: string[]): void {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${fmt(c.collect ? c.collect() : c.value)}`);
  }
}

/** A counter's or gauge's current value, through its collect function when it has one. */
export const valueOf = (c: CounterChild | GaugeChild): number => (c.collect ? c.collect() : c.value);

export class GaugeChild {
  value = 0;
  /** When set, read at scrape time instead of `value` (e.g. a queue's current length). */
  collect: (() => number) | undefined;
  set(v: number): void {
    this.value = v;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

export class Gauge extends Metric<GaugeChild> {
  readonly type = 'gauge';
  protected create(): GaugeChild {
    return new GaugeChild();
  }
  protected renderChild(values: LabelValues, g: GaugeChild, out: string[]): void {
    out.push(`${this.name}${labelText(this.labelNames, values)} ${fmt(g.collect ? g.collect() : g.value)}`);
  }
}

export class HistogramChild {
  /** Per bucket (not cumulative), observations ≤ its bound and above the previous one; past the last: count − Σ. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    // Few buckets: a linear scan beats a binary search at this size.
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}

export class Histogram extends Metric<HistogramChild> {
  readonly type = 'histogram';
  private readonly bounds: Float64Array;

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    super(name, help, labelNames);
    const sorted = [...new Set(buckets)].filter((b) => Number.isFinite(b)).sort((a, b) => a - b);
    this.bounds = Float64Array.from(sorted);
  }

  protected create(): HistogramChild {
    return new HistogramChild(this.bounds);
  }

  protected renderChild(values: LabelValues, h: HistogramChild, out: string[]): void {
    let cum = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cum += h.counts[i];
      out.push(`${this.name}_bucket${labelText(this.labelNames, values, `le="${fmt(this.bounds[i])}"`)} ${cum}`);
    }
    out.push(`${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${h.count}`);
    out.push(`${this.name}_sum${labelText(this.labelNames, values)} ${fmt(h.sum)}`);
    out.push(`${this.name}_count${labelText(this.labelNames, values)} ${h.count}`);
  }
}

/** Exponential bucket bounds: start, start·factor, … (count of them). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) out.push(v);
  return out;
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  get(name: string): AnyMetric | undefined {
    return this.metrics.get(name);
  }

  /** The text exposition format (Content-Type: text/plain; version=0.0.4). */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) m.render(out);
    return out.join('\n') + '\n';
  }

  private add<M extends AnyMetric>(m: M): M {
    if (this.metrics.has(m.name)) throw new TypeError(`metric ${m.name} is already registered`);
    this.metrics.set(m.name, m);
    return m;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
