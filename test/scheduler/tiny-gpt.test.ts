/**
 * The tiny_gpt step model (scripts/tiny-gpt.ts) against its plain-JS reference: run step-wise the way the generation
 * scheduler runs it (a batched, padded prefill, then one-token decode steps with the cache kept in a KvSlab), every
 * row's logits at every position equal the reference's forward pass over the whole sequence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Tensor } from '../../src/core/index.js';
import { KvSlab, StepBuffers, type StepRow } from '../../src/scheduler/iteration/index.js';
import { tinyGptModel } from '../../scripts/tiny-gpt.js';

const gpt = tinyGptModel();
const { layers, heads, dModel, vocab } = gpt.shape;

async function run(session: ort.InferenceSession, inputs: Tensor[]): Promise<{ logits: Float32Array; present: Float32Array }> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) feeds[t.name] = new ort.Tensor(t.datatype === 'INT64' ? 'int64' : 'float32', t.data as Float32Array, [...t.shape]);
  const out = await session.run(feeds);
  return { logits: out.logits.data as Float32Array, present: out.present_key_values.data as Float32Array };
}

function assertClose(actual: Float32Array, offset: number, expected: Float64Array, what: string): void {
  for (let k = 0; k < vocab; k++) {
    const d = Math.abs(actual[offset + k] - expected[k]);
    if (!(d < 1e-3)) assert.fail(`${what}: logit ${k} is ${actual[offset + k]}, the reference says ${expected[k]}`);
  }
}

test('tiny_gpt run step-wise with a KV cache (batched, padded prefill, then decode) gives the JS reference\'s logits', async () => {
  const session = await ort.InferenceSession.create(gpt.bytes, { intraOpNumThreads: 1 });
  try {
    const slab = new KvSlab(4, layers, heads, 64, dModel / heads);
    const buffers = new StepBuffers();
    // Three sequences of different prompt lengths in slots 3, 0, 2 (not in order: the gather must follow the slot).
    const prompts = [[...Buffer.from('Hi')], [...Buffer.from('The quick brown fox')], [...Buffer.from('0123456')]];
    const slots = [3, 0, 2];
    const seqs = prompts.map((p) => p.slice());
    let rows: (StepRow & { seq: number })[] = prompts.map((p, b) => ({ seq: b, slot: slots[b], cached: 0, tokens: p }));
    for (let step = 0; step < 6; step++) {
      const built = buffers.build(rows, slab);
      const { logits, present } = await run(session, built.inputs);
      slab.scatter(present, built.tokens, rows.map((r) => r.slot), rows.map((r) => r.cached), rows.map((r) => r.tokens.length));
      const next: typeof rows = [];
      rows.forEach((r, b) => {
        const ref = gpt.reference(seqs[r.seq]);
        // Every real position of this step: (prefill: each prompt position; decode: the one new token).
        for (let t = 0; t < r.tokens.length; t++) assertClose(logits, (b * built.tokens + t) * vocab, ref[r.cached + t], `sequence ${r.seq} step ${step} position ${r.cached + t}`);
        // Feed a token that is not the argmax, so a wrong cache could not hide behind a repetitive continuation.
        const token = (seqs[r.seq].length * 37 + r.seq) % 256;
        seqs[r.seq].push(token);
        // Sequence 1 leaves after step 3: the others' numbers must not change.
        if (!(r.seq === 1 && step >= 3)) next.push({ seq: r.seq, slot: r.slot, cached: r.cached + r.tokens.length, tokens: [token] });
      });
      rows = next;
    }
  } finally {
    await session.release();
  }
});

test('the step inputs mask padding and other rows\' lengths: a row\'s logits do not depend on its batch', async () => {
  const session = await ort.InferenceSession.create(gpt.bytes, { intraOpNumThreads: 1 });
  try {
    const alone = new KvSlab(1, layers, heads, 32, dModel / heads);
    const shared = new KvSlab(2, layers, heads, 32, dModel / heads);
    const buffers = new StepBuffers();
    const p = [...Buffer.from('abc')];
    const a = await run(session, buffers.build([{ slot: 0, cached: 0, tokens: p }], alone).inputs);
    const both = await run(session, buffers.build([{ slot: 1, cached: 0, tokens: [...Buffer.from('a much longer prompt')] }, { slot: 0, cached: 0, tokens: p }], shared).inputs);
    const T = 20;
    for (let t = 0; t < p.length; t++) {
      for (let k = 0; k < vocab; k++) assert.ok(Math.abs(a.logits[t * vocab + k] - both.logits[(T + t) * vocab + k]) < 1e-4);
    }
  } finally {
    await session.release();
  }
});
