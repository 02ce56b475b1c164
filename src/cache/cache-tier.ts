/** Counters every tier keeps (exported as autoglm_cache_* metrics per tier). */
export interface TierStats {
  hits: number;
  misses: number;
  /** Entries refused, lost or unreadable: failed calls, timeouts, corrupt entries (all answered as misses). */
  errors: number;
  evictions: number;
  /** Entries and bytes stored now, where the tier can tell cheaply (-1 when it cannot). */
  entries: number;
  bytes: number;
}

export const newStats = (): TierStats => ({ hits: 0, misses: 0, errors: 0, evictions: 0, entries: 0, bytes: 0 });

/**
 * One level of the response cache, holding encoded entries (cache-entry.ts) under their keys (cache-key.ts). A tier
 * never throws and never fails an inference: what goes wrong is a miss (get) or a dropped entry (set), counted in
 * `errors`. `get` is synchronous where the tier is (in-process, LMDB), a promise where it is not (Redis).
 */
export interface CacheTier {
  readonly name: string;
  readonly stats: TierStats;
  get(key: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  set(key: string, entry: Uint8Array): void;
  close(): Promise<void>;
}
