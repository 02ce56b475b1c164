import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Tensor } from '../../src/core/index.js';
import { decodeEntry, encodeEntry } from '../../src/cache/cache-entry.js';
import { LocalTier } from '../../src/cache/local-tier.js';
import { LmdbTier } from '../../src/cache/lmdb-tier.js';
import { RedisTier } from '../../src/cache/redis-tier.js';
import { ResponseCache } from '../../src/cache/response-cache.js';
import { RedisServer } from '../fixtures/redis.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'autoglm-cache-')); dirs.push(d); return d; };

const answer = (v: number, n = 256): Tensor[] => [{ name: 'y', datatype: 'FP32', shape: [1, n], data: new Float32Array(n).fill(v) }];
const valueOf = (outputs: readonly Tensor[] | undefined) => (outputs ? (outputs[0].data as Float32Array)[0] : undefined);

test('local: least recently used out first, bounded by entry bytes; an entry never aliases the answer it came from', () => {
  const size = encodeEntry(answer(0)).byteLength;
  const cache = new ResponseCache(new LocalTier(3 * size), []);
  const first = answer(1);
  cache.insert('a', first);
  cache.insert('b', answer(2));
  cache.insert('c', answer(3));
  (first[0].data as Float32Array).fill(99); // the caller's buffers are reused: the cache kept its own copy
  assert.equal(valueOf(cache.lookup('a') as Tensor[]), 1);
  cache.insert('d', answer(4)); // evicts b, the least recently used
  assert.equal(cache.lookup('b'), undefined);
  assert.equal(valueOf(cache.lookup('c') as Tensor[]), 3);
  assert.equal(cache.local!.stats.evictions, 1);
  assert.equal(cache.local!.stats.entries, 3);
  assert.ok(cache.local!.stats.bytes <= 3 * size);
  cache.insert('huge', answer(5, 10_000)); // larger than the tier: not stored, nothing evicted for it
  assert.equal(cache.lookup('huge'), undefined);
  assert.equal(cache.local!.stats.entries, 3);
});

test('lmdb: two handles on one directory share entries; the oldest are evicted past the size; corrupt entries are misses', async () => {
  const dir = tmp();
  const entrySize = encodeEntry(answer(0)).byteLength;
  const a = new LmdbTier(dir, 4 * entrySize);
  const b = new LmdbTier(dir, 4 * entrySize);
  for (let i = 0; i < 6; i++) a.set(`k${i}`, encodeEntry(answer(i)));
  await a.close(); // flushes the pending write transactions
  const c = new LmdbTier(dir, 4 * entrySize);
  assert.equal(c.get('k0'), undefined, 'evicted: the oldest');
  assert.equal(c.get('k1'), undefined);
  assert.equal(valueOf(decodeEntry(c.get('k5')!)), 5);
  assert.equal(valueOf(decodeEntry(b.get('k2')!)), 2, 'seen through the other handle');
  // Garbage written under a key by something else: the shared cache answers a miss and counts it.
  const raw = open({ path: dir }).openDB({ name: 'entries', encoding: 'binary' });
  await raw.put('bad', Buffer.from('not an entry'));
  const cache = new ResponseCache(undefined, [c]);
  assert.equal(cache.lookup('bad'), undefined);
  assert.equal(c.stats.errors, 1);
  assert.equal(cache.corrupt, 1);
  await Promise.all([b.close(), c.close()]);
});

test('a hit in a lower tier fills the tiers above it', async () => {
  const dir = tmp();
  const lmdb = new LmdbTier(dir, 1 << 20);
  lmdb.set('k', encodeEntry(answer(7)));
  await lmdb.close();
  const cache = new ResponseCache(new LocalTier(1 << 20), [new LmdbTier(dir, 1 << 20)]);
  assert.equal(valueOf(cache.lookup('k') as Tensor[]), 7);
  assert.equal(cache.local!.stats.misses, 1);
  assert.equal(valueOf(cache.lookup('k') as Tensor[]), 7);
  assert.equal(cache.local!.stats.hits, 1, 'the second lookup is an L1 hit');
  await cache.close();
});

test('redis: entries shared through a real redis-server; killed, a lookup is a quick miss; restarted, the client reconnects', async () => {
  const redis = await RedisServer.start();
  const tier = () => new RedisTier({ host: '127.0.0.1', port: redis.port, timeoutMs: 200 });
  const writer = tier();
  const reader = new ResponseCache(new LocalTier(1 << 20), [tier()]);
  try {
    await waitFor(async () => (await writer.get('warm')) === undefined && writer.stats.misses > 0);
    writer.set('k', encodeEntry(answer(3)));
    await waitFor(async () => (await writer.get('k')) !== undefined);
    assert.equal(valueOf(await reader.lookup('k')), 3);
    assert.equal(reader.local!.stats.entries, 1, 'filled L1');
    await redis.kill();
    const t0 = performance.now();
    assert.equal(await reader.lookup('other'), undefined);
    assert.ok(performance.now() - t0 < 1000, 'a miss, not a hang');
    assert.ok(reader.shared[0].stats.errors >= 1);
    writer.set('lost', encodeEntry(answer(4))); // dropped, counted, never thrown
    await redis.restart();
    // Once the clients are back (writes while they reconnect are dropped, like any write while Redis is down).
    await waitFor(async () => {
      writer.set('k2', encodeEntry(answer(5)));
      return valueOf(await reader.lookup('k2')) === 5;
    });
  } finally {
    await writer.close();
    await reader.close();
    await redis.kill();
  }
});

/** Polls `ok` (every 20 ms, up to 10 s): for states reached over the network, not for timing assertions. */
async function waitFor(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not reached in 10 s');
}
