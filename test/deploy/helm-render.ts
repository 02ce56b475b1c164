/**
 * Renders a Helm chart without Helm or a cluster, for the tests: the subset of Go templates (text/template plus
 * Sprig's functions) that deploy/helm/open-autoglm uses. Actions: `{{ pipeline }}`, `{{- … -}}` trimming,
 * `{{/* comment *\/}}`, `if`/`else if`/`else`/`end`, `range` over a list, `define` and `include`. Pipelines:
 * `.Values.a.b`, `.Release.Name`, `.Chart.Name`, `.` (dot), string and number literals, `( … )`, `f a b | g c`
 * (the piped value is the last argument, as in Go). Functions: the ones the chart calls, each as Helm defines it.
 * Anything else is an error, so a template that uses more than this fails the test rather than rendering wrong.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';

type Value = unknown;
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: string }
  | { kind: 'if'; branches: { cond: string | undefined; body: Node[] }[] }
  | { kind: 'range'; pipe: string; body: Node[] };

interface Scope { readonly dot: Value; readonly root: Value; }

/** Splits a template into text and actions, applying the `{{-` / `-}}` whitespace trimming. */
function lex(src: string): ({ text: string } | { action: string })[] {
  const out: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) { out.push({ text }); break; }
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`unclosed action at ${open}`);
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-')) { text = text.replace(/\s+$/, ''); inner = inner.slice(1); }
    trimNext = inner.endsWith('-');
    if (trimNext) inner = inner.slice(0, -1);
    out.push({ text });
    inner = inner.trim();
    if (!inner.startsWith('/*')) out.push({ action: inner });
    i = close + 2;
  }
  return out;
}

/** Builds the tree; `define` blocks go into `defines`. */
function parseTemplate(src: string, defines: Map<string, Node[]>): Node[] {
  const tokens = lex(src);
  let pos = 0;
  const block = (enders: readonly string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++];
      if ('text' in t) { if (t.text) nodes.push({ kind: 'text', text: t.text }); continue; }
      const [word] = t.action.split(/\s+/);
      if (enders.some((e) => t.action === e || (e === 'else' && word === 'else'))) return { nodes, end: t.action };
      if (word === 'if') {
        const branches: { cond: string | undefined; body: Node[] }[] = [];
        let cond: string | undefined = t.action.slice(2).trim();
        for (;;) {
          const b = block(['end', 'else']);
          branches.push({ cond, body: b.nodes });
          if (b.end === 'end') break;
          cond = b.end === 'else' ? undefined : b.end.replace(/^else\s+if\s+/, '');
          if (cond !== undefined && !/^else\s+if\s/.test(b.end)) throw new Error(`unsupported: {{ ${b.end} }}`);
        }
        nodes.push({ kind: 'if', branches });
      } else if (word === 'range') {
        const pipe = t.action.slice(5).trim();
        if (pipe.includes(':=')) throw new Error('unsupported: range with variables');
        nodes.push({ kind: 'range', pipe, body: block(['end']).nodes });
      } else if (word === 'define') {
        const name = JSON.parse(t.action.slice(6).trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (['with', 'block', 'template', 'else', 'end'].includes(word) || t.action.includes(':=')) {
        throw new Error(`unsupported action: {{ ${t.action} }}`);
      } else {
        nodes.push({ kind: 'action', pipe: t.action });
      }
    }
    if (enders.length > 0) throw new Error(`missing {{ end }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

/** Go templates' truth: false, 0, nil, empty string/list/map are false. */
const truthy = (v: Value): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' ||
    (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0));

const str = (v: Value): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
const indent = (n: number, s: string) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
const num = (v: Value): number => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`expected an integer, got ${JSON.stringify(v)}`);
  return v;
};

/** Splits a pipeline into commands and each command into words, keeping strings and parentheses whole. */
function words(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    let j = i;
    if (c === '"') { j++; while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1; j++; }
    else if (c === '(') { let depth = 0; do { if (text[j] === '(') depth++; if (text[j] === ')') depth--; j++; } while (depth > 0); }
    else if (c === '|') j++;
    else while (j < text.length && !/[\s|()]/.test(text[j])) j++;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

export class ChartRenderer {
  private readonly defines = new Map<string, Node[]>();
  private readonly templates: { name: string; nodes: Node[] }[] = [];
  readonly chart: Record<string, unknown>;
  readonly defaultValues: Record<string, unknown>;

  constructor(readonly dir: string) {
    this.chart = parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
    this.defaultValues = parse(readFileSync(join(dir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    for (const f of readdirSync(join(dir, 'templates')).sort()) {
      const nodes = parseTemplate(readFileSync(join(dir, 'templates', f), 'utf8'), this.defines);
      if (!f.startsWith('_') && /\.ya?ml$/.test(f)) this.templates.push({ name: f, nodes });
    }
  }

  /** The chart's manifests for these values (merged over values.yaml, as `helm template --set …`), one per document. */
  render(release: { name: string; namespace?: string }, overrides: Record<string, unknown> = {}): Record<string, unknown>[] {
    const root = {
      Values: merge(this.defaultValues, overrides),
      Release: { Name: release.name, Namespace: release.namespace ?? 'default', Service: 'Helm' },
      Chart: { Name: this.chart.name, Version: this.chart.version, AppVersion: this.chart.appVersion },
    };
    const docs: Record<string, unknown>[] = [];
    for (const t of this.templates) {
      const text = this.exec(t.nodes, { dot: root, root });
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length > 0) throw new Error(`${t.name}: ${doc.errors[0].message}\n${text}`);
        const v = doc.toJS() as Record<string, unknown> | null;
        if (v) docs.push(v);
      }
    }
    return docs;
  }

  private exec(nodes: readonly Node[], s: Scope): string {
    let out = '';
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text;
      else if (n.kind === 'action') out += str(this.pipeline(n.pipe, s));
      else if (n.kind === 'if') {
        const b = n.branches.find((br) => br.cond === undefined || truthy(this.pipeline(br.cond, s)));
        if (b) out += this.exec(b.body, s);
      } else {
        const list = this.pipeline(n.pipe, s);
        if (list === undefined || list === null) continue;
        if (!Array.isArray(list)) throw new Error(`range over a non-list: ${n.pipe}`);
        for (const item of list) out += this.exec(n.body, { dot: item, root: s.root });
      }
    }
    return out;
  }

  private pipeline(text: string, s: Scope): Value {
    const commands: string[][] = [[]];
    for (const w of words(text)) if (w === '|') commands.push([]); else commands.at(-1)!.push(w);
    let piped: { v: Value } | undefined;
    for (const cmd of commands) piped = { v: this.command(cmd, s, piped) };
    return piped?.v;
  }

  private command(cmd: readonly string[], s: Scope, piped: { v: Value } | undefined): Value {
    const [head, ...rest] = cmd;
    if (/^[a-zA-Z]\w*$/.test(head) && !['true', 'false', 'nil'].includes(head)) {
      const args = rest.map((w) => this.operand(w, s));
      if (piped) args.push(piped.v);
      return this.call(head, args, s);
    }
    if (rest.length > 0 || piped) throw new Error(`not a function: ${head}`);
    return this.operand(head, s);
  }

  private operand(w: string, s: Scope): Value {
    if (w.startsWith('(')) return this.pipeline(w.slice(1, -1), s);
    if (w.startsWith('"')) return JSON.parse(w);
    if (/^-?\d+$/.test(w)) return Number(w);
    if (w === 'true' || w === 'false') return w === 'true';
    if (w === 'nil') return undefined;
    if (w === '.') return s.dot;
    if (w.startsWith('$')) return path(s.root, w.slice(1));
    if (w.startsWith('.')) return path(s.dot, w);
    throw new Error(`unsupported operand: ${w}`);
  }

  private call(name: string, a: Value[], s: Scope): Value {
    switch (name) {
      case 'include': {
        const body = this.defines.get(a[0] as string);
        if (!body) throw new Error(`include: no template named ${String(a[0])}`);
        return this.exec(body, { dot: a[1], root: s.root });
      }
      case 'printf': {
        let k = 1;
        return (a[0] as string).replace(/%[sdv]/g, () => str(a[k++]));
      }
      case 'quote': return JSON.stringify(str(a[0]));
      case 'default': return truthy(a[1]) ? a[1] : a[0];
      case 'toYaml': return truthy(a[0]) ? stringify(a[0]).replace(/\n$/, '') : '{}';
      case 'nindent': return `\n${indent(num(a[0]), str(a[1]))}`;
      case 'indent': return indent(num(a[0]), str(a[1]));
      case 'trunc': return str(a[1]).slice(0, num(a[0]));
      case 'trimSuffix': return str(a[1]).endsWith(str(a[0])) ? str(a[1]).slice(0, -str(a[0]).length || undefined) : a[1];
      case 'contains': return str(a[1]).includes(str(a[0]));
      case 'not': return !truthy(a[0]);
      case 'or': return a.find(truthy) ?? a.at(-1);
      case 'and': return a.find((v) => !truthy(v)) ?? a.at(-1);
      case 'eq': return a[0] === a[1];
      case 'add': return a.reduce((x: number, y) => x + num(y), 0);
      case 'div': return Math.trunc(num(a[0]) / num(a[1]));
      default: throw new Error(`unsupported function: ${name}`);
    }
  }
}

function path(v: Value, p: string): Value {
  for (const key of p.split('.').filter(Boolean)) {
    if (v === undefined || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Values merged as Helm merges --set/-f over values.yaml: maps key by key, anything else replaced. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
