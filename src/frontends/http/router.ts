import { invalidArgument } from '../../core/index.js';
import { isPlainName } from '../../server/names.js';

/** The v2 endpoints (and Triton's repository and config extensions) this frontend serves. */
export type Route =
  | { kind: 'live' } | { kind: 'ready' } | { kind: 'server-metadata' }
  | { kind: 'model-metadata'; model: string; version?: string }
  | { kind: 'model-ready'; model: string; version?: string }
  | { kind: 'model-config'; model: string; version?: string }
  | { kind: 'infer'; model: string; version?: string }
  /** Triton's generate extension: one JSON answer, or (`stream`) Server-Sent Events (docs/streaming.md). */
  | { kind: 'generate'; model: string; version?: string; stream: boolean }
  | { kind: 'repository-index' }
  | { kind: 'repository-load'; model: string }
  | { kind: 'repository-unload'; model: string }
  /** Triton's statistics extension: every model when `model` is absent. */
  | { kind: 'model-stats'; model?: string; version?: string };

export type RouteMatch =
  | { readonly route: Route; readonly method: 'GET' | 'POST' }
  | undefined;

function decode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw invalidArgument(`bad percent-encoding in path segment '${seg}'`);
  }
}

function modelName(seg: string): string {
  const name = decode(seg);
  if (!isPlainName(name)) throw invalidArgument(`'${name}' is not a plain model name`);
  return name;
}

function versionOf(seg: string): string {
  const v = decode(seg);
  if (!/^\d{1,18}$/.test(v)) throw invalidArgument(`'${v}' is not a model version number`);
  return v;
}

/**
 * Maps a path to its route and the method it takes; undefined for unknown paths (404). Throws INVALID_ARGUMENT
 * for model names that are not plain names and for non-numeric versions.
 */
export function matchRoute(pathname: string): RouteMatch {
  const s = pathname.split('/');
  if (s[0] !== '' || s[1] !== 'v2') return undefined;
  const n = s.length;
  if (n === 2) return { route: { kind: 'server-metadata' }, method: 'GET' };
  if (s[2] === 'health' && n === 4) {
    if (s[3] === 'live') return { route: { kind: 'live' }, method: 'GET' };
    if (s[3] === 'ready') return { route: { kind: 'ready' }, method: 'GET' };
    return undefined;
  }
  if (s[2] === 'repository') {
    if (n === 4 && s[3] === 'index') return { route: { kind: 'repository-index' }, method: 'POST' };
    if (n === 6 && s[3] === 'models' && (s[5] === 'load' || s[5] === 'unload')) {
      const model = modelName(s[4]);
      return { route: { kind: s[5] === 'load' ? 'repository-load' : 'repository-unload', model }, method: 'POST' };
    }
    return undefined;
  }
  if (s[2] !== 'models' || n < 4) return undefined;
  // Before model names, as Triton matches it: a model named 'stats' has no metadata path of its own.
  if (n === 4 && s[3] === 'stats') return { route: { kind: 'model-stats' }, method: 'GET' };
  const model = modelName(s[3]);
  let rest = 4;
  let version: string | undefined;
  if (s[4] === 'versions') {
    if (n < 6) return undefined;
    version = versionOf(s[5]);
    rest = 6;
  }
  if (n === rest) return { route: { kind: 'model-metadata', model, version }, method: 'GET' };
  if (n !== rest + 1) return undefined;
  switch (s[rest]) {
    case 'ready': return { route: { kind: 'model-ready', model, version }, method: 'GET' };
    case 'config': return { route: { kind: 'model-config', model, version }, method: 'GET' };
    case 'infer': return { route: { kind: 'infer', model, version }, method: 'POST' };
    case 'generate': return { route: { kind: 'generate', model, version, stream: false }, method: 'POST' };
    case 'generate_stream': return { route: { kind: 'generate', model, version, stream: true }, method: 'POST' };
    case 'stats': return { route: { kind: 'model-stats', model, version }, method: 'GET' };
    default: return undefined;
  }
}
