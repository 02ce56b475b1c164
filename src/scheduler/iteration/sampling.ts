/** Picks a sequence's next token from one row of logits. */
export type Sampler = (logits: Float32Array, offset: number, vocab: number) => number;

/** Greedy: the highest logit (the lowest id on a tie), so a prompt's tokens never depend on what else runs. */
export const argmax: Sampler = (logits, offset, vocab) => {
  let best = 0;
  let max = logits[offset];
  for (let i = 1; i < vocab; i++) {
    const v = logits[offset + i];
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
};

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sampling from softmax(logits / temperature), drawing from the sequence's own seeded generator (reproducible). */
export function temperatureSampler(temperature: number, seed: number): Sampler {
  const next = seeded(seed);
  let weights = new Float64Array(0);
  return (logits, offset, vocab) => {
    if (weights.length < vocab) weights = new Float64Array(vocab);
    const max = logits[offset + argmax(logits, offset, vocab)];
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += weights[i] = Math.exp((logits[offset + i] - max) / temperature);
    let r = next() * sum;
    for (let i = 0; i < vocab; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return vocab - 1;
  };
}
