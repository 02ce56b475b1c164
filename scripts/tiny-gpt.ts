/**
 * A small GPT-style decoder written with the project's ONNX writer: the step model behind the example `tiny_gpt`
 * (docs/generation.md). **It is not a pretrained language model** (none can be fetched here): its weights are seeded
 * pseudo-random numbers, so it "writes" deterministic byte soup. It has the shape of the real thing — byte-level
 * vocabulary (256 bytes + EOS), learned token and position embeddings, pre-LayerNorm blocks of multi-head causal
 * self-attention and a ReLU MLP, a key/value cache in and out — so a scheduler serving it does the work a real one does.
 *
 * One run = one step for a batch of B rows of T new tokens each (prefill: T = the prompt, padded; decode: T = 1):
 *   input_ids        INT64 [B, T]
 *   position_ids     INT64 [B, T]
 *   attention_mask   FP32  [B, T, P + T]   additive: 0 = may attend, -1e9 = may not (keys: P past, then the T new)
 *   past_key_values  FP32  [B, L, 2, H, P, Dh]   (2: key, value)
 * → logits           FP32  [B, T, V]
 *   present_key_values FP32 [B, L, 2, H, T, Dh]  (the T new positions' keys and values only; the caller keeps them)
 * `reference` computes the same in plain JS (float64), for the test that checks the ONNX graph.
 */
import { ONNX, f32Raw, writeOnnxModel, type OnnxNodeSpec, type OnnxTensorValue } from '../src/onnx-proto/index.js';
import { seededRandom } from '../src/core/index.js';

export interface TinyGptShape {
  readonly vocab: number;
  readonly dModel: number;
  readonly heads: number;
  readonly layers: number;
  readonly ffn: number;
  /** Rows of the position table: the longest sequence (prompt + generated) the model can hold. */
  readonly maxPositions: number;
}

/** The example's shape: ~430k weights (1.7 MB); a 32-row decode step over 100–200 past positions takes 0.75–1.5 ms on one core here. */
export const TINY_GPT: TinyGptShape = { vocab: 257, dModel: 128, heads: 4, layers: 2, ffn: 384, maxPositions: 256 };
/** The end-of-sequence token: the one past the 256 bytes. */
export const TINY_GPT_EOS = 256;
const SEED = 18;

interface LayerWeights {
  ln1g: Float32Array; ln1b: Float32Array; wqkv: Float32Array; bqkv: Float32Array; wo: Float32Array; bo: Float32Array;
  ln2g: Float32Array; ln2b: Float32Array; w1: Float32Array; b1: Float32Array; w2: Float32Array; b2: Float32Array;
}

export interface TinyGptWeights {
  tok: Float32Array; pos: Float32Array; layers: LayerWeights[]; lnfg: Float32Array; lnfb: Float32Array; wout: Float32Array; bout: Float32Array;
}

function tinyGptWeights(s: TinyGptShape, seed: number): TinyGptWeights {
  const next = seededRandom(seed);
  const uniform = (n: number, scale: number, offset = 0) => Float32Array.from({ length: n }, () => offset + (next() * 2 - 1) * scale);
  const d = s.dModel;
  // Scales keep activations near unit size (≈ 1/√fan-in), so the softmax and the logits are neither flat nor one-hot.
  return {
    tok: uniform(s.vocab * d, 1),
    pos: uniform(s.maxPositions * d, 0.5),
    layers: Array.from({ length: s.layers }, () => ({
      ln1g: uniform(d, 0.1, 1), ln1b: uniform(d, 0.1),
      wqkv: uniform(d * 3 * d, 2 / Math.sqrt(d)), bqkv: uniform(3 * d, 0.1),
      wo: uniform(d * d, 1 / Math.sqrt(d)), bo: uniform(d, 0.1),
      ln2g: uniform(d, 0.1, 1), ln2b: uniform(d, 0.1),
      w1: uniform(d * s.ffn, 1 / Math.sqrt(d)), b1: uniform(s.ffn, 0.1),
      w2: uniform(s.ffn * d, 1 / Math.sqrt(s.ffn)), b2: uniform(d, 0.1),
    })),
    lnfg: uniform(d, 0.1, 1), lnfb: uniform(d, 0.1),
    wout: uniform(d * s.vocab, 3 / Math.sqrt(d)), bout: uniform(s.vocab, 0.5),
  };
}

const i64 = (values: readonly number[]): Uint8Array => new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);

/** The ONNX bytes and the JS reference of the tiny decoder (deterministic: the same bytes every call). */
export function tinyGptModel(shape: TinyGptShape = TINY_GPT, seed = SEED) {
  const w = tinyGptWeights(shape, seed);
  const { vocab: V, dModel: d, heads: H, layers: L, ffn: F, maxPositions } = shape;
  const Dh = d / H;
  const inits: OnnxTensorValue[] = [];
  const f32 = (name: string, dims: number[], data: Float32Array) => inits.push({ name, elemType: ONNX.FLOAT, dims, raw: f32Raw(data) });
  const int64 = (name: string, dims: number[], data: number[]) => inits.push({ name, elemType: ONNX.INT64, dims, raw: i64(data) });
  f32('tok_emb', [V, d], w.tok);
  f32('pos_emb', [maxPositions, d], w.pos);
  f32('scale', [], Float32Array.of(1 / Math.sqrt(Dh)));
  int64('i0', [], [0]);
  int64('i1', [], [1]);
  int64('ax1', [1], [1]);
  int64('heads_shape', [4], [0, 0, H, Dh]);
  int64('model_shape', [3], [0, 0, d]);
  int64('qkv_split', [3], [d, d, d]);
  for (let l = 0; l < L; l++) int64(`layer${l}`, [], [l]);

  const nodes: OnnxNodeSpec[] = [];
  const op = (op: string, inputs: string[], out: string, attrs?: OnnxNodeSpec['attrs']) => {
    nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  };
  const ln = (x: string, g: string, b: string, out: string) => op('LayerNormalization', [x, g, b], out, { axis: { i: -1 }, epsilon: { f: 1e-5 } });
  const linear = (x: string, wName: string, bName: string, out: string) => op('Add', [op('MatMul', [x, wName], `${out}_mm`), bName], out);

  let x = op('Add', [op('Gather', ['tok_emb', 'input_ids'], 'tok'), op('Gather', ['pos_emb', 'position_ids'], 'pos')], 'x0');
  const mask = op('Unsqueeze', ['attention_mask', 'ax1'], 'mask4');
  const presents: string[] = [];
  w.layers.forEach((lw, l) => {
    const p = `l${l}_`;
    f32(`${p}ln1g`, [d], lw.ln1g); f32(`${p}ln1b`, [d], lw.ln1b);
    f32(`${p}wqkv`, [d, 3 * d], lw.wqkv); f32(`${p}bqkv`, [3 * d], lw.bqkv);
    f32(`${p}wo`, [d, d], lw.wo); f32(`${p}bo`, [d], lw.bo);
    f32(`${p}ln2g`, [d], lw.ln2g); f32(`${p}ln2b`, [d], lw.ln2b);
    f32(`${p}w1`, [d, F], lw.w1); f32(`${p}b1`, [F], lw.b1);
    f32(`${p}w2`, [F, d], lw.w2); f32(`${p}b2`, [d], lw.b2);
    const past = op('Gather', ['past_key_values', `layer${l}`], `${p}past`, { axis: { i: 1 } }); // [B, 2, H, P, Dh]
    const pastK = op('Gather', [past, 'i0'], `${p}past_k`, { axis: { i: 1 } });
    const pastV = op('Gather', [past, 'i1'], `${p}past_v`, { axis: { i: 1 } });
    const h = ln(x, `${p}ln1g`, `${p}ln1b`, `${p}h`);
    const qkv = linear(h, `${p}wqkv`, `${p}bqkv`, `${p}qkv`);
    nodes.push({ op: 'Split', inputs: [qkv, 'qkv_split'], outputs: [`${p}q`, `${p}k`, `${p}v`], attrs: { axis: { i: 2 } } });
    const toHeads = (t: string) => op('Transpose', [op('Reshape', [t, 'heads_shape'], `${t}_r`)], `${t}_h`, { perm: { ints: [0, 2, 1, 3] } });
    const q = toHeads(`${p}q`);
    const k = toHeads(`${p}k`);
    const v = toHeads(`${p}v`);
    const keys = op('Concat', [pastK, k], `${p}keys`, { axis: { i: 2 } }); // [B, H, P + T, Dh]
    const values = op('Concat', [pastV, v], `${p}values`, { axis: { i: 2 } });
    const kt = op('Transpose', [keys], `${p}keys_t`, { perm: { ints: [0, 1, 3, 2] } });
    const scores = op('Add', [op('Mul', [op('MatMul', [q, kt], `${p}qk`), 'scale'], `${p}qk_s`), mask], `${p}scores`);
    const attn = op('Softmax', [scores], `${p}attn`, { axis: { i: -1 } });
    const ctx = op('MatMul', [attn, values], `${p}ctx`); // [B, H, T, Dh]
    const merged = op('Reshape', [op('Transpose', [ctx], `${p}ctx_t`, { perm: { ints: [0, 2, 1, 3] } }), 'model_shape'], `${p}ctx_m`);
    x = op('Add', [x, linear(merged, `${p}wo`, `${p}bo`, `${p}attn_out`)], `${p}x1`);
    const h2 = ln(x, `${p}ln2g`, `${p}ln2b`, `${p}h2`);
    const ff = linear(op('Relu', [linear(h2, `${p}w1`, `${p}b1`, `${p}ff1`)], `${p}ff1_r`), `${p}w2`, `${p}b2`, `${p}ff2`);
    x = op('Add', [x, ff], `${p}x2`);
    const kv = op('Concat', [op('Unsqueeze', [k, 'ax1'], `${p}k_u`), op('Unsqueeze', [v, 'ax1'], `${p}v_u`)], `${p}kv`, { axis: { i: 1 } });
    presents.push(op('Unsqueeze', [kv, 'ax1'], `${p}kv_u`));
  });
  f32('lnfg', [d], w.lnfg); f32('lnfb', [d], w.lnfb);
  f32('wout', [d, V], w.wout); f32('bout', [V], w.bout);
  const xf = ln(x, 'lnfg', 'lnfb', 'xf');
  nodes.push({ op: 'Add', inputs: [op('MatMul', [xf, 'wout'], 'logits_mm'), 'bout'], outputs: ['logits'] });
  nodes.push(presents.length === 1
    ? { op: 'Identity', inputs: presents, outputs: ['present_key_values'] }
    : { op: 'Concat', inputs: presents, outputs: ['present_key_values'], attrs: { axis: { i: 1 } } });

  const bytes = writeOnnxModel({
    name: 'tiny_gpt',
    nodes,
    inputs: [
      { name: 'input_ids', elemType: ONNX.INT64, dims: ['batch', 'tokens'] },
      { name: 'position_ids', elemType: ONNX.INT64, dims: ['batch', 'tokens'] },
      { name: 'attention_mask', elemType: ONNX.FLOAT, dims: ['batch', 'tokens', 'keys'] },
      { name: 'past_key_values', elemType: ONNX.FLOAT, dims: ['batch', L, 2, H, 'past', Dh] },
    ],
    outputs: [
      { name: 'logits', elemType: ONNX.FLOAT, dims: ['batch', 'tokens', V] },
      { name: 'present_key_values', elemType: ONNX.FLOAT, dims: ['batch', L, 2, H, 'tokens', Dh] },
    ],
    initializers: inits,
  });
  return { bytes, shape, reference: (tokens: readonly number[]) => referenceLogits(shape, w, tokens) };
}

/**
 * Plain-JS forward pass of one sequence over all its tokens at once (causal attention, no cache): the logits at every
 * position, [tokens.length × V]. A step-wise run through the ONNX model (prefill + decode with the cache) must give
 * the same numbers at each position.
 */
function referenceLogits(s: TinyGptShape, w: TinyGptWeights, tokens: readonly number[]): Float64Array[] {
  const { dModel: d, heads: H, ffn: F, vocab: V } = s;
  const Dh = d / H;
  const n = tokens.length;
  const layerNorm = (x: Float64Array, g: Float32Array, b: Float32Array) => {
    let mean = 0;
    for (const v of x) mean += v;
    mean /= d;
    let vr = 0;
    for (const v of x) vr += (v - mean) ** 2;
    const inv = 1 / Math.sqrt(vr / d + 1e-5);
    return Float64Array.from(x, (v, i) => (v - mean) * inv * g[i] + b[i]);
  };
  const matVec = (x: Float64Array, m: Float32Array, bias: Float32Array, cols: number) => {
    const y = Float64Array.from(bias);
    for (let i = 0; i < x.length; i++) for (let j = 0; j < cols; j++) y[j] += x[i] * m[i * cols + j];
    return y;
  };
  let xs = tokens.map((t, p) => Float64Array.from({ length: d }, (_, i) => w.tok[t * d + i] + w.pos[p * d + i]));
  for (const lw of w.layers) {
    const qkv = xs.map((x) => matVec(layerNorm(x, lw.ln1g, lw.ln1b), lw.wqkv, lw.bqkv, 3 * d));
    xs = xs.map((x, t) => {
      const ctx = new Float64Array(d);
      for (let h = 0; h < H; h++) {
        const scores = Array.from({ length: t + 1 }, (_, j) => {
          let dot = 0;
          for (let i = 0; i < Dh; i++) dot += qkv[t][h * Dh + i] * qkv[j][d + h * Dh + i];
          return dot / Math.sqrt(Dh);
        });
        const max = Math.max(...scores);
        const e = scores.map((v) => Math.exp(v - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= t; j++) for (let i = 0; i < Dh; i++) ctx[h * Dh + i] += (e[j] / sum) * qkv[j][2 * d + h * Dh + i];
      }
      const x1 = Float64Array.from(matVec(ctx, lw.wo, lw.bo, d), (v, i) => v + x[i]);
      const hidden = matVec(layerNorm(x1, lw.ln2g, lw.ln2b), lw.w1, lw.b1, F).map((v) => Math.max(0, v));
      return Float64Array.from(matVec(hidden, lw.w2, lw.b2, d), (v, i) => v + x1[i]);
    });
  }
  return xs.map((x) => matVec(layerNorm(x, w.lnfg, w.lnfb), w.wout, w.bout, V));
}

export interface TinyGptConfigOptions {
  readonly batching?: 'iteration' | 'request';
  readonly maxActive?: number;
  readonly instances?: number;
  readonly eosToken?: number;
  readonly maxQueue?: number;
  readonly maxLength?: number;
  readonly maxPrompt?: number;
  readonly maxTokens?: number;
  /** Default true: one response per token (gRPC ModelStreamInfer, HTTP generate_stream); false: infer answers once. */
  readonly decoupled?: boolean;
}

/** The example's config (written by scripts/make-examples.ts; tests and the benchmark vary it). */
export function tinyGptConfig(name: string, o: TinyGptConfigOptions = {}): string {
  return `# Written by scripts/make-examples.ts. A synthetic GPT-style decoder (seeded weights, NOT a trained language model)
# served by the iteration-level generation scheduler: docs/generation.md.
name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]
output [
  { name: "token_id" data_type: TYPE_INT32 dims: [ -1 ] },
  { name: "text_output" data_type: TYPE_STRING dims: [ 1 ] }
]
instance_group [ { count: ${o.instances ?? 1} kind: KIND_CPU } ]
model_transaction_policy { decoupled: ${o.decoupled ?? true} }
parameters [
  { key: "generation" value { string_value: "${o.batching ?? 'iteration'}" } },
  { key: "generation_max_active" value { string_value: "${o.maxActive ?? 32}" } },
  { key: "generation_max_length" value { string_value: "${o.maxLength ?? TINY_GPT.maxPositions}" } },
  { key: "generation_max_prompt" value { string_value: "${o.maxPrompt ?? 128}" } },
  { key: "generation_max_tokens" value { string_value: "${o.maxTokens ?? 128}" } },
  { key: "generation_eos_token" value { string_value: "${o.eosToken ?? TINY_GPT_EOS}" } }${o.maxQueue === undefined ? '' : `,
  { key: "generation_max_queue" value { string_value: "${o.maxQueue}" } }`}
]
`;
}
