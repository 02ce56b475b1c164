import type { CounterChild, MetricsRegistry } from './registry.js';

/** A model version's cache series (Triton's names): hits, misses and the time each took, µs. */
export interface ModelCacheMetrics {
  readonly hits: CounterChild;
  readonly misses: CounterChild;
  /** Lookup time of hits. */
  readonly hitUs: CounterChild;
  /** Lookup and insert time of misses. */
  readonly missUs: CounterChild;
}

/** The numbers a cache tier keeps (src/cache/cache-tier.ts TierStats), read at scrape time. */
export interface TierNumbers {
  readonly name: string;
  readonly stats: { hits: number; misses: number; errors: number; evictions: number; entries: number; bytes: number };
}

/**
 * The response cache's metrics on the server's registry: Triton's per-model `nv_cache_*` series, and per tier
 * (local, lmdb, redis) `autoglm_cache_*` hits, misses, errors, evictions, entries and bytes.
 */
export class CacheMetrics {
  private readonly m;

  constructor(registry: MetricsRegistry) {
    const mv = ['model', 'version'];
    const t = ['tier'];
    this.m = {
      hits: registry.counter('nv_cache_num_hits_per_model', 'Number of cache hits per model', mv),
      misses: registry.counter('nv_cache_num_misses_per_model', 'Number of cache misses per model', mv),
      hitUs: registry.counter('nv_cache_hit_duration_per_model', 'Total cache hit duration per model, in microseconds', mv),
      missUs: registry.counter('nv_cache_miss_duration_per_model', 'Total cache miss (lookup and insert) duration per model, in microseconds', mv),
      tierHits: registry.counter('autoglm_cache_hits', 'Cache hits per tier', t),
      tierMisses: registry.counter('autoglm_cache_misses', 'Cache misses per tier', t),
      tierErrors: registry.counter('autoglm_cache_errors', 'Cache calls per tier that failed, timed out or found a corrupt entry (each answered as a miss)', t),
      tierEvictions: registry.counter('autoglm_cache_evictions', 'Entries evicted per tier to stay within its size', t),
      tierEntries: registry.gauge('autoglm_cache_entries', 'Entries held per tier (-1: not known cheaply)', t),
      tierBytes: registry.gauge('autoglm_cache_bytes', 'Bytes of entries held per tier (-1: not known cheaply)', t),
    };
  }

  forModel(model: string, version: string): ModelCacheMetrics {
    const m = this.m;
    return Object.freeze({
      hits: m.hits.labels(model, version), misses: m.misses.labels(model, version),
      hitUs: m.hitUs.labels(model, version), missUs: m.missUs.labels(model, version),
    });
  }

  removeModel(model: string, version: string): void {
    for (const metric of [this.m.hits, this.m.misses, this.m.hitUs, this.m.missUs]) metric.remove(model, version);
  }

  /** Exports a tier's numbers (read when scraped). */
  watchTier(tier: TierNumbers): void {
    const s = tier.stats;
    const m = this.m;
    m.tierHits.labels(tier.name).collect = () => s.hits;
    m.tierMisses.labels(tier.name).collect = () => s.misses;
    m.tierErrors.labels(tier.name).collect = () => s.errors;
    m.tierEvictions.labels(tier.name).collect = () => s.evictions;
    m.tierEntries.labels(tier.name).collect = () => s.entries;
    m.tierBytes.labels(tier.name).collect = () => s.bytes;
  }
}
