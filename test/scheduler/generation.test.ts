/**
 * The generation scheduler (src/scheduler/iteration) on a real server with the tiny_gpt step model: tokens streamed
 * one response each, sequences joining and leaving a running batch without changing each other's tokens, the slab's
 * bound, cancellation, limits, and the request-level baseline. Orderings are driven by the responses themselves
 * (a request starts when another has produced its k-th token), never by timers.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type InferenceRequest, type InferenceResponse, type Parameters, CancelSource, InferenceError } from '../../src/core/index.js';
import { writeModel } from '../fixtures/models.js';
import * as grpc from '@grpc/grpc-js';
import { postJson, tempRepo } from '../http/helpers.js';
import { grpcClient, startGrpcServer } from '../grpc/helpers.js';
import { TINY_GPT_EOS, type TinyGptConfigOptions, tinyGptConfig, tinyGptModel } from '../../scripts/tiny-gpt.js';

const gpt = tinyGptModel();
const argmax = (row: Float64Array) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);
/** The reference's greedy continuation of `prompt`. */
function greedy(prompt: readonly number[], n: number): number[] {
  const seq = prompt.slice();
  for (let i = 0; i < n; i++) {
    const ref = gpt.reference(seq);
    seq.push(argmax(ref[ref.length - 1]));
  }
  return seq.slice(prompt.length);
}
// An end token the model meets: the first of 'Hello''s continuation, from the third on, not seen before it.
const HELLO = greedy([...Buffer.from('Hello')], 8);
const EOS_AT = HELLO.findIndex((t, i) => i >= 2 && !HELLO.slice(0, i).includes(t));
const repo = tempRepo('autoglm-gen-');
const models: Record<string, TinyGptConfigOptions> = {
  gen: { maxActive: 4 },
  gen_one: { maxActive: 1, maxQueue: 1 },
  gen_two: { maxActive: 2 },
  gen_req: { batching: 'request', maxActive: 4 },
  gen_two_inst: { maxActive: 2, instances: 2 },
  gen_eos: { eosToken: HELLO[EOS_AT], decoupled: false },
  gen_eos_stream: { eosToken: HELLO[EOS_AT] },
  // Not decoupled: the ordinary infer call answers once with the whole generation.
  gen_whole: { decoupled: false },
  // Allows sequences past the model's 256 positions: a step there fails in onnxruntime (Gather out of range).
  gen_overlong: { maxActive: 2, maxLength: 400, maxPrompt: 250, maxTokens: 100 },
};
for (const [name, o] of Object.entries(models)) writeModel(repo.dir, name, gpt.bytes, { config: tinyGptConfig(name, o) });
const running = await startGrpcServer({ modelRepositories: [repo.dir] });
const server = running.server;
after(async () => {
  await running.close();
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
    // A byte token's text is its byte; the end token's (a byte in gen_eos) is empty.
    assert.deepEqual([...(text.data as Uint8Array[])[0]], token < 256 && !(final && req.model.startsWith('gen_eos')) ? [token] : []);
    tokens.push(token);
    log.push({ who, token, final });
    onToken?.(tokens.length);
  });
  return { tokens, done };
}

async function alone(model: string, prompt: Uint8Array, maxTokens: number): Promise<number[]> {
  const s = stream([], 'alone', request(model, prompt, { max_tokens: maxTokens }));
  await s.done;
  return s.tokens;
}

test('greedy tokens are the JS reference\'s argmax continuation, streamed one response each, final on the last only', async () => {
  const prompt = [...Buffer.from('Once upon a time')];
  const expected = greedy(prompt, 10);
  const log: Event[] = [];
  const s = stream(log, 'a', request('gen', Uint8Array.from(prompt), { max_tokens: 10 }));
  await s.done;
  assert.deepEqual(s.tokens, expected);
  assert.deepEqual(log.map((e) => e.final), [...Array(9).fill(false), true]);
  // A decoupled model refuses the ordinary infer call (as Triton); a generative model that is not decoupled answers it
  // once with all the tokens, and the text.
  await assert.rejects(server.infer(request('gen', 'x')), (e: unknown) => e instanceof InferenceError && e.code === 'UNIMPLEMENTED');
  const res = await server.infer(request('gen_whole', Uint8Array.from(prompt), { max_tokens: 10 }));
  assert.deepEqual([...(res.outputs[0].data as Int32Array)], expected);
  assert.deepEqual([...(res.outputs[1].data as Uint8Array[])[0]], expected.filter((t) => t < 256));
  // And a streaming call (gRPC ModelStreamInfer, HTTP generate) gets that one answer, final, not a stream of tokens.
  const once: [number, boolean][] = [];
  await server.inferStream(request('gen_whole', Uint8Array.from(prompt), { max_tokens: 10 }), (r, final) => { once.push([r.outputs[0].shape[0], final]); });
  assert.deepEqual(once, [[10, true]]);
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

const first = (log: readonly Event[], who: string) => log.findIndex((e) => e.who === who);
const last = (log: readonly Event[], who: string) => log.findIndex((e) => e.who === who && e.final);

test('a full slab makes new requests wait: the third of three on two slots starts when the first one ends', async () => {
  const log: Event[] = [];
  const a = stream(log, 'a', request('gen_two', 'aaa', { max_tokens: 4 }));
  const b = stream(log, 'b', request('gen_two', 'bbb', { max_tokens: 12 }));
  const c = stream(log, 'c', request('gen_two', 'ccc', { max_tokens: 3 }));
  await Promise.all([a.done, b.done, c.done]);
  assert.ok(first(log, 'c') > last(log, 'a'), `c's first token comes after a's last (log: ${log.map((e) => e.who).join('')})`);
  assert.ok(first(log, 'c') < last(log, 'b'), 'c joins while b still runs (iteration-level)');
  assert.deepEqual([a.tokens.length, b.tokens.length, c.tokens.length], [4, 12, 3]);
});

test('iteration-level: a late request joins the running batch; request-level: it waits for the whole batch', async () => {
  for (const model of ['gen', 'gen_req']) {
    const log: Event[] = [];
    let b: ReturnType<typeof stream> | undefined;
    const a = stream(log, 'a', request(model, 'first', { max_tokens: 10 }), (n) => {
      if (n === 1) b = stream(log, 'b', request(model, 'second', { max_tokens: 2 }));
    });
    await a.done;
    await b!.done;
    if (model === 'gen') assert.ok(last(log, 'b') < last(log, 'a'), 'b ends before a');
    else assert.ok(first(log, 'b') > last(log, 'a'), 'b starts after a ends');
  }
});

test('cancelling a running generation frees its slot at the next step; a full queue answers QUEUE_FULL', async () => {
  const log: Event[] = [];
  const cancel = new CancelSource();
  const a = stream(log, 'a', request('gen_one', 'long one', { max_tokens: 100 }, cancel), (n) => {
    if (n === 3) cancel.abort();
  });
  const b = stream(log, 'b', request('gen_one', 'next', { max_tokens: 3 }));
  // One slot (a), one queue place (b): a third is refused.
  await assert.rejects(server.inferStream(request('gen_one', 'third', { max_tokens: 1 }), () => {}),
    (e: unknown) => e instanceof InferenceError && e.code === 'QUEUE_FULL' && /generation_max_queue/.test(e.message));
  await assert.rejects(a.done, (e: unknown) => e instanceof InferenceError && e.code === 'CANCELLED');
  await b.done;
  assert.equal(a.tokens.length, 3, 'no token after the abort');
  assert.deepEqual(b.tokens, await alone('gen_one', new TextEncoder().encode('next'), 3));
  // A request cancelled while it waits never runs.
  const c2 = new CancelSource();
  const busy = stream(log, 'x', request('gen_one', 'busy', { max_tokens: 5 }));
  const queued = stream(log, 'y', request('gen_one', 'queued', { max_tokens: 5 }, c2));
  c2.abort();
  await assert.rejects(queued.done, (e: unknown) => e instanceof InferenceError && e.code === 'CANCELLED');
  await busy.done;
  assert.equal(queued.tokens.length, 0);
});

test('the end token ends a sequence (final on it) unless ignore_eos; max_tokens bounds the rest', async () => {
  const log: Event[] = [];
  const s = stream(log, 'e', request('gen_eos_stream', 'Hello', { max_tokens: 8 }));
  await s.done;
  assert.deepEqual(s.tokens, HELLO.slice(0, EOS_AT + 1));
  assert.equal(log.at(-1)!.final, true);
  const res = await server.infer(request('gen_eos', 'Hello', { max_tokens: 8, ignore_eos: true }));
  assert.deepEqual([...(res.outputs[0].data as Int32Array)], HELLO);
  // The whole-text answer leaves the end token out of text_output.
  const ended = await server.infer(request('gen_eos', 'Hello', { max_tokens: 8 }));
  assert.deepEqual([...(ended.outputs[1].data as Uint8Array[])[0]], HELLO.slice(0, EOS_AT));
});

test('temperature sampling is reproducible with its seed', async () => {
  const run = async (seed: number) => alone2({ max_tokens: 12, temperature: 1.5, seed });
  const alone2 = async (p: Parameters) => [...((await server.infer(request('gen_whole', 'seeded', p))).outputs[0].data as Int32Array)];
  assert.deepEqual(await run(7), await run(7));
  const greedyTokens = await alone2({ max_tokens: 12 });
  const sampled = await Promise.all([1, 2, 3].map(run));
  assert.ok(sampled.some((t) => t.join() !== greedyTokens.join()), 'sampling differs from greedy');
});

test('bad generation requests are refused with INVALID_ARGUMENT saying which limit', async () => {
  const cases: [InferenceRequest, RegExp][] = [
    [request('gen', ''), /prompt \(text_input\) is empty/],
    [request('gen', 'x'.repeat(129)), /prompt is 129 bytes; at most 128 \(generation_max_prompt\)/],
    [request('gen', 'hi', { max_tokens: 129 }), /max_tokens must be an integer from 1 to 128 \(generation_max_tokens\); got 129/],
    [request('gen', 'hi', { max_tokens: 0 }), /max_tokens must be an integer from 1 to 128/],
    [request('gen', 'hi', { max_tokens: 2.5 }), /max_tokens must be an integer/],
    [request('gen', 'hi', { max_tokens: 'ten' }), /parameter max_tokens must be a number/],
    [request('gen', 'hi', { temperature: -1 }), /temperature must be >= 0/],
    [request('gen', 'hi', { top_k: 3 }), /unknown parameter 'top_k'/],
    [{ model: 'gen', inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [2], data: [new Uint8Array(1), new Uint8Array(1)] }] }, /text_input/],
  ];
  for (const [req, msg] of cases) {
    for (const call of [() => server.infer({ ...req, model: 'gen_whole' }), () => server.inferStream(req, () => assert.fail('no response'))]) {
      await assert.rejects(call(), (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT' && msg.test(e.message), String(msg));
    }
  }
});

test('over HTTP the infer call answers with the whole generation; a bad request gets a 400 saying why', async () => {
  const ok = await postJson(running.base, '/v2/models/gen_whole/infer', {
    parameters: { max_tokens: 6 }, inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: ['Hello'] }],
  });
  assert.equal(ok.status, 200);
  const ids = ok.json.outputs.find((o: { name: string }) => o.name === 'token_id');
  assert.deepEqual(ids.shape, [6]);
  assert.deepEqual(ids.data, greedy([...Buffer.from('Hello')], 6));
  const bad = await postJson(running.base, '/v2/models/gen_whole/infer', {
    parameters: { max_tokens: 500 }, inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: ['Hello'] }],
  });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /max_tokens must be an integer from 1 to 128/);
});

test('over gRPC ModelStreamInfer one response per token, triton_final_response on the last; over HTTP generate_stream one event each', async () => {
  const expected = greedy([...Buffer.from('Hello')], 5);
  const c = grpcClient(running.target);
  try {
    const { responses, status } = await c.stream([{
      model_name: 'gen', id: 'g1',
      inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('Hello')] } }],
      parameters: { max_tokens: { int64_param: 5 } },
    }]);
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(responses.map((r) => r.error_message), Array(5).fill(''));
    assert.deepEqual(responses.map((r) => Buffer.from(r.infer_response.raw_output_contents[0]).readInt32LE(0)), expected);
    assert.deepEqual(responses.map((r) => r.infer_response.parameters.triton_final_response.bool_param), [false, false, false, false, true]);
    // Asking for the empty final response adds none: the last token already carried the final flag (as Triton).
    const asked = await c.stream([{
      model_name: 'gen', id: 'g3',
      inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('Hello')] } }],
      parameters: { max_tokens: { int64_param: 5 }, triton_enable_empty_final_response: { bool_param: true } },
    }]);
    assert.deepEqual(asked.responses.map((r) => r.infer_response.parameters.triton_final_response.bool_param), [false, false, false, false, true]);
    const bad = await c.stream([{
      model_name: 'gen', id: 'g2',
      inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('')] } }],
    }]);
    assert.equal(bad.responses.length, 1);
    assert.match(bad.responses[0].error_message, /the prompt \(text_input\) is empty/);
  } finally {
    c.close();
  }
  const res = await fetch(`${running.base}/v2/models/gen/generate_stream`, { method: 'POST', body: JSON.stringify({ text_input: 'Hello', max_tokens: 5 }) });
  assert.equal(res.status, 200);
  const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
  assert.deepEqual(events.map((e) => e.token_id), expected);
});

test('a step the backend fails fails every request of that step, frees their slots, and the next requests run', async () => {
  const log: Event[] = [];
  // 250 prompt bytes (positions 0–249): the prefill gives token 1, decode steps at positions 250–255 tokens 2–7, and
  // the step at position 256 is past tiny_gpt's position table. The short one shares that step.
  const long = stream(log, 'long', request('gen_overlong', 'x'.repeat(250), { max_tokens: 20 }));
  let short: ReturnType<typeof stream> | undefined;
  const first = stream(log, 'first', request('gen_overlong', 'abc', { max_tokens: 1 }), () => {
    short = stream(log, 'short', request('gen_overlong', 'hello', { max_tokens: 50 }));
  });
  await first.done;
  await assert.rejects(long.done, (e: unknown) => e instanceof InferenceError && e.code !== 'CANCELLED');
  await assert.rejects(short!.done, (e: unknown) => e instanceof InferenceError);
  assert.equal(long.tokens.length, 7, 'tokens up to the failing step went out');
  // Both slots are free again: two requests run to the end.
  assert.deepEqual(await Promise.all([alone('gen_overlong', new TextEncoder().encode('one'), 3), alone('gen_overlong', new TextEncoder().encode('two'), 3)]).then((r) => r.map((t) => t.length)), [3, 3]);
});
