/**
 * `--cache-config` as tritonserver spells it: `<cache>,<key>=<value>[,<key>=<value>…]`, repeatable; flags naming the
 * same cache add keys to it (Triton's `--cache-config redis,host=h --cache-config redis,port=6379`). Extended: several
 * caches compose as tiers, in the order they are first named (`local` should come first: it is the fastest).
 */
export type TierSpec =
  | { readonly kind: 'local'; readonly sizeBytes: number }
  | { readonly kind: 'lmdb'; readonly path: string; readonly sizeBytes: number }
  | {
    readonly kind: 'redis'; readonly host: string; readonly port: number; readonly username?: string;
    readonly password?: string; readonly db: number; readonly timeoutMs: number; readonly ttlSec: number;
  };

export class CacheConfigError extends Error {}

const KEYS: Record<TierSpec['kind'], readonly string[]> = {
  local: ['size'],
  lmdb: ['path', 'size'],
  redis: ['host', 'port', 'user', 'password', 'db', 'timeout', 'ttl'],
};

/** Bytes from "1048576", "256MiB", "2GiB", "512KiB", "1GB" (powers of 1000 for KB/MB/GB). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(text.trim());
  if (!m) throw new CacheConfigError(`${what} must be a byte count like 1048576, 256MiB or 2GiB (got '${text}')`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1 << 20, gb: 1e9, gib: 1 << 30 };
  const n = Math.floor(Number(m[1]) * mult[unit]);
  if (!(n > 0) || !Number.isSafeInteger(n)) throw new CacheConfigError(`${what} must be positive (got '${text}')`);
  return n;
}

function int(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new CacheConfigError(`${what} must be an integer in ${min}..${max} (got '${text}')`);
  return Number(text);
}

/** The tiers the flags ask for, in order; throws CacheConfigError naming the flag's part that is wrong. */
export function parseCacheConfig(flags: readonly string[]): TierSpec[] {
  const order: TierSpec['kind'][] = [];
  const settings = new Map<TierSpec['kind'], Map<string, string>>();
  for (const flag of flags) {
    const [name, ...pairs] = flag.split(',');
    if (!(name in KEYS)) throw new CacheConfigError(`--cache-config: unknown cache '${name}' (known: local, lmdb, redis)`);
    const kind = name as TierSpec['kind'];
    if (!settings.has(kind)) {
      settings.set(kind, new Map());
      order.push(kind);
    }
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (eq < 0 || !KEYS[kind].includes(key)) {
        throw new CacheConfigError(`--cache-config ${kind}: '${pair}' is not one of ${KEYS[kind].map((k) => `${k}=…`).join(', ')}`);
      }
      settings.get(kind)!.set(key, pair.slice(eq + 1));
    }
  }
  return order.map((kind): TierSpec => {
    const s = settings.get(kind)!;
    const need = (k: string) => {
      const v = s.get(k);
      if (v === undefined || v === '') throw new CacheConfigError(`--cache-config ${kind} needs ${k}=…`);
      return v;
    };
    switch (kind) {
      case 'local':
        return { kind, sizeBytes: parseSize(need('size'), '--cache-config local size') };
      case 'lmdb':
        return { kind, path: need('path'), sizeBytes: parseSize(need('size'), '--cache-config lmdb size') };
      case 'redis':
        return {
          kind,
          host: s.get('host') || 'localhost',
          port: s.has('port') ? int(s.get('port')!, '--cache-config redis port', 1, 65535) : 6379,
          username: s.get('user') || undefined,
          password: s.get('password') || undefined,
          db: s.has('db') ? int(s.get('db')!, '--cache-config redis db', 0, 1 << 16) : 0,
          timeoutMs: s.has('timeout') ? int(s.get('timeout')!, '--cache-config redis timeout (ms)', 1, 60_000) : 100,
          ttlSec: s.has('ttl') ? int(s.get('ttl')!, '--cache-config redis ttl (s)', 0, 1 << 30) : 0,
        };
    }
  });
}
