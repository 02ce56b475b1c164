import { seededRandom } from '../../core/index.js';

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

/** Sampling from softmax(logits / temperature), drawing from the sequence's own seeded generator (reproducible). */
export function temperatureSampler(temperature: number, seed: number): Sampler {
  const next = seededRandom(seed);
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
