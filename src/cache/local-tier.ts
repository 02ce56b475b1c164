import { LRUCache } from 'lru-cache';
import type { Tensor } from '../core/index.js';
import { decodeEntry } from './cache-entry.js';
import { type TierStats, newStats } from './cache-tier.js';

interface Held {
  readonly outputs: readonly Tensor[];
  readonly bytes: number;
}

/**
 * L1: this process's memory, least recently used first out, bounded by the bytes of its entries. It holds answers
 * decoded — tensors that view the entry's own buffer, which the cache made and nobody else writes — so a hit costs a
 * map lookup. Not a CacheTier (whose values are encoded bytes): the response cache puts and gets tensors here.
 */
export class LocalTier {
  readonly name = 'local';
  readonly stats: TierStats = newStats();
  private readonly lru: LRUCache<string, Held>;

  constructor(readonly maxBytes: number) {
    this.lru = new LRUCache<string, Held>({
      maxSize: maxBytes,
      sizeCalculation: (v) => Math.max(1, v.bytes),
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') this.stats.evictions++;
      },
    });
  }

  get(key: string): readonly Tensor[] | undefined {
    const h = this.lru.get(key);
    if (h) this.stats.hits++;
    else this.stats.misses++;
    return h?.outputs;
  }

  /** Stores the entry's decoded view (an entry larger than the whole tier is not stored). */
  set(key: string, entry: Uint8Array, outputs: readonly Tensor[] = decodeEntry(entry, false)): void {
    if (entry.byteLength > this.maxBytes) return;
    this.lru.set(key, { outputs, bytes: entry.byteLength });
    this.stats.entries = this.lru.size;
    this.stats.bytes = this.lru.calculatedSize;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}
