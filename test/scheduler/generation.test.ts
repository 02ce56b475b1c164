/**
 * The generation scheduler (src/scheduler/iteration) on a real server with the tiny_gpt step model: tokens streamed
 * one response each, sequences joining and leaving a running batch without changing each other's tokens, the slab's
 * bound, cancellation, limits, and the request-level baseline. Orderings are driven by the responses themselves
 * (a request starts when another has produced its k-th token), never by timers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InferenceServer } from '../../src/server/inference-server.js';
import { type InferenceRequest, type InferenceResponse, type Parameters, CancelSource, InferenceError } from '../../src/core/index.js';
import { writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';
import { TINY_GPT_EOS, type TinyGptConfigOptions, tinyGptConfig, tinyGptModel } from '../../scripts/tiny-gpt.js';

const gpt = tinyGptModel();
const repo = tempRepo('autoglm-gen-');
const models: Record<string, TinyGptConfigOptions> = {
  gen: { maxActive: 4 },
  gen_one: { maxActive: 1, maxQueue: 1 },
  gen_two: { maxActive: 2 },
  gen_req: { batching: 'request', maxActive: 4 },
  gen_two_inst: { maxActive: 2, instances: 2 },
};
for (const [name, o] of Object.entries(models)) writeModel(repo.dir, name, gpt.bytes, { config: tinyGptConfig(name, o) });
const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
after(async () => {
  await server.close();
  repo.remove();
});

function request(model: string, prompt: string | Uint8Array, parameters: Parameters = {}, signal?: CancelSource): InferenceRequest {
  const bytes = typeof prompt === 'string' ? new TextEncoder().encode(prompt) : prompt;
  return { model, inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: [bytes] }], parameters, signal };
}

interface Event { readonly who: string; readonly token: number; readonly final: boolean }

/** Streams one request; each response is logged in `log` (shared across requests, so their order can be checked). */
function stream(log: Event[], who: string, req: InferenceRequest, onToken?: (n: number) => void) {
  const tokens: number[] = [];
  const done = server.inferStream(req, (res: InferenceResponse, final: boolean) => {
    const id = res.outputs.find((t) => t.name === 'token_id')!;
    const text = res.outputs.find((t) => t.name === 'text_output')!;
    assert.deepEqual(id.shape, [1]);
    const token = (id.data as Int32Array)[0];
    assert.deepEqual([...(text.data as Uint8Array[])[0]], token < 256 ? [token] : []);
    tokens.push(token);
    log.push({ who, token, final });
    onToken?.(tokens.length);
  });
  return { tokens, done };
}

async function alone(model: string, prompt: Uint8Array, maxTokens: number): Promise<number[]> {
  const res = await server.infer(request(model, prompt, { max_tokens: maxTokens }));
  return [...(res.outputs.find((t) => t.name === 'token_id')!.data as Int32Array)];
}

const argmax = (row: Float64Array) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

test('greedy tokens are the JS reference\'s argmax continuation, streamed one response each, final on the last only', async () => {
  const prompt = [...Buffer.from('Once upon a time')];
  const expected: number[] = [];
  const seq = prompt.slice();
  for (let i = 0; i < 10; i++) {
    const ref = gpt.reference(seq);
    seq.push(argmax(ref[ref.length - 1]));
    expected.push(seq[seq.length - 1]);
  }
  const log: Event[] = [];
  const s = stream(log, 'a', request('gen', Uint8Array.from(prompt), { max_tokens: 10 }));
  await s.done;
  assert.deepEqual(s.tokens, expected);
  assert.deepEqual(log.map((e) => e.final), [...Array(9).fill(false), true]);
  // The ordinary infer call answers once with all of them, and the text.
  const res = await server.infer(request('gen', Uint8Array.from(prompt), { max_tokens: 10 }));
  assert.deepEqual([...(res.outputs[0].data as Int32Array)], expected);
  assert.deepEqual([...(res.outputs[1].data as Uint8Array[])[0]], expected.filter((t) => t < 256));
});

for (const model of ['gen', 'gen_two', 'gen_req', 'gen_two_inst']) {
  test(`${model}: sequences joining and leaving the running batch get exactly the tokens each gets alone`, async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({
        prompt: fc.uint8Array({ minLength: 1, maxLength: 24 }),
        maxTokens: fc.integer({ min: 1, max: 12 }),
        // Starts when an earlier sequence has produced this many tokens (0 = at once).
        after: fc.integer({ min: 0, max: 4 }),
        trigger: fc.nat(),
      }), { minLength: 1, maxLength: 7 }),
      async (seqs) => {
        const log: Event[] = [];
        const runs: ReturnType<typeof stream>[] = [];
        // Per sequence: the starts it triggers, each at its own token count (or at its end, if it ends sooner).
        const waiting: { after: number; go: () => void }[][] = seqs.map(() => []);
        const start = (i: number) => {
          runs[i] = stream(log, `s${i}`, request(model, seqs[i].prompt, { max_tokens: seqs[i].maxTokens }), (n) => {
            for (const w of waiting[i]) if (n >= w.after || n >= seqs[i].maxTokens) w.go();
          });
        };
        const started: Promise<void>[] = [];
        seqs.forEach((s, i) => {
          if (i === 0 || s.after === 0) {
            start(i);
            return;
          }
          const t = s.trigger % i;
          started.push(new Promise<void>((resolve) => {
            let fired = false;
            waiting[t].push({
              after: s.after,
              go: () => {
                if (fired) return;
                fired = true;
                start(i);
                resolve();
              },
            });
          }));
        });
        // Starting a sequence can only be triggered by one started before it, so every sequence starts.
        await Promise.all(started);
        await Promise.all(runs.map((r) => r.done));
        for (let i = 0; i < seqs.length; i++) assert.deepEqual(runs[i].tokens, await alone(model, seqs[i].prompt, seqs[i].maxTokens), `sequence ${i}`);
      },
    ), { numRuns: 10 });
  });
}
