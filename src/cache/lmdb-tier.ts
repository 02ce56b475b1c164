import { open, type Database, type RootDatabase } from 'lmdb';
import { type CacheTier, type TierStats, newStats } from './cache-tier.js';

/**
 * L2: an LMDB environment in a directory, shared by every server process on the host that opens it (replicas, or
 * processes behind one port): a read is a memory-mapped lookup, no round trip. Bounded by the bytes of its entries:
 * each write transaction that adds an entry evicts the oldest-inserted ones until the total fits (FIFO, not LRU —
 * recording every read's recency would turn reads into write transactions that all processes queue for). The
 * total and the insertion order live in the environment itself, so the bound holds across processes. Writes are
 * asynchronous (lmdb batches them into transactions); durability is not needed for a cache (noSync).
 */
export class LmdbTier implements CacheTier {
  readonly name = 'lmdb';
  readonly stats: TierStats = newStats();
  private readonly root: RootDatabase;
  private readonly entries: Database<Buffer, string>;
  /** Insertion sequence number → key. */
  private readonly order: Database<string, number>;
  /** 'bytes' → total bytes of entries, 'count' → entries, 'seq' → the next sequence number. */
  private readonly meta: Database<number, string>;

  constructor(readonly path: string, readonly maxBytes: number) {
    this.root = open({
      path,
      // The map must hold the entries and LMDB's own pages; it grows past this if needed.
      mapSize: Math.max(64 << 20, 2 * maxBytes),
      noSync: true,
      noMetaSync: true,
      compression: false,
    });
    this.entries = this.root.openDB<Buffer, string>({ name: 'entries', encoding: 'binary' });
    this.order = this.root.openDB<string, number>({ name: 'order', encoding: 'string' });
    this.meta = this.root.openDB<number, string>({ name: 'meta', encoding: 'msgpack' });
  }

  get(key: string): Uint8Array | undefined {
    try {
      const v = this.entries.getBinary(key);
      if (v === undefined) {
        this.stats.misses++;
        return undefined;
      }
      this.stats.hits++;
      return v;
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  set(key: string, entry: Uint8Array): void {
    const value = Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength);
    if (value.byteLength > this.maxBytes) return;
    this.root.transaction(() => {
      if (this.entries.doesExist(key)) return;
      let total = this.meta.get('bytes') ?? 0;
      let count = this.meta.get('count') ?? 0;
      const seq = this.meta.get('seq') ?? 0;
      this.entries.put(key, value);
      this.order.put(seq, key);
      total += value.byteLength;
      count++;
      for (const { key: oldSeq, value: oldKey } of this.order.getRange({ snapshot: false })) {
        if (total <= this.maxBytes) break;
        const old = this.entries.getBinary(oldKey);
        if (old) total -= old.byteLength;
        this.entries.remove(oldKey);
        this.order.remove(oldSeq);
        count--;
        this.stats.evictions++;
      }
      this.meta.put('bytes', total);
      this.meta.put('count', count);
      this.meta.put('seq', seq + 1);
      this.stats.bytes = total;
      this.stats.entries = count;
    }).catch(() => {
      this.stats.errors++;
    });
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
