import { Redis } from 'ioredis';
import { type CacheTier, type TierStats, newStats } from './cache-tier.js';

export interface RedisTierOptions {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
  /** Bound on every command and on connecting, ms. */
  readonly timeoutMs: number;
  /** Entries expire after this long (seconds); 0 = never (Redis's own maxmemory policy bounds them). */
  readonly ttlSec?: number;
  /** Prefix of every key (several servers or models sets may share one Redis). */
  readonly prefix?: string;
}

/**
 * L3: Redis, shared by replicas on many machines (ioredis). Redis down, slow or restarted is a miss, never a failed
 * inference: commands are not queued while disconnected (they fail at once), every command is bounded by
 * `timeoutMs`, and the client reconnects by itself (backing off to 1 s between tries).
 */
export class RedisTier implements CacheTier {
  readonly name = 'redis';
  readonly stats: TierStats = { ...newStats(), entries: -1, bytes: -1 };
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(private readonly o: RedisTierOptions) {
    this.prefix = o.prefix ?? 'autoglm:cache:';
    this.redis = new Redis({
      host: o.host, port: o.port, username: o.username, password: o.password, db: o.db ?? 0,
      commandTimeout: o.timeoutMs, connectTimeout: o.timeoutMs,
      enableOfflineQueue: false, maxRetriesPerRequest: 0,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
      lazyConnect: false,
    });
    // Connection errors are expected (Redis restarting); without a listener ioredis would report them as unhandled.
    this.redis.on('error', () => {});
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const v = await this.redis.getBuffer(this.prefix + key);
      if (v === null) {
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
    const done = this.o.ttlSec ? this.redis.set(this.prefix + key, value, 'EX', this.o.ttlSec) : this.redis.set(this.prefix + key, value);
    done.catch(() => {
      this.stats.errors++;
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
