import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planEnsemble, EnsembleConfigError } from '../../src/pipeline/index.js';
import type { EnsembleStep, ModelConfig } from '../../src/core/index.js';
import { modelConfig, tensorConfig as tc } from './helpers.js';

// pre: raw BYTES [1] → feats FP32 [4];  net: x FP32 [4] → y FP32 [2];  post: y FP32 [2] → label BYTES [1]
const models = new Map<string, ModelConfig>([
  ['pre', modelConfig({ name: 'pre', max_batch_size: 8, input: [tc('raw', 'TYPE_STRING', [1])], output: [tc('feats', 'TYPE_FP32', [4])] })],
  ['net', modelConfig({ name: 'net', backend: 'onnxruntime', max_batch_size: 8, input: [tc('x', 'TYPE_FP32', [4])], output: [tc('y', 'TYPE_FP32', [2]), tc('aux', 'TYPE_FP32', [2])] })],
  ['post', modelConfig({ name: 'post', max_batch_size: 8, input: [tc('y', 'TYPE_FP32', [2])], output: [tc('label', 'TYPE_STRING', [1])] })],
  ['net_fp64', modelConfig({ name: 'net_fp64', max_batch_size: 8, input: [tc('x', 'TYPE_FP64', [4])], output: [tc('y', 'TYPE_FP32', [2])] })],
  ['net_wide', modelConfig({ name: 'net_wide', max_batch_size: 8, input: [tc('x', 'TYPE_FP32', [5])], output: [tc('y', 'TYPE_FP32', [2])] })],
  ['net_unbatched', modelConfig({ name: 'net_unbatched', max_batch_size: 0, input: [tc('x', 'TYPE_FP32', [4])], output: [tc('y', 'TYPE_FP32', [2])] })],
  ['net_decoupled', modelConfig({ name: 'net_decoupled', max_batch_size: 8, input: [tc('x', 'TYPE_FP32', [4])], output: [tc('y', 'TYPE_FP32', [2])], model_transaction_policy: { decoupled: true } })],
  ['small', modelConfig({ name: 'small', max_batch_size: 2, input: [tc('x', 'TYPE_FP32', [4])], output: [tc('y', 'TYPE_FP32', [2])] })],
]);
const lookup = (name: string, version: number) => (version === -1 || version === 1 ? models.get(name) : undefined) ?? 'is not in the repository';

const step = (model_name: string, input_map: Record<string, string>, output_map: Record<string, string>, model_version = -1): EnsembleStep =>
  ({ model_name, model_version, input_map, output_map });

const goodSteps = (): EnsembleStep[] => [
  step('pre', { raw: 'image' }, { feats: 'f' }),
  step('net', { x: 'f' }, { y: 'logits' }),
  step('post', { y: 'logits' }, { label: 'label' }),
];

function ensemble(steps: EnsembleStep[], extra: Partial<ModelConfig> = {}): ModelConfig {
  return modelConfig({
    name: 'pipe',
    platform: 'ensemble',
    backend: '',
    max_batch_size: 8,
    input: [tc('image', 'TYPE_STRING', [1])],
    output: [tc('label', 'TYPE_STRING', [1])],
    ensemble_scheduling: { step: steps },
    ...extra,
  });
}

test('a valid chain plans in order, with producers and consumers', () => {
  const steps = goodSteps();
  const plan = planEnsemble(ensemble([steps[2], steps[0], steps[1]]), lookup);
  assert.deepEqual(plan.steps.map((s) => s.model), ['pre', 'net', 'post']);
  assert.equal(plan.producer.get('logits')?.model, 'net');
  assert.deepEqual(plan.consumers.get('image')?.map((s) => s.model), ['pre']);
  assert.equal(plan.steps[0].label, 'step 2 (pre)');
  assert.equal(plan.steps[1].version, undefined);
  assert.equal(planEnsemble(ensemble([goodSteps()[0], step('net', { x: 'f' }, { y: 'logits' }, 1), goodSteps()[2]]), lookup).steps[1].version, '1');
});

test('errors name the step and say what is wrong', () => {
  const cases: [string, EnsembleStep[], Partial<ModelConfig>, RegExp][] = [
    ['unknown model', [goodSteps()[0], step('nope', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(nope\): model 'nope' is not in the repository/],
    ['unknown version', [goodSteps()[0], step('net', { x: 'f' }, { y: 'logits' }, 7), goodSteps()[2]], {}, /step 2 \(net\): model 'net' version 7 is not in the repository/],
    ['datatype mismatch', [goodSteps()[0], step('net_fp64', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net_fp64\): input 'x' is FP64 but 'f' \(step 1 \(pre\) output 'feats'\) is FP32/],
    ['shape mismatch', [goodSteps()[0], step('net_wide', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net_wide\): input 'x' has shape \[-1, 5\] but 'f' .* has \[-1, 4\]/],
    ['batch rank mismatch', [goodSteps()[0], step('net_unbatched', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net_unbatched\): input 'x' has shape \[4\] but 'f' .* has \[-1, 4\]/],
    ['decoupled step', [goodSteps()[0], step('net_decoupled', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net_decoupled\): 'net_decoupled' is decoupled \(model_transaction_policy\): an ensemble step must answer exactly once/],
    ['batch too small', [goodSteps()[0], step('small', { x: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(small\): max_batch_size 2 is below the ensemble's 8/],
    ['input never produced', [goodSteps()[0], step('net', { x: 'g' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net\): input 'x' reads 'g', which no step writes and is not an ensemble input/],
    ['not a model input', [goodSteps()[0], step('net', { x: 'f', z: 'f' }, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net\): input_map names 'z', which is not an input of 'net'/],
    ['required input unmapped', [goodSteps()[0], step('net', {}, { y: 'logits' }), goodSteps()[2]], {}, /step 2 \(net\): required input 'x' of 'net' is not in input_map/],
    ['not a model output', [goodSteps()[0], step('net', { x: 'f' }, { q: 'logits' }), goodSteps()[2]], {}, /step 2 \(net\): output_map names 'q', which is not an output of 'net'/],
    ['written twice', [goodSteps()[0], step('net', { x: 'f' }, { y: 'logits', aux: 'f' }), goodSteps()[2]], {}, /step 2 \(net\): output 'aux' writes 'f', which step 1 \(pre\) also writes/],
    ['overwrites an input', [goodSteps()[0], step('net', { x: 'f' }, { y: 'logits', aux: 'image' }), goodSteps()[2]], {}, /step 2 \(net\): output 'aux' writes 'image', which is an ensemble input/],
    ['unused output', [goodSteps()[0], step('net', { x: 'f' }, { y: 'logits', aux: 'spare' }), goodSteps()[2]], {}, /step 2 \(net\): output 'aux' → 'spare' is read by no step and is not an ensemble output/],
    ['ensemble input unused', goodSteps(), { input: [tc('image', 'TYPE_STRING', [1]), tc('extra', 'TYPE_FP32', [1])] }, /ensemble input 'extra' is read by no step/],
    ['ensemble output not produced', goodSteps(), { output: [tc('label', 'TYPE_STRING', [1]), tc('score', 'TYPE_FP32', [1])] }, /ensemble output 'score' is written by no step/],
    ['ensemble output type', goodSteps(), { output: [tc('label', 'TYPE_FP32', [1])] }, /ensemble output 'label' is FP32 \[-1, 1\] but step 3 \(post\) output 'label' gives BYTES \[-1, 1\]/],
    ['no steps', [], {}, /ensemble_scheduling has no steps/],
    ['runs itself', [step('pipe', { image: 'image' }, { label: 'label' })], {}, /step 1 \(pipe\) runs the ensemble itself/],
  ];
  for (const [what, steps, extra, re] of cases) {
    assert.throws(() => planEnsemble(ensemble(steps, extra), lookup), (e: unknown) => {
      assert.ok(e instanceof EnsembleConfigError, what);
      assert.match(e.message, /^ensemble 'pipe': /, what);
      assert.match(e.message, re, what);
      return true;
    });
  }
});

test('a cycle is named by the steps on it, not the steps waiting for it', () => {
  // a: (image, back) → mid;  b: mid → back, out;  c: out → label.  a and b wait for each other.
  const m = new Map(models);
  m.set('a', modelConfig({ name: 'a', max_batch_size: 8, input: [tc('raw', 'TYPE_STRING', [1]), tc('loop', 'TYPE_FP32', [4])], output: [tc('feats', 'TYPE_FP32', [4])] }));
  m.set('b', modelConfig({ name: 'b', max_batch_size: 8, input: [tc('x', 'TYPE_FP32', [4])], output: [tc('y', 'TYPE_FP32', [2]), tc('loop', 'TYPE_FP32', [4])] }));
  const steps = [
    step('a', { raw: 'image', loop: 'back' }, { feats: 'mid' }),
    step('b', { x: 'mid' }, { y: 'logits', loop: 'back' }),
    step('post', { y: 'logits' }, { label: 'label' }),
  ];
  assert.throws(() => planEnsemble(ensemble(steps), (n) => m.get(n) ?? 'is not in the repository'), /step 1 \(a\), step 2 \(b\) form a cycle/);
  assert.throws(() => planEnsemble(ensemble(steps), (n) => m.get(n) ?? 'is not in the repository'), (e: Error) => !e.message.includes('step 3'));
});

test('a diamond (two branches joining) plans with the join last', () => {
  const m = new Map(models);
  m.set('join', modelConfig({ name: 'join', max_batch_size: 8, input: [tc('p', 'TYPE_FP32', [2]), tc('q', 'TYPE_FP32', [2])], output: [tc('label', 'TYPE_STRING', [1])] }));
  const steps = [
    step('join', { p: 'y1', q: 'y2' }, { label: 'label' }),
    step('net', { x: 'f' }, { y: 'y1' }),
    step('pre', { raw: 'image' }, { feats: 'f' }),
    step('net', { x: 'f' }, { y: 'y2' }),
  ];
  const plan = planEnsemble(ensemble(steps), (n) => m.get(n) ?? 'is not in the repository');
  const order = plan.steps.map((s) => s.label);
  assert.equal(order[0], 'step 3 (pre)');
  assert.equal(order[3], 'step 1 (join)');
  assert.deepEqual(order.slice(1, 3).sort(), ['step 2 (net)', 'step 4 (net)']);
  assert.deepEqual(plan.consumers.get('f')?.map((s) => s.index), [1, 3]);
});
