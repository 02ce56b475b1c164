import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensembleLoadRounds, stepModelNames } from '../../src/pipeline/index.js';

test('ensembles load after the ensembles they use; plain models need no round', () => {
  assert.deepEqual(ensembleLoadRounds([
    { name: 'outer', uses: ['inner', 'det'] },
    { name: 'inner', uses: ['pre', 'net'] },
    { name: 'side', uses: ['net'] },
    { name: 'top', uses: ['outer', 'side'] },
  ]), [['inner', 'side'], ['outer'], ['top']]);
  assert.deepEqual(ensembleLoadRounds([]), []);
});

test('ensembles on a cycle, and those waiting for them, go in a last round', () => {
  assert.deepEqual(ensembleLoadRounds([
    { name: 'a', uses: ['b'] },
    { name: 'b', uses: ['a'] },
    { name: 'c', uses: ['a'] },
    { name: 'd', uses: ['x'] },
    { name: 'self', uses: ['self'] },
  ]), [['d'], ['a', 'b', 'c', 'self']]);
});

test('step model names from config text, comments ignored', () => {
  const text = `# model_name: "commented"
ensemble_scheduling { step [
  { model_name: "pre" model_version: -1 input_map { key: "a" value: "b" } },
  { model_name:"net" }, { model_name: "pre" }  # model_name: "nope"
] }`;
  assert.deepEqual(stepModelNames(text), ['pre', 'net']);
});
