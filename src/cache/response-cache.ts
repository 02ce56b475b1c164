import type { Tensor } from '../core/index.js';
import { CorruptEntryError, decodeEntry, encodeEntry } from './cache-entry.js';
import type { CacheTier } from './cache-tier.js';
import type { TierSpec } from './cache-config.js';
import { LocalTier } from './local-tier.js';
import { LmdbTier } from './lmdb-tier.js';
import { RedisTier } from './redis-tier.js';

/**
 * The response cache: an in-process L1 (LocalTier) in front of shared tiers (LMDB on the host, Redis across
 * machines), looked up in order; a hit in a lower tier fills the tiers above it. Only answers are stored — the
 * caller inserts successful ones only. Lookups never fail: a tier that errs is a miss.
 */
export class ResponseCache {
  readonly local: LocalTier | undefined;
  readonly shared: readonly CacheTier[];
  /** Shared-tier entries that failed their checks (all tiers together). */
  corrupt = 0;

  constructor(local: LocalTier | undefined, shared: readonly CacheTier[]) {
    this.local = local;
    this.shared = shared;
  }

  static fromSpecs(specs: readonly TierSpec[]): ResponseCache {
    let local: LocalTier | undefined;
    const shared: CacheTier[] = [];
    for (const s of specs) {
      if (s.kind === 'local') local = new LocalTier(s.sizeBytes);
      else if (s.kind === 'lmdb') shared.push(new LmdbTier(s.path, s.sizeBytes));
      else shared.push(new RedisTier({ host: s.host, port: s.port, username: s.username, password: s.password, db: s.db, timeoutMs: s.timeoutMs, ttlSec: s.ttlSec }));
    }
    return new ResponseCache(local, shared);
  }

  get tiers(): readonly { readonly name: string; readonly stats: CacheTier['stats'] }[] {
    return this.local ? [this.local, ...this.shared] : this.shared;
  }

  /** The cached outputs for `key`, or undefined; synchronous unless a tier that answers asynchronously is asked. */
  lookup(key: string): readonly Tensor[] | undefined | Promise<readonly Tensor[] | undefined> {
    const hit = this.local?.get(key);
    if (hit) return hit;
    return this.fromShared(key, 0);
  }

  private fromShared(key: string, from: number): readonly Tensor[] | undefined | Promise<readonly Tensor[] | undefined> {
    for (let i = from; i < this.shared.length; i++) {
      const got = this.shared[i].get(key);
      if (got instanceof Promise) return got.then((entry) => (entry ? this.found(key, entry, i) : this.fromShared(key, i + 1)));
      if (got) {
        const outputs = this.found(key, got, i);
        if (outputs) return outputs;
      }
    }
    return undefined;
  }

  /** A shared tier's entry: checked, decoded, and put in the tiers above it; undefined when it is corrupt. */
  private found(key: string, got: Uint8Array, tier: number): readonly Tensor[] | undefined {
    // The tier's buffer may be a slice of a client's read buffer that it reuses (ioredis does): the answer's tensors
    // view a copy of their own, 8-byte aligned.
    const entry = new Uint8Array(got.byteLength);
    entry.set(got);
    let outputs: Tensor[];
    try {
      outputs = decodeEntry(entry);
    } catch (err) {
      if (!(err instanceof CorruptEntryError)) throw err;
      this.corrupt++;
      this.shared[tier].stats.errors++;
      return undefined;
    }
    this.local?.set(key, entry, outputs);
    for (let i = 0; i < tier; i++) this.shared[i].set(key, entry);
    return outputs;
  }

  /** Stores an answer in every tier (its data is copied once, into the entry). */
  insert(key: string, outputs: readonly Tensor[]): void {
    const entry = encodeEntry(outputs, this.shared.length > 0);
    this.local?.set(key, entry);
    for (const t of this.shared) t.set(key, entry);
  }

  async close(): Promise<void> {
    await Promise.all([this.local?.close(), ...this.shared.map((t) => t.close())]);
  }
}
