/**
 * mulberry32: a small seeded generator of uniform floats in [0, 1). Where the same numbers must come on every run:
 * seeded sampling of a generation, synthetic bench inputs, optimize's sample feeds.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
