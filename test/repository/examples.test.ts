import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const tmp = mkdtempSync(join(tmpdir(), 'examples-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const committed = join(import.meta.dirname, '..', '..', 'examples', 'model_repository');

test('the committed example models are what scripts/make-examples.ts generates (deterministic, up to date)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('scripts', 'make-examples.ts'), tmp], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['mlp/1/model.onnx', 'multi_io/1/model.onnx', 'multi_io/config.pbtxt', 'silero_vad/1/model.onnx', 'silero_vad/config.pbtxt',
    'tiny_gpt/1/model.onnx', 'tiny_gpt/config.pbtxt']) {
    assert.ok(readFileSync(join(tmp, f)).equals(readFileSync(join(committed, f))), `${f} differs: run npm run examples`);
  }
  // The README's generated block (sample answers computed by onnxruntime) matches too.
  const block = (s: string) => s.slice(s.indexOf('<!-- generated'), s.lastIndexOf('<!-- generated'));
  assert.equal(block(readFileSync(join(tmp, 'README.md'), 'utf8')), block(readFileSync(join(committed, 'README.md'), 'utf8')));
});
